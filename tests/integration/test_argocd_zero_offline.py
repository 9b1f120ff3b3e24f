"""The secret-zero repository (tests/support/argocd_zero.py) without a cluster: `check` passes it clean, and an
Application whose source is a chart of an OCI registry (the real registry on loopback, plain HTTP as its
repository Secret says with `insecureOCIForceHttp`) is pulled by the real helm and rendered as `helm template`
renders the same chart."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from bootstrap.errors import SourceError
from tests.integration.conftest import build_repo, run_cli
from tests.support.argocd_zero import DEMO_TEMPLATE, STORE_TOKEN, demo_chart, zero_files
from tests.support.argocdrepos import by_ref, phase, render
from tests.support.charts import serve_chart_repo
from tests.support.registry import helm_bin, oci_registry
from tests.support.sops import new_age_key, write_key_file

URL = "https://git.example.com/fleet/zero.git"
PRIVATE = "https://git.example.com/fleet/private.git"


@pytest.fixture()
def keyed(tmp_path):
    age = new_age_key()
    return age, write_key_file(tmp_path / "age.agekey", age)


def test_check_passes_the_clean_secret_zero_repository(tmp_path, keyed):
    repo = build_repo(tmp_path / "zero", zero_files("zero", URL, PRIVATE, "a-token", chart=("127.0.0.1:5000",
                                                                                            "demo", "1.0.0")),
                      *keyed)
    done = run_cli("check", str(repo.path), "--age-key-file", str(keyed[1]), "-o", "json")
    assert done.code == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert report["ok"] and report["findings"] == [] and report["warnings"] == [], report
    assert sorted(Path(f["path"]).name for f in report["files"] if f["decrypts"] and f["macOk"]) == [
        "chart-repo.sops.yaml", "private-repo.sops.yaml", "store-credentials.sops.yaml"]
    assert STORE_TOKEN not in done.stdout + done.stderr and "a-token" not in done.stdout + done.stderr


def test_an_oci_chart_source_is_pulled_and_rendered_as_helm_template_renders_it(tmp_path, keyed):
    with oci_registry(tmp_path / "registry") as registry:
        chart = demo_chart(tmp_path / "charts")
        registry.push(chart.package)
        repo = build_repo(tmp_path / "zero", zero_files("zero", URL, PRIVATE, "a-token",
                                                        chart=(registry.host, "demo", "1.0.0")), *keyed)
        rendered = render(repo.path, keyed[1], engine="argocd", paths=("bootstrap",), selection=("zero-chart",),
                          source=URL)
    ours = by_ref(m.body for m in phase(rendered, "argocd/zero-chart").manifests)
    done = subprocess.run([str(helm_bin()), "template", str(chart.package), "--name-template", "demo",
                           "--namespace", "zero-chart", "--include-crds"], capture_output=True, text=True, check=True)
    theirs = by_ref(d for d in yaml.safe_load_all(done.stdout) if d)
    expected = {ref.replace("ConfigMap//", "ConfigMap/zero-chart/"): {
        **body, "metadata": {**body["metadata"], "namespace": "zero-chart"}} for ref, body in theirs.items()}
    assert ours == expected
    assert ours["ConfigMap/zero-chart/demo-settings"]["data"] == {"chart": "demo-1.0.0", "greeting": "hello"}


def test_without_the_plain_http_setting_the_pull_fails_naming_chart_version_and_repository(tmp_path, keyed):
    """The registry speaks plain HTTP only: helm pulls over HTTPS unless the repository Secret says
    `insecureOCIForceHttp`, so dropping it from the Secret makes the pull fail, with the chart named."""
    with oci_registry(tmp_path / "registry") as registry:
        chart = demo_chart(tmp_path / "charts")
        registry.push(chart.package)
        files = zero_files("zero", URL, PRIVATE, "a-token", chart=(registry.host, "demo", "1.0.0"))
        files["bootstrap/chart-repo.sops.yaml"] = files["bootstrap/chart-repo.sops.yaml"].replace(
            "insecureOCIForceHttp", "unrelated")
        repo = build_repo(tmp_path / "zero", files, *keyed)
        with pytest.raises(SourceError, match=f"Application argocd/zero-chart: cannot pull chart demo version 1.0.0 "
                                              f"from {registry.host}/charts: "):
            render(repo.path, keyed[1], engine="argocd", paths=("bootstrap",), selection=("zero-chart",), source=URL)


def test_a_chart_of_an_http_helm_repository_is_pulled_by_version_and_a_missing_one_is_named(tmp_path, keyed):
    """`helm pull CHART --repo URL --version V`: 2.0.0 renders (of 1.0.0 and 2.0.0 served); 3.0.0 is named."""
    from tests.support.argocd_zero import application

    with serve_chart_repo(tmp_path / "served", {"demo": {"1.0.0": {"cm.yaml": DEMO_TEMPLATE.replace(
            "{{ .Values.greeting }}", "one")}, "2.0.0": {"cm.yaml": DEMO_TEMPLATE.replace("{{ .Values.greeting }}",
                                                                                        "two")}}}) as served:
        def files(version: str) -> dict[str, str]:
            return {"bootstrap/root.yaml": application("root", {"repoURL": URL, "targetRevision": "main",
                                                                "path": "apps"}, "argocd"),
                    "apps/demo.yaml": application("demo", {"repoURL": served.url, "chart": "demo",
                                                           "targetRevision": version}, "demo")}

        good = build_repo(tmp_path / "good", files("2.0.0"), *keyed)
        rendered = render(good.path, keyed[1], engine="argocd", paths=("bootstrap",), selection=("all",), source=URL)
        assert [(m.ref.kind, m.ref.namespace, m.ref.name, m.body["data"])
                for m in phase(rendered, "argocd/demo").manifests] == [
            ("ConfigMap", "demo", "demo-settings", {"chart": "demo-2.0.0", "greeting": "two"})]
        missing = build_repo(tmp_path / "missing", files("3.0.0"), *keyed)
        with pytest.raises(SourceError, match=f"^Application argocd/demo: cannot pull chart demo version 3.0.0 "
                                              f"from {served.url}: "):
            render(missing.path, keyed[1], engine="argocd", paths=("bootstrap",), selection=("all",), source=URL)
