"""A drill's negative controls: how each breaks a working copy of the repository, and how the restore must
fail because of it (exit code, and a word its message must contain)."""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bootstrap.errors import ExitCode, UsageError

EDITABLE_NAME = re.compile(r"^(\s+name: )(?!ENC\[)(\S+)$", re.MULTILINE)  # sops writes block-style YAML


@dataclass(frozen=True)
class Injection:
    """A negative control: how to break the input, and how the restore must fail because of it."""

    name: str
    exit_code: ExitCode
    cause: str  # a substring the error message must contain (case-insensitive)
    description: str


INJECTIONS = {
    i.name: i
    for i in (
        Injection("wrong-key", ExitCode.INVALID, "no identity", "restore with a freshly generated, unrelated age key"),
        Injection("tampered-file", ExitCode.INVALID, "mac", "rename the object of one encrypted file outside sops"),
        Injection("missing-crd", ExitCode.INVALID, "crd", "drop every CustomResourceDefinition from the repo"),
        Injection("crashloop", ExitCode.ROLLOUT, "crashloopbackoff", "make one Deployment's container crash-loop"),
        Injection(
            "missing-secret-key",
            ExitCode.ROLLOUT,
            "createcontainerconfigerror",
            "point one Deployment at a Secret key that does not exist",
        ),
        Injection(
            "key-format",
            ExitCode.ROLLOUT,
            "decrypt",
            "install the age key under a data key Flux ignores (age.key): Flux's decryption must fail (needs Flux)",
        ),
    )
}


def _yaml_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.suffix in (".yaml", ".yml") and ".git" not in p.parts and p.is_file())


def _documents(path: Path) -> list[Any]:
    try:
        return list(yaml.safe_load_all(path.read_text()))
    except (yaml.YAMLError, UnicodeDecodeError):
        return []


def _first_deployment(root: Path) -> tuple[Path, list[Any], dict]:
    for path in _yaml_files(root):
        docs = _documents(path)
        for doc in docs:
            if isinstance(doc, dict) and doc.get("kind") == "Deployment" and "sops" not in doc:
                return path, docs, doc
    raise UsageError("--inject: the repository has no plain Deployment to break")


def inject(name: str, repo: Path) -> None:
    """Break a working copy of the repository the way `name` says (see INJECTIONS)."""
    if name == "tampered-file":
        for path in _yaml_files(repo):
            if not any(isinstance(d, dict) and "sops" in d and "kind" in d for d in _documents(path)):
                continue  # not an encrypted manifest (e.g. .sops.yaml): the restore would never read it
            text = path.read_text()
            edited = EDITABLE_NAME.sub(r"\g<1>\g<2>-edited", text, count=1)
            if edited != text:
                path.write_text(edited)  # a hand edit of a plaintext field the MAC covers
                return
        raise UsageError("--inject tampered-file: the repository has no SOPS-encrypted manifest with a plain name")
    if name == "missing-crd":
        found = False
        for path in _yaml_files(repo):
            docs = _documents(path)
            keep = [d for d in docs if not (isinstance(d, dict) and d.get("kind") == "CustomResourceDefinition")]
            if len(keep) != len(docs):
                found = True
                path.write_text(yaml.safe_dump_all(keep, sort_keys=False)) if keep else path.unlink()
        if not found:
            raise UsageError("--inject missing-crd: the repository defines no CustomResourceDefinition")
        return
    path, docs, deployment = _first_deployment(repo)
    template = deployment.setdefault("spec", {}).setdefault("template", {})
    if name == "crashloop":
        template.setdefault("metadata", {}).setdefault("annotations", {})["dr-bootstrap.io/simulate"] = "crashloop"
    elif name == "missing-secret-key":
        container = template["spec"]["containers"][0]
        secret = _any_secret_name(repo, deployment) or "injected-missing-secret"
        container.setdefault("env", []).append(
            {"name": "DRILL_INJECTED", "valueFrom": {"secretKeyRef": {"name": secret, "key": "drill-missing-key"}}}
        )
    path.write_text(yaml.safe_dump_all(docs, sort_keys=False))


def _any_secret_name(repo: Path, deployment: dict) -> str | None:
    """A Secret the Deployment already uses, so the failure is a missing *key*, not a missing Secret."""
    for c in deployment["spec"]["template"]["spec"].get("containers", []):
        for e in c.get("env", []) or []:
            ref = (e.get("valueFrom") or {}).get("secretKeyRef")
            if ref:
                return ref["name"]
        for e in c.get("envFrom", []) or []:
            if e.get("secretRef"):
                return e["secretRef"]["name"]
    return None


def prepare_injected_repo(name: str, checkout_root: Path, dest: Path) -> Path:
    """A local Git repo holding the checkout with the fault applied, committed."""
    shutil.copytree(checkout_root, dest, ignore=shutil.ignore_patterns(".git"), symlinks=True)
    inject(name, dest)
    git = ["git", "-c", "user.name=dr-bootstrap drill", "-c", "user.email=drill@example.invalid"]
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=dest, check=True)
    subprocess.run(["git", "add", "-A"], cwd=dest, check=True)
    subprocess.run([*git, "commit", "-q", "-m", f"drill: inject {name}"], cwd=dest, check=True)
    return dest
