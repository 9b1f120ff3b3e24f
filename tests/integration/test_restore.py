"""`dr-bootstrap restore` end to end against the real local control plane (issue 4).

One realistic GitOps repo is restored once per module (and re-run once); most tests assert on that
shared result. Failure modes get small repos of their own; "nothing written" is proved on a cluster
nobody else writes to.
"""

from __future__ import annotations

import base64
import json
import secrets
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest

from bootstrap.kube import Cluster
from bootstrap.model import ObjectRef
from tests.integration.conftest import (
    CliResult,
    GitOpsRepo,
    git,
    read_json,
    run_cli,
    snapshot,
    unique,
)
from tests.support import fluxrepos
from tests.support.sops import new_age_key, write_key_file

pytestmark = pytest.mark.cluster

OBJECT_FIELDS = {"phase", "kind", "namespace", "name", "action", "status", "seconds", "message", "wave", "source"}
PHASE_FIELDS = {"name", "started", "finished", "seconds", "result", "clusterWaitSeconds"}
SSA_MANAGER = "dr-bootstrap"
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


# ------------------------------------------------------------------------------------------ the repo


@dataclass(frozen=True)
class Tree:
    """What the restore repo defines: its files, and what the cluster must hold afterwards."""

    app: str  # namespace of the stateless apps
    data: str  # namespace of the database
    group: str  # API group of the CRD
    files: dict[str, str]
    secrets: dict[tuple[str, str], dict[str, str]]  # (namespace, name) -> decrypted key -> value

    @property
    def crd(self) -> str:
        return f"gadgets.{self.group}"

    def refs(self) -> list[ObjectRef]:
        a, d = self.app, self.data
        return [
            ObjectRef("v1", "Namespace", None, a),
            ObjectRef("v1", "Namespace", None, d),
            ObjectRef("apiextensions.k8s.io/v1", "CustomResourceDefinition", None, self.crd),
            ObjectRef(f"{self.group}/v1", "Gadget", a, "widget"),
            ObjectRef("v1", "ConfigMap", a, "web-config"),
            *(ObjectRef("v1", "Secret", ns, name) for ns, name in self.secrets),
            ObjectRef("v1", "Service", a, "web"),
            ObjectRef("apps/v1", "Deployment", a, "web"),
            ObjectRef("apps/v1", "DaemonSet", a, "agent"),
            ObjectRef("apps/v1", "StatefulSet", d, "db"),
            ObjectRef("batch/v1", "Job", a, "migrate"),
        ]

    def values(self) -> set[str]:
        return {v for data in self.secrets.values() for v in data.values()}


def container(name: str, **spec) -> dict:
    return {"name": name, "image": "registry.example/restore/app:1.0", **spec}


def workload(kind: str, namespace: str, name: str, pod_spec: dict, **spec) -> str:
    labels = {"app": name}
    body = {"apiVersion": "batch/v1" if kind == "Job" else "apps/v1", "kind": kind,
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"template": {"metadata": {"labels": labels}, "spec": pod_spec}, **spec}}
    if kind != "Job":
        body["spec"]["selector"] = {"matchLabels": labels}
    return json.dumps(body, indent=1)  # JSON is YAML; a .yaml file either way


def restore_tree() -> Tree:
    app, data, group = unique("rs-app"), unique("rs-data"), f"{unique('t')}.example.com"
    token = lambda: secrets.token_hex(12)  # noqa: E731  distinctive values: a leak is unmistakable
    tls = {"tls.crt": f"-----BEGIN FAKE CERT-----\n{token()}\n-----END FAKE CERT-----\n", "tls.key": f"key-{token()}"}
    metrics = {"token": f"tökén-{token()}"}
    db = {"username": f"user-{token()}", "password": f'p@ss:w0rd/"{token()}" #not-a-comment'}
    env = {"API_KEY": f"api-{token()}", "FEATURE_FLAGS": f"search,{token()}"}
    b64 = lambda s: base64.b64encode(s.encode()).decode()  # noqa: E731
    files = {
        # a custom resource in a file that sorts before its CRD, and every namespace defined last
        "apps/a-gadget.yaml": f"apiVersion: {group}/v1\nkind: Gadget\nmetadata: {{name: widget, namespace: {app}}}\n"
                              "spec: {size: 3}\n",
        "apps/api-tls.sops.yaml": json.dumps({
            "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "api-tls", "namespace": app},
            "type": "Opaque", "data": {k: b64(v) for k, v in tls.items()}}, indent=1, ensure_ascii=False),
        "apps/metrics-token.sops.json": json.dumps({
            "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "metrics-token", "namespace": app},
            "stringData": metrics}, indent=1, ensure_ascii=False),
        "apps/app.enc.env": "# generated into Secret app-env\n" + "".join(f"{k}={v}\n" for k, v in env.items()),
        "apps/kustomization.yaml": f"apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
                                   f"namespace: {app}\nresources: [a-gadget.yaml, api-tls.sops.yaml, "
                                   "metrics-token.sops.json, configmap.yaml, service.yaml, deployment.yaml, "
                                   "daemonset.yaml, job.yaml]\nsecretGenerator:\n"
                                   "  - {name: app-env, envs: [app.enc.env]}\n"
                                   "generatorOptions: {disableNameSuffixHash: true}\n",
        "apps/configmap.yaml": f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: web-config, namespace: {app}}}\n"
                               "data: {LOG_LEVEL: info}\n",
        "apps/service.yaml": f"apiVersion: v1\nkind: Service\nmetadata: {{name: web, namespace: {app}}}\n"
                             "spec: {selector: {app: web}, ports: [{port: 80}]}\n",
        "apps/deployment.yaml": workload("Deployment", app, "web", {
            "containers": [container(
                "web",
                envFrom=[{"secretRef": {"name": "app-env"}}, {"configMapRef": {"name": "web-config"}}],
                env=[{"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "metrics-token", "key": "token"}}}],
                volumeMounts=[{"name": "tls", "mountPath": "/tls"}],
            )],
            "volumes": [{"name": "tls", "secret": {"secretName": "api-tls"}}],
        }, replicas=2),
        "apps/daemonset.yaml": workload("DaemonSet", app, "agent", {"containers": [container(
            "agent", env=[{"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "metrics-token", "key": "token"}}}],
        )]}),
        "apps/job.yaml": workload("Job", app, "migrate", {
            "restartPolicy": "Never", "containers": [container("migrate", envFrom=[{"secretRef": {"name": "app-env"}}])],
        }, backoffLimit=0),
        "data/db.sops.yaml": json.dumps({
            "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db", "namespace": data},
            "stringData": db}, indent=1),
        "data/statefulset.yaml": workload("StatefulSet", data, "db", {"containers": [container(
            "db", env=[{"name": k.upper(), "valueFrom": {"secretKeyRef": {"name": "db", "key": k}}} for k in db],
        )]}, serviceName="db", replicas=1),
        "crds/gadgets.yaml": fluxrepos.dump(fluxrepos.crd(group, "Gadget", "gadgets", schema={
            "type": "object", "properties": {"spec": {"type": "object", "properties": {"size": {"type": "integer"}}}}})),
        "zz-namespaces.yaml": f"apiVersion: v1\nkind: Namespace\nmetadata: {{name: {app}}}\n---\n"
                              f"apiVersion: v1\nkind: Namespace\nmetadata: {{name: {data}}}\n",
    }
    secret_values = {(app, "api-tls"): tls, (app, "metrics-token"): metrics, (app, "app-env"): env, (data, "db"): db}
    return Tree(app, data, group, files, secret_values)


# ------------------------------------------------------------------------------------------ the shared restore


@dataclass(frozen=True)
class Restored:
    tree: Tree
    repo: GitOpsRepo
    kubeconfig: Path
    first: CliResult
    report: dict
    junit: Path
    rerun: CliResult


@pytest.fixture(scope="module")
def restored(make_repo, local_cluster, tmp_path_factory) -> Restored:
    tree = restore_tree()
    repo = make_repo(tree.files)
    out = tmp_path_factory.mktemp("restore-out")
    kubeconfig = local_cluster.kubeconfig
    common = [str(repo.path), "--age-key-file", str(repo.key_file), "--kubeconfig", str(kubeconfig), "--timeout", "120",
              "--yes"]  # the shared cluster holds other modules' restores (flux-system/sops-age at least)
    first = run_cli("restore", *common, "--report", str(out / "report.json"), "--junit", str(out / "junit.xml"))
    assert first.code == 0, first
    rerun = run_cli("restore", *common, "--output", "json")
    return Restored(tree, repo, kubeconfig, first, read_json(out / "report.json"), out / "junit.xml", rerun)


@pytest.fixture(scope="module")
def kube(local_cluster):
    with Cluster(str(local_cluster.kubeconfig)) as cluster:
        yield cluster


def decoded(secret: dict) -> dict[str, str]:
    return {k: base64.b64decode(v).decode() for k, v in (secret.get("data") or {}).items()}


def applied(report: dict) -> list[dict]:
    """The apply records of the report's objects, in the order their applies completed."""
    return [o for o in report["objects"] if o["phase"].endswith("apply") or o["phase"] == "install-key"]


def position(records: list[dict], kind: str, name: str, namespace: str = "") -> int:
    matches = [i for i, o in enumerate(records) if (o["kind"], o["namespace"], o["name"]) == (kind, namespace, name)]
    assert len(matches) == 1, (kind, namespace, name, matches)
    return matches[0]


def timestamp(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_every_object_is_restored(restored, kube):
    for ref in restored.tree.refs():
        assert kube.get(ref) is not None, f"{ref} is not in the cluster"
    gadget = kube.get(ObjectRef(f"{restored.tree.group}/v1", "Gadget", restored.tree.app, "widget"))
    assert gadget["spec"] == {"size": 3}
    assert kube.get(ObjectRef("v1", "ConfigMap", restored.tree.app, "web-config"))["data"] == {"LOG_LEVEL": "info"}


def test_every_decrypted_value_is_in_the_cluster(restored, kube):
    for (namespace, name), expected in restored.tree.secrets.items():
        live = kube.get(ObjectRef("v1", "Secret", namespace, name))
        assert decoded(live) == expected, f"Secret/{namespace}/{name}"


def test_the_age_key_is_installed_where_flux_reads_it(restored, kube):
    secret = kube.get(ObjectRef("v1", "Secret", "flux-system", "sops-age"))
    assert set(secret["data"]) == {"age.agekey"}
    assert base64.b64decode(secret["data"]["age.agekey"]) == restored.repo.key_file.read_bytes()


def test_workloads_rolled_out(restored, kube):
    a, d = restored.tree.app, restored.tree.data
    assert kube.get(ObjectRef("apps/v1", "Deployment", a, "web"))["status"]["availableReplicas"] == 2
    assert kube.get(ObjectRef("apps/v1", "StatefulSet", d, "db"))["status"]["readyReplicas"] == 1
    assert kube.get(ObjectRef("apps/v1", "DaemonSet", a, "agent"))["status"]["numberAvailable"] >= 1
    assert kube.get(ObjectRef("batch/v1", "Job", a, "migrate"))["status"]["succeeded"] == 1
    statuses = {(o["kind"], o["name"]): o["status"] for o in restored.report["objects"]}
    for kind, name in (("Deployment", "web"), ("DaemonSet", "agent"), ("StatefulSet", "db"), ("Job", "migrate")):
        assert statuses[(kind, name)] == "Current", (kind, name, statuses)


def test_applies_come_in_dependency_order(restored):
    records, tree = applied(restored.report), restored.tree
    for namespace in (tree.app, tree.data):
        ns_at = position(records, "Namespace", namespace)
        members = [i for i, o in enumerate(records) if o["namespace"] == namespace]
        assert members and ns_at < min(members), f"Namespace/{namespace} applied after one of its objects"
    assert position(records, "CustomResourceDefinition", tree.crd) < position(records, "Gadget", "widget", tree.app)
    first_workload = min(position(records, k, n, ns) for k, ns, n in (
        ("Deployment", tree.app, "web"), ("DaemonSet", tree.app, "agent"),
        ("StatefulSet", tree.data, "db"), ("Job", tree.app, "migrate")))
    last_secret = max(position(records, "Secret", name, ns) for ns, name in tree.secrets)
    assert last_secret < first_workload
    assert position(records, "Secret", "sops-age", "flux-system") == 0  # the key before everything else


def test_custom_resource_created_after_its_crd_was_established(restored, kube):
    crd = kube.get(ObjectRef("apiextensions.k8s.io/v1", "CustomResourceDefinition", None, restored.tree.crd))
    established = next(c for c in crd["status"]["conditions"] if c["type"] == "Established")
    assert established["status"] == "True"
    gadget = kube.get(ObjectRef(f"{restored.tree.group}/v1", "Gadget", restored.tree.app, "widget"))
    # second resolution on both sides: "not before" is what can be proved
    assert timestamp(gadget["metadata"]["creationTimestamp"]) >= timestamp(established["lastTransitionTime"])


def test_report_fields(restored):
    report, repo = restored.report, restored.repo
    assert report["result"] == "succeeded" and report["error"] is None
    assert report["commit"] == repo.commit
    assert report["keyRecipient"] == repo.key.recipient
    names = [p["name"] for p in report["phases"]]
    assert names[:4] == ["clone", "render", "validate", "install-key"]
    assert any(n.endswith("apply") for n in names) and any(n.endswith("verify") for n in names)
    for phase in report["phases"]:
        assert set(phase) == PHASE_FIELDS
        assert phase["result"] == "succeeded"
        assert timestamp(phase["started"]) <= timestamp(phase["finished"])
        assert 0 <= phase["seconds"] <= report["seconds"]
        assert 0 <= phase["clusterWaitSeconds"] <= phase["seconds"]
    # the cluster's share of the run: requests in flight and rollout waits, never more than the run itself
    waits = {p["name"]: p["clusterWaitSeconds"] for p in report["phases"]}
    assert waits["clone"] == 0 and waits["render"] == 0
    assert all(w > 0 for n, w in waits.items() if n.endswith("apply") or n.endswith("verify"))
    assert sum(waits.values()) <= report["clusterWaitSeconds"] <= report["seconds"]
    restored_refs = {(o["kind"], o["namespace"], o["name"]) for o in report["objects"]}
    for ref in restored.tree.refs():
        assert (ref.kind, ref.namespace or "", ref.name) in restored_refs, ref
    for obj in report["objects"]:
        assert set(obj) == OBJECT_FIELDS
        if obj["phase"].endswith(": verify"):  # a verify phase's record: how the object ended up
            assert (obj["action"], obj["status"]) == ("verified", "Current"), obj
        elif obj["namespace"] != "flux-system":  # the key Secret may be there from an earlier restore
            assert obj["action"] == "created", obj  # brand-new namespaces: everything is new
        assert obj["seconds"] >= 0 and isinstance(obj["message"], str)


def test_no_secret_value_leaks_into_reports_or_output(restored):
    outputs = {
        "report": json.dumps(restored.report, ensure_ascii=False),
        "junit": restored.junit.read_text(),
        "stdout": restored.first.stdout + restored.rerun.stdout,
        "stderr": restored.first.stderr + restored.rerun.stderr,
    }
    forms = set()
    for value in restored.tree.values():
        forms |= {value, base64.b64encode(value.encode()).decode(), json.dumps(value, ensure_ascii=False)[1:-1]}
    forms.add(restored.repo.key.identity)
    for where, text in outputs.items():
        for form in forms:
            assert form not in text, f"a secret value appears in the {where}"
    assert "AGE-SECRET-KEY" not in "".join(outputs.values())


def test_junit_has_a_suite_per_phase_and_a_case_per_object(restored):
    root = ET.parse(restored.junit).getroot()
    assert root.tag == "testsuites" and root.get("failures") == "0"
    suites = {s.get("name"): s for s in root.findall("testsuite")}
    assert [p["name"] for p in restored.report["phases"]] == [n for n in suites if n != "run"]
    for phase in restored.report["phases"]:
        cases = [c.get("name") for c in suites[phase["name"]].findall("testcase")]
        expected = [f"{o['kind']}/{o['namespace'] + '/' if o['namespace'] else ''}{o['name']}"
                    for o in restored.report["objects"] if o["phase"] == phase["name"]]
        assert cases == expected
        assert suites[phase["name"]].get("tests") == str(len(expected))
    cases = [c.get("name") for s in suites.values() for c in s.findall("testcase")]
    assert f"Gadget/{restored.tree.app}/widget" in cases and f"StatefulSet/{restored.tree.data}/db" in cases


def test_rerun_converges_with_every_object_unchanged(restored):
    assert restored.rerun.code == 0, restored.rerun
    report = json.loads(restored.rerun.stdout)  # --output json prints the report and nothing else
    assert report["result"] == "succeeded" and report["commit"] == restored.repo.commit
    actions = {(o["kind"], o["namespace"], o["name"]): o["action"] for o in applied(report)}
    assert len(actions) == len(restored.tree.refs()) + 1  # + the key Secret
    assert set(actions.values()) == {"unchanged"}, actions


def test_objects_are_server_side_applied_by_dr_bootstrap(restored, kube):
    for ref in [*restored.tree.refs(), ObjectRef("v1", "Secret", "flux-system", "sops-age")]:
        meta = kube.get(ref)["metadata"]
        assert LAST_APPLIED not in (meta.get("annotations") or {}), ref
        appliers = {f["manager"] for f in meta["managedFields"] if f["operation"] == "Apply"}
        assert appliers == {SSA_MANAGER}, (ref, appliers)


# ------------------------------------------------------------------------------------------ fast failures


def broken_app_repo(make_repo, namespace: str, *, annotations: dict | None = None, missing_key: bool = False):
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "creds", "namespace": namespace},
              "stringData": {"present": f"v-{secrets.token_hex(8)}"}}  # hex alone can read as a number, as Go reads it
    pod = {"containers": [container("app", env=[{"name": "X", "valueFrom": {"secretKeyRef": {
        "name": "creds", "key": "absent" if missing_key else "present"}}}])]}
    body = json.loads(workload("Deployment", namespace, "api", pod, replicas=1))
    body["spec"]["template"]["metadata"]["annotations"] = annotations or {}
    return make_repo({
        "ns.yaml": f"apiVersion: v1\nkind: Namespace\nmetadata: {{name: {namespace}}}\n",
        "creds.sops.yaml": json.dumps(secret),
        "deploy.yaml": json.dumps(body),
    })


@pytest.mark.parametrize(
    "case, expected",
    [
        ("crashloop", ["CrashLoopBackOff"]),
        ("missing-secret-key", ["CreateContainerConfigError", "absent"]),
    ],
)
def test_broken_workload_fails_fast_with_its_cause(make_repo, local_cluster, tmp_path, case, expected):
    namespace = unique("rs-broken")
    repo = broken_app_repo(make_repo, namespace, annotations={"dr-bootstrap.io/simulate": "crashloop"}
                           if case == "crashloop" else None, missing_key=case == "missing-secret-key")
    result = run_cli("restore", str(repo.path), "--yes", "--age-key-file", str(repo.key_file),
                     "--kubeconfig", str(local_cluster.kubeconfig), "--timeout", "120",
                     "--report", str(tmp_path / "report.json"))
    assert result.code == 6, result
    assert "rollout not complete" not in result.stderr, result  # fast-fail: the cause ended it, not the 120 s timeout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result
    assert f"Deployment/{namespace}/api" in lines[0] and "api-" in lines[0], result  # the workload and its pod
    for cause in expected:
        assert cause in lines[0], result
    report = read_json(tmp_path / "report.json")
    assert report["result"] == "failed" and report["error"]["exitCode"] == 6
    assert report["phases"][-1]["result"] == "failed" and report["phases"][-1]["name"].endswith("verify")
    failed = [o for o in report["objects"] if o["status"] == "Failed"]
    assert [(o["kind"], o["name"]) for o in failed] == [("Deployment", "api")]


# ------------------------------------------------------------------------------------------ nothing written


@pytest.fixture(scope="module")
def small_repo(make_repo) -> GitOpsRepo:
    namespace = unique("rs-small")
    return broken_app_repo(make_repo, namespace)


def restore_into(cluster, repo_path: Path, key_file: Path, *extra: str) -> CliResult:
    return run_cli("restore", str(repo_path), "--yes", "--age-key-file", str(key_file),
                   "--kubeconfig", str(cluster.kubeconfig), "--timeout", "60", *extra)


def test_wrong_key_exits_4_and_writes_nothing(small_repo, pristine_cluster, tmp_path):
    before = snapshot(pristine_cluster.kubeconfig)
    wrong = write_key_file(tmp_path / "wrong.agekey", new_age_key())
    result = restore_into(pristine_cluster, small_repo.path, wrong)
    assert result.code == 4, result
    assert "creds.sops.yaml" in result.stderr and len(result.stderr.strip().splitlines()) == 1, result
    assert snapshot(pristine_cluster.kubeconfig) == before


def test_tampered_file_exits_4_and_writes_nothing(small_repo, pristine_cluster, tmp_path):
    tampered = tmp_path / "tampered"
    git(tmp_path, "clone", "-q", str(small_repo.path), str(tampered))
    path = tampered / "creds.sops.yaml"
    text = path.read_text()
    at = text.index("ENC[AES256_GCM,data:") + len("ENC[AES256_GCM,data:")
    path.write_text(text[:at] + ("A" if text[at] != "A" else "B") + text[at + 1:])
    git(tampered, "commit", "-q", "-am", "edit outside sops")
    before = snapshot(pristine_cluster.kubeconfig)
    result = restore_into(pristine_cluster, tampered, small_repo.key_file)
    assert result.code == 4, result
    assert "creds.sops.yaml" in result.stderr and len(result.stderr.strip().splitlines()) == 1, result
    assert snapshot(pristine_cluster.kubeconfig) == before


def test_dry_run_writes_nothing(small_repo, pristine_cluster, tmp_path):
    before = snapshot(pristine_cluster.kubeconfig)
    result = restore_into(pristine_cluster, small_repo.path, small_repo.key_file, "--dry-run",
                          "--report", str(tmp_path / "report.json"))
    assert result.code == 0, result
    report = read_json(tmp_path / "report.json")
    assert report["result"] == "succeeded"
    actions = {(o["kind"], o["name"]): (o["action"], o["message"]) for o in applied(report)}
    namespace = next(name for kind, name in actions if kind == "Namespace")
    assert actions[("Namespace", namespace)][0] == "dry-run"
    assert actions[("Secret", "sops-age")][0] == "dry-run"
    # the server cannot check members of a namespace that does not exist yet: said, not silently dropped
    for member in (("Secret", "creds"), ("Deployment", "api")):
        assert actions[member] == ("skipped", f"not checked: Namespace/{namespace} does not exist before the "
                                              "restore creates it"), actions
    assert snapshot(pristine_cluster.kubeconfig) == before


def test_unknown_ref_exits_3(small_repo, pristine_cluster):
    result = restore_into(pristine_cluster, small_repo.path, small_repo.key_file, "--ref", "no-such-branch")
    assert result.code == 3, result
    assert "no-such-branch" in result.stderr and len(result.stderr.strip().splitlines()) == 1, result


def test_key_secret_key_not_ending_in_agekey_is_refused(small_repo, pristine_cluster):
    before = snapshot(pristine_cluster.kubeconfig)
    result = restore_into(pristine_cluster, small_repo.path, small_repo.key_file, "--key-secret-key", "foo")
    assert result.code == 2, result
    assert "--key-secret-key" in result.stderr and ".agekey" in result.stderr, result
    assert snapshot(pristine_cluster.kubeconfig) == before
