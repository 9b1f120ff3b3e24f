"""Helpers for the security tests: Git repos made at test time, the CLI as a subprocess with a clean
environment, a cluster of the module's own, and API snapshots that prove nothing was written."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from drb_localcluster import LocalCluster
from tests.support.cluster import started_cluster

REPO_ROOT = Path(__file__).resolve().parents[2]

#: kinds that controllers rewrite on their own (heartbeats, leader leases, events): not writes of ours
CHURNED = frozenset({"events", "leases", "endpoints", "endpointslices", "nodes", "componentstatuses"})

GIT_IDENTITY = ("-c", "user.name=dr-bootstrap tests", "-c", "user.email=tests@example.invalid")


# ------------------------------------------------------------------------------------------ git repos


def git(repo: Path, *args: str, env: Mapping[str, str] | None = None) -> str:
    result = subprocess.run(
        ["git", *GIT_IDENTITY, *args], cwd=repo, capture_output=True, text=True, env=env, timeout=60
    )
    if result.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed: {result.stderr.strip()}")
    return result.stdout.strip()


def write_tree(root: Path, files: Mapping[str, str | bytes | None]) -> None:
    """Write `files` (repo-relative path -> content; None deletes) under `root`."""
    for rel, content in files.items():
        path = root / rel
        if content is None:
            path.unlink(missing_ok=True)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else content.encode())


def make_repo(path: Path, files: Mapping[str, str | bytes | None], *, symlinks: Mapping[str, str] = {}) -> Path:
    """A one-commit Git repo (branch main) holding `files` and `symlinks` (link path -> target)."""
    path.mkdir(parents=True)
    git(path, "init", "-q", "-b", "main")
    write_tree(path, files)
    for link, target in symlinks.items():
        (path / link).parent.mkdir(parents=True, exist_ok=True)
        os.symlink(target, path / link)
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "state")
    return path


# ------------------------------------------------------------------------------------------ the CLI


def clean_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment of an operator with no sops keys anywhere: HOME and XDG_CONFIG_HOME are empty dirs."""
    home.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SOPS_", "KUBECONFIG", "DR_BOOTSTRAP_"))}
    env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"), NO_COLOR="1", COLUMNS="200",
               PYTHONPATH=str(REPO_ROOT), GIT_CONFIG_NOSYSTEM="1")
    env.update(extra)
    return env


def cli_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "bootstrap", *args]


def run_cli(*args: str, env: Mapping[str, str], timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(cli_argv(*args), env=dict(env), capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL, cwd=REPO_ROOT)


# ------------------------------------------------------------------------------------------ the cluster


@pytest.fixture(scope="module")
def own_cluster(tmp_path_factory, control_plane_bin) -> Iterator[LocalCluster]:
    """A cluster that only this module writes to (or, for the bad-input table, must never write to)."""
    with started_cluster(tmp_path_factory.mktemp("own-cluster"), control_plane_bin, timeout=180) as cluster:
        yield cluster


def api(kubeconfig: Path):
    from kubernetes import config

    return config.new_client_from_config(str(kubeconfig))


def get_json(client, path: str) -> dict:
    """GET a raw API path through the client's own TLS pool (client-certificate auth, as the local cluster uses)."""
    response = client.rest_client.pool_manager.request(
        "GET", client.configuration.host + path, headers={"Accept": "application/json"}
    )
    if response.status != 200:
        raise RuntimeError(f"GET {path}: HTTP {response.status}")
    return json.loads(response.data)


def list_resources(client) -> list[tuple[str, str]]:
    """(group/version path, resource name) of every listable, non-churned resource type (discovery)."""
    found = []
    groups = [("/api/v1", "v1")]
    for group in get_json(client, "/apis")["groups"]:
        version = group["preferredVersion"]["groupVersion"]
        groups.append((f"/apis/{version}", version))
    for base, _ in groups:
        for resource in get_json(client, base)["resources"]:
            name = resource["name"]
            if "/" in name or "list" not in resource.get("verbs", ()) or name in CHURNED:
                continue
            found.append((base, name))
    return found


class ClusterState:
    """Snapshots of every object of every listable resource type, over one client (discovery done once)."""

    def __init__(self, kubeconfig: Path):
        self.client = api(kubeconfig)
        self.resources = list_resources(self.client)

    def _list(self, resource: tuple[str, str]) -> list[tuple[tuple[str, str, str], tuple[str, str]]]:
        base, name = resource
        return [
            ((f"{base}/{name}", item["metadata"].get("namespace", ""), item["metadata"]["name"]),
             (item["metadata"].get("uid", ""), item["metadata"].get("resourceVersion", "")))
            for item in get_json(self.client, f"{base}/{name}")["items"]
        ]

    def snapshot(self) -> dict[tuple[str, str, str], tuple[str, str]]:
        """(type, namespace, name) -> (uid, resourceVersion) for every object."""
        with ThreadPoolExecutor(max_workers=4) as pool:
            return dict(pair for pairs in pool.map(self._list, self.resources) for pair in pairs)

    def close(self) -> None:
        self.client.close()


def snapshot(kubeconfig: Path) -> dict[tuple[str, str, str], tuple[str, str]]:
    state = ClusterState(kubeconfig)
    try:
        return state.snapshot()
    finally:
        state.close()


def diff(before: Mapping, after: Mapping) -> list[str]:
    """What changed between two snapshots, one line per object."""
    lines = [f"created {k}" for k in after.keys() - before.keys()]
    lines += [f"deleted {k}" for k in before.keys() - after.keys()]
    lines += [f"changed {k}" for k in before.keys() & after.keys() if before[k] != after[k]]
    return sorted(lines)
