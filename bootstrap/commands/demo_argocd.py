"""`make drill ENGINE=argocd`: the Argo CD demo drill, end to end, from package code only (it runs from a wheel).

    python -m bootstrap.commands.demo_argocd DIR [DRILL-FLAG ...]

Builds the secret-zero demo repository (`bootstrap/data/demo-argocd`: Argo CD's settings and the release's CRDs
under bootstrap/argocd/, a SOPS-encrypted Secret zero for External Secrets, a root Application over apps/,
whose ApplicationSet makes one Application per directory of workloads/) in DIR/repo, encrypted for a throwaway
age key (DIR/age.agekey, mode 0600, never printed); serves it on a loopback Git HTTP server
(drb_localcluster.gitserve: Argo CD's repo-server fetches over HTTP, not from a path), and runs

    dr-bootstrap drill URL --engine argocd --cluster local --path bootstrap --age-key-file DIR/age.agekey \\
        --key-secret argocd/sops-age --wait-gitops DRILL-FLAG ...

on a throwaway local cluster running Argo CD's controllers (`make argocd`, redis-server), which it always tears
down. Exits with the drill's exit code.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

from bootstrap.commands.demo import DEMO_ARGOCD, DemoRepo, build

REPO_NAME = "demo.git"
KEY_SECRET = "argocd/sops-age"  # the key beside Argo CD (the demo has no repo-server install saying where)


def drill_args(url: str, key_file: Path, extra: list[str]) -> list[str]:
    return ["drill", url, "--engine", "argocd", "--cluster", "local", "--path", "bootstrap",
            "--age-key-file", str(key_file), "--key-secret", KEY_SECRET, "--wait-gitops", *extra]


def build_served(work: Path, server) -> tuple[DemoRepo, str]:
    """The demo repository built for `server`'s URL (its Applications point there) and published on it."""
    from drb_localcluster import find_argocd_bin_dir  # deferred: optional (the local cluster's Argo CD build)

    url = server.url(REPO_NAME)
    demo = build(work, DEMO_ARGOCD, repo_url=url, crds=find_argocd_bin_dir() / "crds")
    server.publish(demo.repo, REPO_NAME)
    return demo, url


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    if not args or args[0].startswith("-"):
        print("usage: python -m bootstrap.commands.demo_argocd DIR [DRILL-FLAG ...]", file=sys.stderr)
        return 2
    # deferred: optional (drb_localcluster: the Argo CD build and the Git server of the local cluster)
    from drb_localcluster import ArgoCDError
    from drb_localcluster.gitserve import GitServer

    work = Path(args[0]).resolve()
    work.mkdir(parents=True, exist_ok=True)
    os.chmod(work, 0o700)
    with GitServer(work / "srv") as server:
        try:
            demo, url = build_served(work, server)
        except ArgoCDError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        command = drill_args(url, demo.key_file, args[1:])
        print("$ dr-bootstrap " + shlex.join(command), flush=True)
        return subprocess.run([sys.executable, "-m", "bootstrap", *command], stdin=subprocess.DEVNULL).returncode


if __name__ == "__main__":
    sys.exit(main())
