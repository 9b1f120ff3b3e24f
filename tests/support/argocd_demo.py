"""The Argo CD demo repository of `make drill ENGINE=argocd` (bootstrap/data/demo-argocd), built and served as
the drill builds it (`bootstrap.commands.demo_argocd.build_served`), and its red variant: one more child
Application whose path is not in the repository, which Argo CD reports as a ComparisonError."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from bootstrap.commands.demo import DemoRepo
from bootstrap.commands.demo_argocd import REPO_NAME, build_served

BROKEN_APP = "demo-broken"
MISSING_PATH = "workloads/missing"
SECRET_ZERO = "demo-store-token-5b1f0c"  # bootstrap/data/demo-argocd/bootstrap/secret-zero.sops.yaml's plaintext
APPLICATIONS = ("demo-root", "demo-web", "demo-worker")  # the green demo's Applications, once Argo CD synced it


def broken_child(url: str) -> str:
    return yaml.safe_dump({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
        "metadata": {"name": BROKEN_APP, "namespace": "argocd"},
        "spec": {"project": "default",
                 "source": {"repoURL": url, "targetRevision": "main", "path": MISSING_PATH},
                 "destination": {"server": "https://kubernetes.default.svc", "namespace": "demo-broken"},
                 "syncPolicy": {"automated": {"prune": True}, "syncOptions": ["CreateNamespace=true"]}}})


def served_demo(work: Path, server, *, red: bool = False) -> tuple[DemoRepo, str]:
    """The demo repository built in `work` for `server` (a drb_localcluster.gitserve.GitServer) and served;
    with `red`, apps/ also holds the broken child Application."""
    demo, url = build_served(work, server)
    if red:
        (demo.repo / "apps" / "broken.yaml").write_text(broken_child(url))
        git = ["git", "-c", "user.name=dr-bootstrap tests", "-c", "user.email=tests@example.invalid"]
        subprocess.run([*git, "add", "-A"], cwd=demo.repo, check=True, capture_output=True)
        subprocess.run([*git, "commit", "-q", "-m", "a child Application whose path is missing"], cwd=demo.repo,
                       check=True, capture_output=True)
        subprocess.run(["git", "push", "-q", str(server.root / REPO_NAME), "main"], cwd=demo.repo, check=True,
                       capture_output=True)
    return demo, url


def push_fix(demo: DemoRepo, server) -> None:
    """Add the directory the broken child Application names, commit, and push it to the served repository."""
    missing = demo.repo / MISSING_PATH
    missing.mkdir(parents=True)
    (missing / "configmap.yaml").write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "ConfigMap",
                                                            "metadata": {"name": "found"}, "data": {"at": "last"}}))
    git = ["git", "-c", "user.name=dr-bootstrap tests", "-c", "user.email=tests@example.invalid"]
    subprocess.run([*git, "add", "-A"], cwd=demo.repo, check=True, capture_output=True)
    subprocess.run([*git, "commit", "-q", "-m", "the missing path"], cwd=demo.repo, check=True, capture_output=True)
    subprocess.run(["git", "push", "-q", str(server.root / REPO_NAME), "main"], cwd=demo.repo, check=True,
                   capture_output=True)
