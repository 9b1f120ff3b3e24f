"""What `restore`, `plan` and `drill` take from the command line, and the checks a flag can fail before
anything is cloned, decrypted or written (exit 2, one line naming the flag)."""

from __future__ import annotations

import posixpath
import re
from collections.abc import Sequence
from dataclasses import dataclass

from bootstrap import engines
from bootstrap.errors import UsageError

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_SECRET_KEY = re.compile(r"^[-._a-zA-Z0-9]{1,253}$")


DEFAULT_KEY_SECRET = "flux-system/sops-age"


@dataclass
class RestoreOptions:
    """Everything `restore` and `plan` take from the command line."""

    repo_url: str
    age_key_file: str | None = None
    ref: str | None = None
    paths: tuple[str, ...] = (".",)  # --path, repeatable: restored in this order, as phases
    kustomizations: tuple[str, ...] = ()  # --kustomization NAME[,NAME…] | all
    source: str | None = None  # --source: the GitRepository that is this repository
    engine: str = "flux"  # --engine: flux | argocd
    excludes: tuple[str, ...] = ()  # --exclude GLOB: files left out of plain directories
    helm: tuple[str, ...] = ()  # --helm NAMESPACE/NAME: Helm releases to install before the phases
    helm_bin: str | None = None  # --helm-bin: the helm that installs them and renders charts (helmcli.locate)
    substitute_from: tuple[str, ...] = ()  # --substitute-from FILE: ConfigMaps/Secrets substituteFrom reads, not applied
    kustomize_bin: str | None = None
    playbook: str | None = None
    kubeconfig: str | None = None
    context: str | None = None
    key_secret: str = DEFAULT_KEY_SECRET
    key_secret_key: str = "age.agekey"
    allow_any_key_name: bool = False
    timeout: float = 600.0
    dry_run: bool = False
    server_dry_run: bool = False
    recreate: bool = False
    restart_consumers: bool = False
    ignore_mac: bool = False
    allow_committed_keys: bool = False
    concurrency: int = 32
    token_env: str = "GIT_TOKEN"
    ssh_key_file: str | None = None
    known_hosts_file: str | None = None
    verify_signatures: str | None = None  # allowed signers file: the commit must carry a signature from it
    yes: bool = False  # --yes: restore into a cluster that is not fresh without asking
    # --wait-gitops: after the bootstrap, wait until Flux has reconciled every Kustomization and HelmRelease.
    # None (drill's default): when the restored set installs Flux (its Kustomization CRD and one Kustomization).
    wait_gitops: bool | None = False

    @property
    def path(self) -> str:
        """The first --path (reports keep `path`; `paths` has them all)."""
        return self.paths[0] if self.paths else "."

    def key_secret_ref(self) -> tuple[str, str]:
        namespace, sep, name = self.key_secret.partition("/")
        if not sep or not namespace or not name or "/" in name:
            raise UsageError(f"--key-secret {self.key_secret!r}: expected NAMESPACE/NAME")
        return namespace, name


def check_options(opts: RestoreOptions) -> tuple[str, str]:
    """Flag checks that must fail before anything is cloned or written; returns the key Secret's (ns, name)."""
    key_ns, key_name = opts.key_secret_ref()
    if not _DNS_LABEL.match(key_ns):
        raise UsageError(f"--key-secret {opts.key_secret!r}: namespace {key_ns!r} is not a DNS label (lowercase, digits, '-')")
    if not _DNS_SUBDOMAIN.match(key_name):
        raise UsageError(f"--key-secret {opts.key_secret!r}: name {key_name!r} is not a DNS subdomain (lowercase, digits, '-', '.')")
    if not _SECRET_KEY.match(opts.key_secret_key):
        raise UsageError(f"--key-secret-key {opts.key_secret_key!r}: not a valid Secret key (letters, digits, '-', '_', '.')")
    if opts.concurrency < 1:
        raise UsageError(f"--concurrency {opts.concurrency}: must be at least 1")
    if not opts.timeout > 0:
        raise UsageError(f"--timeout {opts.timeout:g}: must be a positive number of seconds")
    if not opts.allow_any_key_name and not opts.key_secret_key.endswith(".agekey"):
        raise UsageError(
            f"--key-secret-key {opts.key_secret_key!r}: Flux only reads age keys from entries ending in .agekey",
            hint="use e.g. age.agekey, or pass --allow-any-key-name",
        )
    if not opts.paths:
        raise UsageError("--path: at least one path is needed")
    for path in opts.paths:
        if not path or path.startswith("/") or "\x00" in path:
            raise UsageError(f"--path {path!r}: must be a directory or file relative to the repository root")
    if len(set(normalized(opts.paths))) != len(opts.paths):
        raise UsageError(f"--path given twice for the same directory: {', '.join(opts.paths)}")
    if opts.engine not in engines.REGISTERED:
        raise UsageError(f"--engine {opts.engine!r}: expected one of {', '.join(engines.REGISTERED)}")
    engines.get(opts.engine).check_selection(opts.kustomizations)
    if opts.source is not None and (not opts.source or opts.source.count("/") > 1):
        raise UsageError(f"--source {opts.source!r}: expected NAME or NAMESPACE/NAME of a GitRepository")
    for value in opts.helm:
        problem = helm_release_problem(value)
        if problem:
            raise UsageError(f"--helm {value!r}: {problem}")
    for file in opts.substitute_from:
        if not file:
            raise UsageError("--substitute-from '': expected a FILE holding ConfigMap or Secret manifests")
    for pattern in opts.excludes:
        if not pattern or pattern.startswith("/"):
            raise UsageError(f"--exclude {pattern!r}: expected a glob relative to the repository root")
    return key_ns, key_name


def helm_release_problem(value: str) -> str | None:
    """What is wrong with a Helm release named to install before the phases (`NAMESPACE/NAME` of the GitOps
    engine's object: a DNS label and a DNS subdomain), or None."""
    namespace, sep, name = value.partition("/")
    if not sep or not namespace or not name or "/" in name:
        return "expected NAMESPACE/NAME of a HelmRelease"
    if not _DNS_LABEL.match(namespace):
        return f"namespace {namespace!r} is not a DNS label (lowercase, digits, '-')"
    if not _DNS_SUBDOMAIN.match(name):
        return f"name {name!r} is not a DNS subdomain (lowercase, digits, '-', '.')"
    return None


def normalized(paths: Sequence[str]) -> list[str]:
    """--path values as repo-relative directories ("" for the root), in the order given."""
    out = []
    for path in paths:
        norm = posixpath.normpath(path.replace("\\", "/"))
        out.append("" if norm == "." else norm)
    return out
