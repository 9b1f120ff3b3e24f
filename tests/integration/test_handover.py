"""The hand-over, proved with the real Flux controllers (issue "Prove the hand-over").

A repository generated at test time is served by a real Git server (`git http-backend`): gotk-components from
the built Flux CLI (`flux install --export`), gotk-sync pointing at that server, a flux-system Kustomization with
`decryption`, child Kustomizations `infra` and `apps` (apps dependsOn infra) holding SOPS Secrets, a postBuild
substitution from a SOPS Secret that the bootstrap restores, and a HelmRelease from a chart repository served by
the test. `restore --path clusters/local --wait-gitops` restores the bootstrap set, then source-, kustomize- and
helm-controller (host processes of the local cluster) reconcile the rest: every object Flux creates must be in
the cluster with the decrypted values. The negative cases fail at the `gitops` phase with Flux's own message.
"""

from __future__ import annotations

import base64
import json
from datetime import datetime
from collections.abc import Iterator
from pathlib import Path

import pytest

from bootstrap.engines.flux.requests import REQUESTED_AT
from bootstrap.kube import Cluster
from bootstrap.model import ObjectRef
from tests.integration.conftest import read_json, run_cli
from tests.support.flux import install_manifests
from tests.support.cluster import started_cluster
from tests.support.handover import (DB_PASSWORD, DOMAIN, Served, chain_names, published, reencrypt_bootstrap,
                                    serving)
from tests.support.sops import AgeKey, new_age_key, write_key_file

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(900)]
KS_API = "kustomize.toolkit.fluxcd.io/v1"

@pytest.fixture(scope="module")
def served(tmp_path_factory) -> Iterator[Served]:
    with serving(tmp_path_factory.mktemp("handover-servers")) as servers:
        yield servers


@pytest.fixture(scope="module")
def gotk() -> str:
    return install_manifests()


@pytest.fixture(scope="module")
def key(tmp_path_factory) -> tuple[AgeKey, Path]:
    age = new_age_key()
    return age, write_key_file(tmp_path_factory.mktemp("handover-key") / "age.agekey", age)


def restore(url: str, key_file: Path, kubeconfig: Path, tmp_path: Path, *extra: str, timeout: str = "240"):
    report = tmp_path / f"report-{len(list(tmp_path.glob('report-*.json')))}.json"
    done = run_cli("restore", url, "--yes", "--path", "clusters/local", "--age-key-file", str(key_file),
                   "--kubeconfig", str(kubeconfig), "--wait-gitops", "--timeout", timeout, "--report", str(report),
                   *extra, timeout=900)
    return done, read_json(report)


def get(kubeconfig: Path, api_version: str, kind: str, namespace: str | None, name: str) -> dict | None:
    with Cluster(str(kubeconfig)) as c:
        return c.get(ObjectRef(api_version, kind, namespace, name))


def decoded(secret: dict) -> dict[str, str]:
    return {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}


def managers(obj: dict) -> dict[str, str]:
    return {m["manager"]: m["operation"] for m in obj["metadata"].get("managedFields") or []}


def ours(obj: dict) -> list[dict]:
    return [m for m in obj["metadata"].get("managedFields") or [] if m["manager"] == "dr-bootstrap"]


def request_only(entry: dict) -> bool:
    """A managedFields entry of an Update that owns the reconcile request annotation and nothing else."""
    fields = entry.get("fieldsV1") or {}
    annotations = {k: v for k, v in ((fields.get("f:metadata") or {}).get("f:annotations") or {}).items() if k != "."}
    return (entry["operation"] == "Update" and list(fields) == ["f:metadata"] and list(fields["f:metadata"]) ==
            ["f:annotations"] and annotations == {f"f:{REQUESTED_AT}": {}})


def test_flux_reconciles_everything_after_the_bootstrap_and_the_hand_over_is_clean(
        tmp_path, served, key, gotk, fresh_flux_cluster):
    kubeconfig = fresh_flux_cluster.kubeconfig
    url = published(tmp_path, served, key, gotk)
    done, report = restore(url, key[1], kubeconfig, tmp_path)
    assert done.code == 0, done
    gitops = [o for o in report["objects"] if o["phase"] == "gitops"]
    ready = {(o["kind"], o["name"]) for o in gitops if o["status"] == "Current"}
    assert {("Kustomization", "flux-system"), ("Kustomization", "infra"), ("Kustomization", "apps"),
            ("HelmRelease", "hello")} <= ready
    assert report["bootstrapSeconds"] < report["convergedSeconds"] <= report["seconds"]
    assert [p["name"] for p in report["phases"]][-1] == "gitops"

    # what only Flux applied, with the values only the key opens
    assert decoded(get(kubeconfig, "v1", "Secret", "shop", "db")) == {"password": DB_PASSWORD}
    assert get(kubeconfig, "v1", "ConfigMap", "shop", "web-config")["data"] == {"host": f"web.{DOMAIN}"}
    assert decoded(get(kubeconfig, "v1", "Secret", "shop", "api-token")) == {"token": f"tok-{DOMAIN}"}
    assert get(kubeconfig, "v1", "ConfigMap", "shop", "hello-cm")["data"] == {"greeting": "hi from helm"}
    assert DB_PASSWORD not in done.stdout + done.stderr + json.dumps(report)

    # the hand-over: what dr-bootstrap applied now belongs to kustomize-controller's field manager alone
    # (Flux applies only on drift and never clears a `dr-bootstrap` manager itself: left co-owned, a field
    # later removed from Git would stay in the cluster)
    handed = [("kustomize.toolkit.fluxcd.io/v1", "Kustomization", "flux-system", "apps"),
              ("source.toolkit.fluxcd.io/v1", "GitRepository", "flux-system", "flux-system"),
              ("v1", "Secret", "flux-system", "cluster-secrets")]
    for api_version, kind, namespace, name in handed:
        obj = get(kubeconfig, api_version, kind, namespace, name)
        assert managers(obj).get("kustomize-controller") == "Apply", (kind, name, managers(obj))
        # dr-bootstrap keeps only what `flux reconcile` leaves too: the reconcile request annotation it set
        assert [request_only(m) for m in ours(obj)] in ([], [True]), (kind, name, ours(obj))

    # a second restore converges again: no apply conflict with Flux's manager, Flux stays Ready
    again, report2 = restore(url, key[1], kubeconfig, tmp_path)
    assert again.code == 0, again
    assert report2["convergedSeconds"] is not None


def test_a_key_that_does_not_open_the_children_fails_at_the_gitops_phase_with_flux_s_message(
        tmp_path, served, key, gotk, fresh_flux_cluster):
    # The bootstrap set holds no file for this key: the restore succeeds up to the hand-over, then Flux
    # cannot decrypt `infra`; the run names it and Flux's own decryption error (exit 6).
    other = new_age_key()
    url = published(tmp_path, served, (other, key[1]), gotk)  # every file for another key, then
    reencrypt_bootstrap(tmp_path, served, url, key)  # the bootstrap file for the operator's: children unreadable
    done, report = restore(url, key[1], fresh_flux_cluster.kubeconfig, tmp_path)
    assert done.code == 6, done
    (line,) = [l for l in done.stderr.splitlines() if l.startswith("error:")]
    assert "Kustomization/flux-system/" in line and "decrypt" in line.lower(), line
    assert report["phases"][-1]["name"] == "gitops" and report["phases"][-1]["result"] == "failed"
    assert report["reconcileRequests"] >= 1  # the GitRepository at the hand-over: counted though the run failed


def test_the_key_under_a_data_key_flux_ignores_fails_with_flux_s_decryption_error(
        tmp_path, served, key, gotk, fresh_flux_cluster):
    url = published(tmp_path, served, key, gotk)
    done, report = restore(url, key[1], fresh_flux_cluster.kubeconfig, tmp_path, "--key-secret-key", "age.key",
                           "--allow-any-key-name")
    assert done.code == 6, done
    (line,) = [l for l in done.stderr.splitlines() if l.startswith("error:")]
    assert "Kustomization/flux-system/" in line and "decrypt" in line.lower(), line
    assert ".agekey" in done.stderr  # the hint says where Flux reads the key from


def test_a_child_whose_path_is_missing_fails_with_the_build_failure(tmp_path, served, key, gotk,
                                                                    fresh_flux_cluster):
    url = published(tmp_path, served, key, gotk, apps_path="./nowhere")
    done, _ = restore(url, key[1], fresh_flux_cluster.kubeconfig, tmp_path)
    assert done.code == 6, done
    (line,) = [l for l in done.stderr.splitlines() if l.startswith("error:")]
    assert "Kustomization/flux-system/apps" in line and "nowhere" in line, line


def test_a_helmrelease_whose_chart_does_not_exist_is_named(tmp_path, served, key, gotk, fresh_flux_cluster):
    url = published(tmp_path, served, key, gotk, chart="no-such-chart")
    done, _ = restore(url, key[1], fresh_flux_cluster.kubeconfig, tmp_path, timeout="120")
    assert done.code == 6, done
    (line,) = [l for l in done.stderr.splitlines() if l.startswith("error:")]
    assert "no-such-chart" in line or "HelmRelease/shop/hello" in line, line


def test_drill_negative_control_key_format_passes_on_flux_s_decryption_error(tmp_path, served, key, gotk):
    # The drill runs Flux's controllers on its throwaway local cluster (--flux), waits for the hand-over by
    # default (the set installs Flux), and the injection puts the key under a data key Flux ignores.
    url = published(tmp_path, served, key, gotk)
    evidence = tmp_path / "evidence.json"
    done = run_cli("drill", url, "--path", "clusters/local", "--age-key-file", str(key[1]), "--cluster", "local",
                   "--flux", "--inject", "key-format", "--timeout", "240", "--evidence", str(evidence), timeout=900)
    assert done.code == 0, done
    data = read_json(evidence)
    assert data["verdict"] == "pass" and data["error"]["exitCode"] == 6
    assert "decrypt" in data["error"]["message"].lower()
    assert data["phases"][-1]["name"] == "gitops"


def ready_condition(obj: dict) -> dict:
    return next(c for c in obj["status"]["conditions"] if c["type"] == "Ready")


def at(stamp: str) -> datetime:
    """An RFC 3339 time from the API or from a request value, to the second (conditions carry no fraction)."""
    return datetime.strptime(stamp[:19], "%Y-%m-%dT%H:%M:%S")


def test_each_dependent_is_asked_to_reconcile_once_its_dependencies_are_ready(
        tmp_path, served, key, gotk, control_plane_bin, flux_bin_dir):
    # kustomize-controller and helm-controller look again at an object whose dependencies were not Ready only
    # after an hour here (30 s by default): the chain infra <- chain-1 <- chain-2 <- chain-3 (and infra <- apps,
    # HelmRelease hello <- hello-2) converges within the restore's timeout only if each dependent is asked to
    # reconcile once its dependency is Ready.
    slow = {"kustomize-controller": ["--requeue-dependency=1h"], "helm-controller": ["--requeue-dependency=1h"]}
    url = published(tmp_path, served, key, gotk, chain=3, after_hello=True)
    with started_cluster(tmp_path / "cluster", control_plane_bin, flux=True, flux_bin_dir=flux_bin_dir,
                         flux_args=slow) as cluster:
        done, report = restore(url, key[1], cluster.kubeconfig, tmp_path)
        assert done.code == 0, done
        ks = {name: get(cluster.kubeconfig, KS_API, "Kustomization", "flux-system", name)
              for name in ["infra", "apps", *chain_names(3)]}
        git = get(cluster.kubeconfig, "source.toolkit.fluxcd.io/v1", "GitRepository", "flux-system", "flux-system")
        releases = {name: get(cluster.kubeconfig, "helm.toolkit.fluxcd.io/v2", "HelmRelease", "shop", name)
                    for name in ("hello", "hello-2")}
    ks.update(releases)
    assert all(ready_condition(obj)["status"] == "True" for obj in ks.values())
    dependents = {("apps", "infra"), ("chain-1", "infra"), ("chain-2", "chain-1"), ("chain-3", "chain-2"),
                  ("hello-2", "hello")}  # and helm-controller's dependsOn
    for name, dependency in sorted(dependents):
        obj = ks[name]
        requested = obj["metadata"]["annotations"][REQUESTED_AT]
        # the controller handled that very request (it copies the value it reconciled for)
        assert obj["status"]["lastHandledReconcileAt"] == requested, (name, obj["status"])
        # asked only once its dependency was Ready, and Ready itself no earlier than the request
        assert at(ready_condition(ks[dependency])["lastTransitionTime"]) <= at(requested), name
        assert at(ready_condition(obj)["lastTransitionTime"]) >= at(requested), name
        # by dr-bootstrap, with a merge patch that touches only that annotation
        assert [request_only(m) for m in ours(obj) if m["operation"] == "Update"] == [True], name
    # nothing to wait for: not asked (a Kustomization may be, when it ran before the source had an artifact)
    assert REQUESTED_AT not in (ks["hello"]["metadata"].get("annotations") or {})
    # the source was asked to fetch at the hand-over, and did
    assert git["status"]["lastHandledReconcileAt"] == git["metadata"]["annotations"][REQUESTED_AT]
    assert report["reconcileRequests"] >= 1 + len(dependents)
    assert "asked to reconcile as soon as their dependencies were Ready" in done.stderr + done.stdout

