"""Fixtures for end-to-end tests: GitOps repos built at test time, the CLI as a subprocess, cluster snapshots.

A repo is a local Git repository whose secret files were encrypted by the real `sops` binary with a fresh
age key; tests hand its path to `dr-bootstrap` exactly as an operator would hand a clone URL.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from drb_localcluster import LocalCluster
from tests.support.cluster import started_cluster
from tests.support.sops import AgeKey, encrypt_file, new_age_key, write_key_file

REPO_ROOT = Path(__file__).resolve().parents[2]
MANIFEST_RULE = "^(data|stringData)$"  # what Flux users put in .sops.yaml for Secret manifests
#: kinds whose objects come and go on their own (controllers, heartbeats) and so cannot prove "nothing written"
CHURNING_KINDS = frozenset({"Event", "Lease"})


# ------------------------------------------------------------------------------------------ repos


@dataclass(frozen=True)
class GitOpsRepo:
    path: Path
    commit: str
    key: AgeKey
    key_file: Path


def git(repo: Path, *args: str) -> str:
    identity = ["-c", "user.name=dr-bootstrap tests", "-c", "user.email=tests@example.invalid"]
    done = subprocess.run(["git", *identity, *args], cwd=repo, check=True, capture_output=True, text=True)
    return done.stdout.strip()


def build_repo(dest: Path, files: Mapping[str, str], key: AgeKey, key_file: Path) -> GitOpsRepo:
    """Write `files`, encrypt the secret ones in place with sops, commit. Encrypted: `*.sops.yaml`,
    `*.sops.json` (only data/stringData, as Flux users configure it) and `*.enc.env` (every value)."""
    dest.mkdir(parents=True)
    for rel, text in files.items():
        path = dest / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        if rel.endswith((".sops.yaml", ".sops.json")):
            encrypt_file(path, [key.recipient], encrypted_regex=MANIFEST_RULE)
        elif rel.endswith(".enc.env"):
            encrypt_file(path, [key.recipient], fmt="dotenv")
    git(dest, "init", "-q", "-b", "main")
    git(dest, "add", "-A")
    git(dest, "commit", "-q", "-m", "cluster state")
    return GitOpsRepo(path=dest, commit=git(dest, "rev-parse", "HEAD"), key=key, key_file=key_file)


@pytest.fixture(scope="session")
def age_key() -> AgeKey:
    """One key for every repo restored into the shared cluster, so `flux-system/sops-age` stays coherent."""
    return new_age_key()


@pytest.fixture(scope="session")
def age_key_file(tmp_path_factory, age_key) -> Path:
    return write_key_file(tmp_path_factory.mktemp("key") / "age.agekey", age_key)


@pytest.fixture(scope="session")
def make_repo(tmp_path_factory, age_key, age_key_file) -> Callable[[Mapping[str, str]], GitOpsRepo]:
    """`make_repo(files)` -> a committed GitOps repo encrypted for the session key."""
    return lambda files: build_repo(tmp_path_factory.mktemp("repo") / "repo", files, age_key, age_key_file)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


# ------------------------------------------------------------------------------------------ the CLI


@dataclass(frozen=True)
class CliResult:
    code: int
    stdout: str
    stderr: str
    seconds: float

    def __str__(self) -> str:  # what a failed assertion shows
        return f"exit {self.code} after {self.seconds:.1f}s\n--- stdout\n{self.stdout}\n--- stderr\n{self.stderr}"


def clean_env(**extra: str) -> dict[str, str]:
    """The environment minus every SOPS_* variable and kubeconfig default: nothing leaks in from the machine."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SOPS_", "KUBECONFIG", "DR_BOOTSTRAP"))}
    env.update(PYTHONPATH=str(REPO_ROOT), COLUMNS="200", **extra)
    return env


def run_cli(*args: str, env: Mapping[str, str] | None = None, stdin: str | None = None,
            timeout: float = 300) -> CliResult:
    """`python -m bootstrap ARGS` in a clean environment; stdin is closed unless given."""
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "bootstrap", *args],
        cwd=REPO_ROOT, env=dict(env) if env is not None else clean_env(), capture_output=True, text=True,
        input=stdin, stdin=None if stdin is not None else subprocess.DEVNULL, timeout=timeout,
    )
    return CliResult(done.returncode, done.stdout, done.stderr, time.monotonic() - started)


def read_json(path: Path) -> dict:
    return json.loads(Path(path).read_text())


# ------------------------------------------------------------------------------------------ clusters


@pytest.fixture(scope="session")
def pristine_cluster(tmp_path_factory, control_plane_bin) -> Iterator[LocalCluster]:
    """A cluster of the session's own that only failed and dry runs target, for proving that failed or dry runs write nothing."""
    with started_cluster(tmp_path_factory.mktemp("pristine"), control_plane_bin) as cluster:
        yield cluster


def snapshot(kubeconfig: Path) -> frozenset[tuple[str, str, str, str]]:
    """(apiVersion, kind, namespace, name) of every object of every listable kind, minus churning kinds."""
    from bootstrap.kube import Cluster

    with Cluster(str(kubeconfig)) as cluster, ThreadPoolExecutor(8) as pool:
        kinds = listable_kinds(cluster)
        listed = pool.map(lambda kind: (kind, cluster.list(*kind)), kinds)
        return frozenset(
            (api_version, kind, obj["metadata"].get("namespace") or "", obj["metadata"]["name"])
            for (api_version, kind), objects in listed
            for obj in objects
        )


def listable_kinds(cluster) -> list[tuple[str, str]]:
    """Preferred-version kinds the server can list, from discovery."""
    versions = ["v1"] + [
        group["preferredVersion"]["groupVersion"] for group in cluster.call("GET", "/apis").data["groups"]
    ]
    kinds = []
    for gv in versions:
        path = "/api/v1" if gv == "v1" else f"/apis/{gv}"
        for res in cluster.call("GET", path).data["resources"]:
            if "/" not in res["name"] and "list" in res.get("verbs", []) and res["kind"] not in CHURNING_KINDS:
                kinds.append((gv, res["kind"]))
    return kinds
