"""`python -m drb_localcluster build|up|down` (and the internal `kubelet-sim` and `flux-controller` sidecars)."""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

from .argocd import ArgoCDError, start_argocd
from .cluster import BUILD_SCRIPT, LocalCluster, LocalClusterError, find_bin_dir

BUILD_HELP = (
    f"build (or reuse) the control-plane binaries with {BUILD_SCRIPT.name}; prints their directory. Needs Go 1.26 or "
    "newer and the Go module proxy; the first build takes about 11 minutes on 2 cores and 5 GB of disk (Go caches), "
    "later runs reuse ~/.cache/dr-bootstrap/control-plane"
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m drb_localcluster",
                                     description="The local Kubernetes control plane `dr-bootstrap drill --cluster local` runs.")
    sub = parser.add_subparsers(dest="command", required=True)
    build = sub.add_parser("build", help=BUILD_HELP, description=BUILD_HELP)
    build.add_argument("--print-bin-dir", action="store_true", help="only print the directory, build nothing")
    up = sub.add_parser("up", help="start a cluster in DIR; prints the kubeconfig path")
    up.add_argument("--dir", type=Path, required=True)
    up.add_argument("--nodes", type=int, default=1)
    up.add_argument("--timeout", type=float, default=90.0)
    up.add_argument("--bin-dir", type=Path, help="default: the build's cache dir (see `build`)")
    up.add_argument("--flux", action="store_true", help="also run the Flux controllers built by data/flux.sh (make flux)")
    up.add_argument("--argocd", action="store_true",
                    help="also run redis and Argo CD's repo-server and application-controller built by data/argocd.sh (make argocd)")
    down = sub.add_parser("down", help="stop the cluster in DIR and remove its state")
    down.add_argument("--dir", type=Path, required=True)
    sim = sub.add_parser("kubelet-sim", help="(internal) the simulated kubelet checks, run by `up`")
    sim.add_argument("--kubeconfig", required=True)
    fc = sub.add_parser("flux-controller", help="(internal) run a Flux controller once its CRDs exist, run by `up --flux`")
    fc.add_argument("--name", required=True)
    fc.add_argument("--kubeconfig", required=True)
    fc.add_argument("--crds", required=True, help="comma-separated CRD names to wait for")
    fc.add_argument("argv", nargs="+", help="the controller's command line (after --)")
    args = parser.parse_args(argv)

    try:
        if args.command == "build":
            if args.print_bin_dir:
                from .cluster import bin_dir_path

                print(bin_dir_path())
            else:
                print(find_bin_dir(build=True, progress=True))
        elif args.command == "up":
            started = time.monotonic()
            cluster = LocalCluster(args.dir, args.bin_dir or find_bin_dir(), nodes=args.nodes, tied_to_parent=False,
                                   flux=args.flux)
            cluster.start(timeout=args.timeout)
            if args.argocd:
                try:
                    start_argocd(cluster, timeout=args.timeout)
                except BaseException:
                    cluster.stop(keep_logs=True)
                    raise
            print(f"local cluster ready in {time.monotonic() - started:.1f}s at {cluster.server}", file=sys.stderr)
            print(cluster.kubeconfig)
        elif args.command == "down":
            LocalCluster(args.dir).stop()
        elif args.command == "flux-controller":
            from .flux import run_supervisor

            logging.basicConfig(level=logging.INFO, format="%(asctime)s supervisor %(message)s")
            return run_supervisor(args.name, args.kubeconfig, args.crds.split(","), args.argv)
        else:
            from .kubelet_sim import run

            logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
            run(args.kubeconfig)
    except (LocalClusterError, ArgoCDError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
