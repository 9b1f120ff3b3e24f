"""`--helm NAMESPACE/NAME`: the Helm releases installed before the phases, as `plan` lists them (no cluster, no
chart pulled), on a repository in today's cluster-template shape (`tests.support.helmrepos`).

- through the command line: the install order (dependsOn among the named releases, the order given where
  free), the lines before the phases, the report's `helmReleases`, a playbook's `helmReleases`; a name the
  restore does not render is exit 2 listing those found;
- the engine's rules (`engines.flux.helmreleases`), on rendered objects made here: the chart from an
  OCIRepository (digest, semver, tag, latest) or a HelmRepository (https and oci), helm-controller's release
  name, namespaces and dependsOn defaults; what is refused (chartRef HelmChart and ExternalArtifact, a
  GitRepository chart, a source not rendered, a cycle);
- without a helm binary, restore and drill stop before anything is cloned or a cluster made (exit 2, one line
  saying how to get one); a playbook's releases stop the restore before the cluster is asked anything.
  The installs themselves: tests/integration/test_helm_install.py.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bootstrap.commands.options import RestoreOptions, check_options
from bootstrap.engines import get
from bootstrap.engines.base import Rendered, RenderedPhase, ValuesFrom
from bootstrap.errors import ExitCode, UsageError, ValidationError
from bootstrap.manifests import ref_of
from bootstrap.model import Manifest
from bootstrap.report.model import RunReport, to_dict
from bootstrap.report.progress import QuietProgress
from bootstrap.report.run import Run, new_report
from bootstrap.stages import helm
from bootstrap.stages.playbook import parse_playbook
from tests.support.fluxrepos import write_repo
from tests.support.helmrepos import cluster_template_helm, helm_repository, oci_repository
from tests.support.sops import new_age_key, write_key_file

WORKTREE = Path(__file__).resolve().parents[2]
ENTRY = "kubernetes/flux/cluster"
# given out of order: the install order comes from dependsOn, then from the order given
GIVEN = ["flux-system/flux-instance", "kube-system/coredns", "kube-system/cilium", "cert-manager/cert-manager",
         "flux-system/flux-operator", "kube-system/spegel"]
ORDER = ["kube-system/cilium", "kube-system/coredns", "kube-system/spegel", "cert-manager/cert-manager",
         "flux-system/flux-operator", "flux-system/flux-instance"]


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> tuple[Path, Path]:
    """The repository and a key file (the template decrypts with sops; nothing here is encrypted)."""
    base = tmp_path_factory.mktemp("helm")
    key = new_age_key()
    path = write_repo(base / "repo", cluster_template_helm(), lambda rel: [key.recipient]).path
    return path, write_key_file(base / "age.agekey", key)


def dr_bootstrap(*args: str, home: Path) -> subprocess.CompletedProcess:
    """`python -m bootstrap ARGS` from this worktree (its code, not another checkout's)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SOPS_", "KUBECONFIG", "DR_BOOTSTRAP_"))}
    env.update(NO_COLOR="1", COLUMNS="200", HOME=str(home), XDG_CACHE_HOME=str(home / ".cache"))  # a fresh home
    return subprocess.run([sys.executable, "-m", "bootstrap", *args], cwd=WORKTREE, capture_output=True, text=True,
                          env=env, timeout=300, stdin=subprocess.DEVNULL)


def helm_flags(names: list[str]) -> list[str]:
    return [arg for name in names for arg in ("--helm", name)]


# -- through the command line


def test_plan_lists_the_releases_in_install_order_before_the_phases(repo, tmp_path):
    path, key = repo
    report = tmp_path / "report.json"
    done = dr_bootstrap("plan", str(path), "--path", ENTRY, "-k", "all", "--age-key-file", str(key),
                        "--report", str(report), *helm_flags(GIVEN), home=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = [line for line in done.stdout.splitlines() if not line.startswith("    ")]  # progress lines are timed
    start = lines.index("Helm releases, installed before the phases:")
    assert lines[start + 1:start + 7] == [
        "  1. kube-system/cilium: cilium 1.18.1 from oci://ghcr.io/home-operations/charts-mirror",
        "  2. kube-system/coredns: coredns 1.43.0 from oci://ghcr.io/coredns/charts",
        "  3. kube-system/spegel: spegel 0.3.0 from oci://ghcr.io/spegel-org/helm-charts",
        "  4. cert-manager/cert-manager: cert-manager v1.18.2 from oci://quay.io/jetstack/charts",
        "  5. flux-system/flux-operator: flux-operator 0.28.0 from oci://ghcr.io/controlplaneio-fluxcd/charts",
        "  6. flux-system/flux-instance: flux-instance 0.28.0 from oci://ghcr.io/controlplaneio-fluxcd/charts",
    ]
    assert lines[start + 7].startswith("phase "), "the releases come before the phases"
    doc = json.loads(report.read_text())
    assert [f"{h['namespace']}/{h['name']}" for h in doc["helmReleases"]] == ORDER
    assert doc["helmReleases"][0] == {
        "namespace": "kube-system", "name": "cilium", "chart": "cilium", "version": "1.18.1",
        "repository": "oci://ghcr.io/home-operations/charts-mirror", "releaseName": "cilium",
        "targetNamespace": "kube-system", "storageNamespace": "kube-system",
        "source": "OCIRepository kube-system/cilium",
        "dependsOn": [], "status": "planned"}
    assert doc["helmReleases"][-1]["dependsOn"] == ["flux-system/flux-operator"]
    assert "values" not in json.dumps(doc["helmReleases"])  # the values are never reported
    assert [p["name"] for p in doc["phases"]][:3] == ["clone", "render", "helm"]


def test_plan_json_takes_the_releases_from_a_playbook_too(repo, tmp_path):
    path, key = repo
    playbook = tmp_path / "dr-bootstrap.yaml"
    playbook.write_text("apiVersion: dr-bootstrap.io/v1alpha1\nkind: Playbook\nspec:\n  phases: [{name: all}]\n"
                        "  helmReleases: [kube-system/reloader, kube-system/cilium]\n")
    done = dr_bootstrap("plan", str(path), "--path", ENTRY, "-k", "all", "--age-key-file", str(key),
                        "--playbook", str(playbook), "--helm", "kube-system/cilium", "-o", "json", home=tmp_path)
    assert done.returncode == 0, done.stderr
    releases = json.loads(done.stdout)["helmReleases"]  # stdout: the report, nothing else
    assert [(h["name"], h["chart"], h["version"], h["repository"]) for h in releases] == [
        ("cilium", "cilium", "1.18.1", "oci://ghcr.io/home-operations/charts-mirror"),
        ("reloader", "reloader", "2.1.0", "https://stakater.github.io/stakater-charts"),
    ]
    assert releases[1]["source"] == "HelmRepository kube-system/reloader"


def test_a_release_the_restore_does_not_render_is_exit_2_listing_those_found(repo, tmp_path):
    path, key = repo
    # without -k all only cluster-apps' own objects are rendered: the apps' Kustomizations, not their releases
    done = dr_bootstrap("plan", str(path), "--path", ENTRY, "-k", "flux-operator", "--age-key-file", str(key),
                        "--helm", "kube-system/cilium", home=tmp_path)
    assert done.returncode == ExitCode.USAGE, done.stdout + done.stderr
    [error] = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert error.startswith("error: HelmRelease kube-system/cilium (to install before the phases) is not in what "
                            "this restore renders (HelmReleases found: flux-system/flux-operator)")
    assert "--kustomization" in error


def test_restore_without_a_helm_binary_stops_before_cloning(tmp_path):
    missing = tmp_path / "no-such-helm"
    done = dr_bootstrap("restore", str(tmp_path / "no-such-repo"), "--helm", "kube-system/cilium",
                        "--helm-bin", str(missing), home=tmp_path)
    assert done.returncode == ExitCode.USAGE, done.stderr  # not 3: nothing was cloned
    [line] = done.stderr.splitlines()
    assert line.startswith(f"error: --helm-bin {missing}: no helm binary to install the Helm releases with"), line
    assert "make helm" in line and "PATH" in line


def test_restore_without_helm_on_path_says_how_to_get_one(tmp_path):
    import shutil

    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "git").symlink_to(shutil.which("git"))  # git, and no helm, on this PATH
    env_path = os.environ["PATH"]
    os.environ["PATH"] = str(tmp_path / "bin")  # dr_bootstrap copies the environment
    try:
        done = dr_bootstrap("restore", str(tmp_path / "no-such-repo"), "--helm", "kube-system/cilium", home=tmp_path)
    finally:
        os.environ["PATH"] = env_path
    assert done.returncode == ExitCode.USAGE, done.stderr
    [line] = done.stderr.splitlines()
    assert line.startswith("error: helm on PATH: no helm binary") and "make helm" in line, line


def test_a_helm_that_is_not_v4_is_refused(tmp_path):
    from bootstrap import helmcli

    old = tmp_path / "helm"
    old.write_text("#!/bin/sh\necho v3.19.0\n")
    old.chmod(0o755)
    with pytest.raises(UsageError, match=r"is helm v3\.19\.0; .* needs helm v4"):
        helmcli.find(str(old))


def test_drill_without_a_helm_binary_stops_before_making_a_cluster():
    from bootstrap.commands import drill

    opts = RestoreOptions(repo_url="/no/such/repo", helm=("kube-system/cilium",), helm_bin="/no/such/helm")
    with pytest.raises(UsageError, match="no helm binary"):
        drill.run_drill(opts, drill.DrillOptions(cluster="kind"), QuietProgress(errors=io.StringIO()), None,
                        confirm=lambda question: pytest.fail("asked"))


@pytest.mark.parametrize("value, problem", [
    ("cilium", "expected NAMESPACE/NAME"), ("kube-system/", "expected NAMESPACE/NAME"),
    ("a/b/c", "expected NAMESPACE/NAME"), ("Kube_System/cilium", "is not a DNS label"),
    ("kube-system/Cilium", "is not a DNS subdomain")])
def test_a_malformed_helm_flag_is_refused_before_anything_runs(value, problem):
    with pytest.raises(UsageError, match=f"--helm '{value}': .*{problem}"):
        check_options(RestoreOptions(repo_url="x", helm=(value,)))


def test_the_playbook_field_is_checked_like_the_flag():
    spec = {"apiVersion": "dr-bootstrap.io/v1alpha1", "kind": "Playbook", "spec": {"phases": [{"name": "all"}]}}
    book = parse_playbook({**spec, "spec": {**spec["spec"], "helmReleases": ["kube-system/cilium"]}}, "pb.yaml")
    assert book.helm_releases == ("kube-system/cilium",)
    with pytest.raises(ValidationError, match=r"pb.yaml: spec.helmReleases\[0\]: 'cilium': expected NAMESPACE/NAME"):
        parse_playbook({**spec, "spec": {**spec["spec"], "helmReleases": ["cilium"]}}, "pb.yaml")


# -- the engine's rules, on rendered objects


def release(name: str, namespace: str = "apps", **spec) -> dict:
    spec.setdefault("chartRef", {"kind": "OCIRepository", "name": name})
    return {"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
            "metadata": {"name": name, "namespace": namespace}, "spec": {"interval": "1h", **spec}}


def placed(doc: dict, namespace: str = "apps") -> dict:
    doc["metadata"]["namespace"] = namespace
    return doc


def rendered(*docs: dict) -> Rendered:
    manifests = [Manifest(ref_of(doc), doc, f"apps/{doc['kind'].lower()}-{doc['metadata']['name']}.yaml")
                 for doc in docs]
    return Rendered("flux", [RenderedPhase("apps", "apps", "path:apps", manifests)], "flux-system/flux-system")


def resolve(names: list[str], *docs: dict):
    return get("flux").helm_releases(rendered(*docs), names)


@pytest.mark.parametrize("ref, version, kind", [
    ({"tag": "1.2.3"}, "1.2.3", "tag"),
    ({"tag": "1.2.3", "semver": ">=1.0.0 <2.0.0"}, ">=1.0.0 <2.0.0", "semver"),
    ({"tag": "1.2.3", "semver": "1.x", "digest": "sha256:" + "a" * 64}, "sha256:" + "a" * 64, "digest"),
    (None, "latest", "tag"),
])
def test_an_oci_repository_gives_digest_then_semver_then_tag_then_latest(ref, version, kind):
    source = placed(oci_repository("web", "oci://registry.example/charts/web/", "x"))
    if ref is None:
        del source["spec"]["ref"]
    else:
        source["spec"]["ref"] = ref
    [web] = resolve(["apps/web"], release("web"), source)
    assert (web.chart, web.repository, web.version, web.version_kind) == ("web", "oci://registry.example/charts",
                                                                         version, kind)
    assert web.oci_ref == "oci://registry.example/charts/web" and web.source == "OCIRepository apps/web"


@pytest.mark.parametrize("url, oci_ref", [("https://charts.example/stable/", None),
                                          ("oci://ghcr.io/example/charts", "oci://ghcr.io/example/charts/web")])
def test_a_helm_repository_chart_https_and_oci(url, oci_ref):
    template = {"spec": {"chart": "web", "version": "~1.4",
                         "sourceRef": {"kind": "HelmRepository", "name": "example", "namespace": "flux-system"}}}
    [web] = resolve(["apps/web"], release("web", chartRef=None, chart=template),
                    placed(helm_repository("example", url), "flux-system"))
    assert (web.chart, web.repository, web.version, web.version_kind) == ("web", url.rstrip("/"), "~1.4", "semver")
    assert web.oci_ref == oci_ref and web.source == "HelmRepository flux-system/example"
    del template["spec"]["version"]
    [web] = resolve(["apps/web"], release("web", chartRef=None, chart=template),
                    placed(helm_repository("example", url), "flux-system"))
    assert web.version == "*"  # helm-controller's default: the latest


def test_an_oci_helm_repository_needs_its_type():
    template = {"spec": {"chart": "web", "sourceRef": {"kind": "HelmRepository", "name": "example"}}}
    source = placed(helm_repository("example", "oci://ghcr.io/example/charts"))
    del source["spec"]["type"]
    with pytest.raises(ValidationError, match="an oci:// url needs type: oci"):
        resolve(["apps/web"], release("web", chartRef=None, chart=template), source)


def test_release_name_and_namespaces_follow_helm_controller():
    oci = placed(oci_repository("web", "oci://r.example/c/web", "1"))
    [plain] = resolve(["apps/web"], release("web", valuesFrom=[{"kind": "ConfigMap", "name": "web-values"}],
                                            values={"replicas": 2}), oci)
    assert (plain.release_name, plain.target_namespace, plain.storage_namespace) == ("web", "apps", "apps")
    assert plain.values == {"replicas": 2} and "replicas" not in repr(plain)
    assert plain.values_from == (ValuesFrom("ConfigMap", "web-values", "values.yaml"),)
    [targeted] = resolve(["apps/web"], release("web", targetNamespace="shop", storageNamespace="helm"), oci)
    assert (targeted.release_name, targeted.target_namespace, targeted.storage_namespace) == \
        ("shop-web", "shop", "helm")
    [named] = resolve(["apps/web"], release("web", targetNamespace="shop", releaseName="store"), oci)
    assert named.release_name == "store"
    long_ns = "a-namespace-whose-name-is-long-enough"  # with "-web": 41 characters; with the long name below, 60
    long_name = f"{long_ns}-web-with-a-long-name"[:60]
    [shortened] = resolve(["apps/web"], release("web", releaseName=long_name), oci)
    assert shortened.release_name == long_name[:40] + "-" + hashlib.sha256(long_name.encode()).hexdigest()[:12]
    assert len(shortened.release_name) == 53
    [exact] = resolve(["apps/web"], release("web", releaseName="x" * 53), oci)
    assert exact.release_name == "x" * 53


def test_dependencies_order_the_named_releases_only():
    docs = [placed(oci_repository(n, f"oci://r.example/c/{n}", "1")) for n in ("db", "web", "cache")]
    docs += [release("web", dependsOn=[{"name": "db"}, {"name": "queue", "namespace": "other"}]),
             release("db", dependsOn=[{"name": "cache"}]), release("cache")]
    order = resolve(["apps/web", "apps/db"], *docs)
    assert [r.key for r in order] == ["apps/db", "apps/web"]  # cache is not named: db does not wait for it
    assert order[1].depends_on == ("apps/db", "other/queue")
    assert [r.key for r in resolve(["apps/web", "apps/db", "apps/cache"], *docs)] == ["apps/cache", "apps/db",
                                                                                       "apps/web"]


def test_a_dependency_not_named_is_noted_by_the_stage():
    docs = [placed(oci_repository(n, f"oci://r.example/c/{n}", "1")) for n in ("db", "web")]
    docs += [release("web", dependsOn=[{"name": "db"}]), release("db")]
    errors = io.StringIO()
    progress = QuietProgress(errors=errors)
    notes: list[str] = []
    progress.note = notes.append
    run = Run(RunReport("plan", scrubber=progress.scrubber), progress)
    releases = helm.plan_releases(helm.HelmOptions(("apps/web",)), rendered(*docs), None, get("flux"), run)
    assert [r.key for r in releases] == ["apps/web"]
    assert [n for n in notes if "depends on" in n] == [
        "Helm release apps/web depends on apps/db, which is not among those installed before the phases: it is "
        "installed without waiting for apps/db, which flux reconciles after the hand-over"]
    assert [(h.release.namespace, h.release.name, h.release.chart) for h in run.report.helm_releases] == [
        ("apps", "web", "web")]
    assert helm.plan_releases(helm.HelmOptions(), rendered(*docs), None, get("flux"), run) == []


def test_the_report_records_a_release_without_its_values():
    docs = [placed(oci_repository("web", "oci://r.example/c/web", "1")),
            release("web", values={"db": {"password": "pl41n-t3xt"}})]
    run = Run(RunReport("plan"), QuietProgress(errors=io.StringIO()))
    [planned] = helm.plan_releases(helm.HelmOptions(("apps/web",)), rendered(*docs), None, get("flux"), run)
    assert planned.values == {"db": {"password": "pl41n-t3xt"}}  # helm installs with them
    [record] = run.report.helm_releases
    assert record.release.key == "apps/web" and record.release.values == {}
    assert "pl41n-t3xt" not in repr(record) + json.dumps(to_dict(run.report))


def test_a_dependency_cycle_is_named():
    docs = [placed(oci_repository(n, f"oci://r.example/c/{n}", "1")) for n in ("a", "b")]
    docs += [release("a", dependsOn=[{"name": "b"}]), release("b", dependsOn=[{"name": "a"}])]
    with pytest.raises(ValidationError,
                       match="dependsOn cycle among the releases to install: apps/a -> apps/b -> apps/a"):
        resolve(["apps/a", "apps/b"], *docs)


@pytest.mark.parametrize("kind", ["HelmChart", "ExternalArtifact"])
def test_a_chart_ref_other_than_an_oci_repository_is_refused_as_unsupported(kind):
    with pytest.raises(ValidationError) as raised:
        resolve(["apps/web"], release("web", chartRef={"kind": kind, "name": "web"}))
    assert raised.value.exit_code == ExitCode.INVALID
    assert str(raised.value) == (
        f"apps/helmrelease-web.yaml: HelmRelease apps/web: spec.chartRef kind {kind} is not supported for an "
        "install before the GitOps engine (supported: a chartRef to an OCIRepository, or spec.chart from a "
        "HelmRepository)")


def test_a_chart_from_a_git_repository_is_refused_as_unsupported():
    template = {"spec": {"chart": "./charts/web", "sourceRef": {"kind": "GitRepository", "name": "flux-system"}}}
    with pytest.raises(ValidationError, match="sourceRef kind GitRepository is not supported"):
        resolve(["apps/web"], release("web", chartRef=None, chart=template))


def test_a_release_needs_exactly_one_chart():
    template = {"spec": {"chart": "web", "sourceRef": {"kind": "HelmRepository", "name": "x"}}}
    with pytest.raises(ValidationError, match="needs exactly one of spec.chartRef and spec.chart"):
        resolve(["apps/web"], release("web", chart=template))
    with pytest.raises(ValidationError, match="needs exactly one of spec.chartRef and spec.chart"):
        resolve(["apps/web"], release("web", chartRef=None))


def test_a_source_the_restore_does_not_render_is_a_usage_error():
    other_namespace = placed(oci_repository("web", "oci://r.example/c/web", "1"), "flux-system")
    with pytest.raises(UsageError, match="its spec.chartRef OCIRepository apps/web is not in what this restore "
                                         "renders"):
        resolve(["apps/web"], release("web"), other_namespace)  # the chartRef has no namespace: the release's


def test_an_unknown_name_lists_what_was_found():
    docs = [release(f"r{i:02}") for i in range(25)]
    with pytest.raises(UsageError) as raised:
        resolve(["apps/nope"], *docs)
    assert raised.value.exit_code == ExitCode.USAGE
    assert "(HelmReleases found: apps/r00, apps/r01," in str(raised.value)
    assert "apps/r19 and 5 more)" in str(raised.value)
    with pytest.raises(UsageError, match=r"HelmReleases found: none\)"):
        resolve(["apps/nope"])


def test_a_playbook_s_releases_without_helm_stop_the_restore_before_it_connects(repo, tmp_path):
    from bootstrap.commands import restore as pipeline
    from bootstrap.stages.keys import load_keyring
    from tests.support.fakeapi import FakeApiServer

    path, key = repo
    playbook = tmp_path / "dr-bootstrap.yaml"
    playbook.write_text("apiVersion: dr-bootstrap.io/v1alpha1\nkind: Playbook\nspec:\n  phases: [{name: all}]\n"
                        "  helmReleases: [kube-system/cilium]\n")
    api = FakeApiServer()
    opts = RestoreOptions(repo_url=str(path), paths=(ENTRY,), kustomizations=("all",), playbook=str(playbook),
                          helm_bin=str(tmp_path / "no-such-helm"))
    progress = QuietProgress(errors=io.StringIO())
    report = new_report("restore", opts, scrubber=progress.scrubber)
    with pytest.raises(UsageError) as raised:
        pipeline.restore(opts, Run(report, progress, make_cluster=api.cluster), keyring=load_keyring(str(key)))
    assert str(raised.value).startswith(f"--helm-bin {tmp_path / 'no-such-helm'}: no helm binary")
    assert api.requests == []  # refused before the cluster was asked anything
