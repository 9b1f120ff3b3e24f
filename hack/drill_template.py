"""`make drill-template`: the one command that restores today's cluster-template-shaped repository, end to end.

Builds a demo repository in the template's shape (tests/support/templaterepo.py: cilium -> coredns ->
flux-operator -> flux-instance as HelmReleases whose dependsOn encode the helmfile's `needs`, bootstrap/ with
the SOPS Secrets, cluster-apps with provider sops) encrypted for a throwaway age key, starts a loopback OCI
registry with the demo charts, a loopback Git server with the repo, and a local cluster with Flux's controllers
and flux-operator as host processes, then runs

    dr-bootstrap restore URL --path bootstrap --path kubernetes/flux/cluster -k all \\
        --helm kube-system/cilium --helm kube-system/coredns \\
        --helm flux-system/flux-operator --helm flux-system/flux-instance --wait-gitops --report ... --junit ...

and prints the RTO. Everything is torn down at the end; the reports stay in $OUT (default out/drill-template).
Extra arguments go to `restore`. Exits with restore's exit code.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from drb_localcluster import find_bin_dir, fluxoperator  # noqa: E402
from tests.support.cluster import started_cluster  # noqa: E402
from tests.support.flux import flux_bin_dir  # noqa: E402
from tests.support.fluxrepos import write_repo  # noqa: E402
from tests.support.gitserver import GitHttpServer, publish  # noqa: E402
from tests.support.registry import helm_bin, helm_env, oci_registry  # noqa: E402
from tests.support.sops import new_age_key, write_key_file  # noqa: E402
from tests.support.templaterepo import RELEASES, push_charts, template_files  # noqa: E402


def main(extra: list[str]) -> int:
    out = Path(os.environ.get("OUT", "out/drill-template")).resolve()
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="drill-template-") as tmp:
        work = Path(tmp)
        work.chmod(0o700)
        key = new_age_key()  # throwaway: written only to the 0600 key file under the temp dir, never printed
        key_file = write_key_file(work / "age.agekey", key)
        print("make drill-template: cluster-template-shaped demo repo with a throwaway key, "
              f"local cluster with Flux and flux-operator, reports in {out}/", flush=True)
        with oci_registry(work / "registry") as reg, GitHttpServer(work / "srv") as git:
            push_charts(reg, work / "charts", fluxoperator.find_operator_dir())
            url = git.url("home-ops.git")
            repo = write_repo(work / "repo", template_files(reg, url, key.identity), lambda rel: [key.recipient])
            publish(repo.path, work / "srv", "home-ops.git")
            with started_cluster(work / "cluster", find_bin_dir(), flux=True, flux_bin_dir=flux_bin_dir(),
                                 flux_operator=True,
                                 flux_args={"kustomize-controller": ["--sops-age-secret=sops-age"]}) as cluster:
                args = ["restore", url, "--age-key-file", str(key_file), "--kubeconfig", str(cluster.kubeconfig),
                        "--path", "bootstrap", "--path", "kubernetes/flux/cluster", "-k", "all",
                        *[a for r in RELEASES for a in ("--helm", r)], "--helm-bin", str(helm_bin()),
                        "--wait-gitops", "--report", str(out / "report.json"), "--junit", str(out / "junit.xml"),
                        *extra]
                print("$ dr-bootstrap " + shlex.join(args), flush=True)
                code = subprocess.run([sys.executable, "-m", "bootstrap", *args],
                                      env=helm_env(reg.helm_home / "operator"), cwd=ROOT).returncode
    try:
        report = json.loads((out / "report.json").read_text())
    except (OSError, ValueError):
        return code or 1
    order = " -> ".join(f"{h['namespace']}/{h['name']} ({h['status']})" for h in report.get("helmReleases", []))
    print(f"make drill-template: {report['result']}, exit {code}; Helm releases: {order}")
    timing = ", ".join(f"{label} {report[field]}s" for label, field in (
        ("hand-over to Flux at", "bootstrapSeconds"), ("Flux converged at", "convergedSeconds"))
        if report.get(field) is not None)
    print(f"RTO {report['seconds']:.1f}s{f' ({timing})' if timing else ''}; report {out}/report.json")
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
