"""flux-operator as the root, through `plan` (offline): a repository in today's cluster-template shape
(`tests.support.operatorrepos`, SOPS files made with the real sops) whose root GitRepository and Kustomization
`flux-system` are not in Git but made by the operator from the flux-instance HelmRelease's `values.instance.sync`.

- `--path kubernetes/flux/cluster -k all` restores the tree below the root, the entry path as the root's phase;
- from the FluxInstance's side (`--path kubernetes/apps/flux-system -k all`) the root is found and followed;
- `cluster-apps` (provider sops, no secretRef) takes the key Secret kustomize-controller's `--sops-age-secret`
  names (the FluxInstance's patches), and the plan says where and why; without that flag, a note;
- the FluxInstance's `pullSecret` must be restored (here: bootstrap/github-deploy-key.sops.yaml) and hold
  `known_hosts` for an SSH URL: else exit 4 naming the FluxInstance and the Secret, before anything is written.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bootstrap.errors import ExitCode
from tests.support.fluxrepos import write_repo
from tests.support.operatorrepos import PATCHES, cluster_template_operator, instance_values
from tests.support.sops import new_age_key, write_key_file

WORKTREE = Path(__file__).resolve().parents[2]
ENTRY = "kubernetes/flux/cluster"
AGE_PATCH = PATCHES[1]


def make(base: Path, **kwargs) -> tuple[Path, Path]:
    key = new_age_key()
    repo = write_repo(base / "repo", cluster_template_operator(key.key_file_text, **kwargs), lambda rel: [key.recipient])
    return repo.path, write_key_file(base / "age.agekey", key)


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> tuple[Path, Path]:
    return make(tmp_path_factory.mktemp("operator"))


def plan(path: Path, key: Path, *args: str, home: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SOPS_", "KUBECONFIG", "DR_BOOTSTRAP_"))}
    env.update(NO_COLOR="1", COLUMNS="400", HOME=str(home))
    return subprocess.run([sys.executable, "-m", "bootstrap", "plan", str(path), "--age-key-file", str(key), *args],
                          cwd=WORKTREE, capture_output=True, text=True, env=env, timeout=300, stdin=subprocess.DEVNULL)


def phases(report: Path) -> list[str]:
    """The restore phases, in order, as the report's planned objects carry them."""
    return list(dict.fromkeys(o["phase"] for o in json.loads(report.read_text())["objects"]))


def test_the_entry_path_is_the_operators_root_and_all_is_restored(repo, tmp_path):
    path, key = repo
    report = tmp_path / "plan.json"
    done = plan(path, key, "--path", "bootstrap", "--path", ENTRY, "-k", "all", "--report", str(report), home=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout + done.stderr
    assert ("FluxInstance flux-system/flux (kubernetes/apps/flux-system/flux-instance/app/helmrelease.yaml (HelmRelease "
            "flux-system/flux-instance spec.values.instance)): flux-operator makes GitRepository flux-system/flux-system "
            "(ssh://git@github.com/home-ops/home-ops, ref refs/heads/main) and Kustomization flux-system/flux-system "
            "(path kubernetes/flux/cluster) from spec.sync; the root of this restore") in out
    names = phases(report)
    assert names[:3] == ["bootstrap", "flux-system/flux-system", "flux-system/cluster-apps"]
    assert {"kube-system/cilium", "flux-system/flux-instance", "cert-manager/cert-manager"} <= set(names)
    assert names.count("flux-system/flux-system") == 1 and ENTRY not in names
    objects = json.loads(report.read_text())["objects"]
    assert not [o for o in objects if o.get("kind") == "GitRepository"], "the operator's root is not applied"
    assert "left for Flux" not in out  # nothing of this source is left out with -k all


def test_the_age_key_goes_where_the_instances_patch_says(repo, tmp_path):
    path, key = repo
    done = plan(path, key, "--path", "bootstrap", "--path", ENTRY, "-k", "all", home=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert ("the age key goes to Secret flux-system/sops-age: kustomize-controller --sops-age-secret=sops-age "
            "(FluxInstance flux-system/flux spec.kustomize.patches), the key of 8 Kustomization(s) with provider sops "
            "and no secretRef (flux-system/cluster-apps, cert-manager/cert-manager, flux-system/flux-instance and 5 "
            "more)") in done.stdout + done.stderr


def test_another_age_secret_name_becomes_a_key_target(tmp_path):
    patch = {**AGE_PATCH, "patch": AGE_PATCH["patch"].replace("=sops-age", "=age-default")}
    path, key = make(tmp_path, values=instance_values(patches=[PATCHES[0], patch]))
    done = plan(path, key, "--path", "bootstrap", "--path", ENTRY, "-k", "cluster-apps,flux-instance", home=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout + done.stderr
    assert ("the age key goes to Secret flux-system/age-default: kustomize-controller --sops-age-secret=age-default "
            "(FluxInstance flux-system/flux spec.kustomize.patches), the key of 2 Kustomization(s)") in out


def test_without_the_flag_a_sops_kustomization_without_secretref_gets_no_key_and_a_note(tmp_path):
    path, key = make(tmp_path, values=instance_values(patches=[PATCHES[0]]))
    done = plan(path, key, "--path", "bootstrap", "--path", ENTRY, "-k", "all", home=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout + done.stderr
    assert ("Kustomization flux-system/cluster-apps: decryption provider sops without a secretRef, and no FluxInstance "
            "restored here sets kustomize-controller's --sops-age-secret: Flux decrypts nothing for it") in out
    assert "the age key goes to Secret flux-system/sops-age: kustomize-controller" not in out


def test_from_the_flux_instance_side_the_root_is_followed(repo, tmp_path):
    path, key = repo
    report = tmp_path / "plan.json"
    done = plan(path, key, "--path", "bootstrap", "--path", "kubernetes/apps/flux-system", "-k", "all",
                "--report", str(report), home=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    names = phases(report)
    assert names.index("flux-system/flux-instance") < names.index("flux-system/flux-system") \
        < names.index("flux-system/cluster-apps") < names.index("kube-system/cilium")


def test_a_pull_secret_the_restore_does_not_hold_is_exit_4(repo, tmp_path):
    path, key = repo
    done = plan(path, key, "--path", ENTRY, "-k", "all", home=tmp_path)
    assert done.returncode == ExitCode.INVALID, done.stdout + done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert errors == [
        "error: FluxInstance flux-system/flux (kubernetes/apps/flux-system/flux-instance/app/helmrelease.yaml "
        "(HelmRelease flux-system/flux-instance spec.values.instance)): spec.sync.pullSecret github-deploy-key: Secret "
        "flux-system/github-deploy-key is neither restored by this run nor in the cluster; flux-operator's "
        "GitRepository could never fetch ssh://git@github.com/home-ops/home-ops (hint: restore the path that holds "
        "the deploy-key Secret (cluster-template: bootstrap/, github-deploy-key.sops.yaml) with --path, or create it "
        "first)"]
    assert "Traceback" not in done.stderr


def test_a_deploy_key_without_known_hosts_for_ssh_is_exit_4(tmp_path):
    path, key = make(tmp_path, known_hosts=False)
    done = plan(path, key, "--path", "bootstrap", "--path", ENTRY, "-k", "all", home=tmp_path)
    assert done.returncode == ExitCode.INVALID, done.stdout + done.stderr
    assert ("spec.sync.pullSecret github-deploy-key: Secret flux-system/github-deploy-key has no known_hosts for the "
            "SSH URL ssh://git@github.com/home-ops/home-ops") in done.stderr


def test_a_deploy_key_under_another_name_is_exit_4(tmp_path):
    path, key = make(tmp_path, deploy_key_name="deploy-key")
    done = plan(path, key, "--path", "bootstrap", "--path", ENTRY, "-k", "all", home=tmp_path)
    assert done.returncode == ExitCode.INVALID, done.stdout + done.stderr
    assert "Secret flux-system/github-deploy-key is neither restored by this run nor in the cluster" in done.stderr
