"""The secret-zero repository (tests/support/argocd_zero.py) without a cluster: `check` passes it clean, and an
Application whose source is a chart of an OCI registry (the real registry on loopback, plain HTTP as its
repository Secret says with `insecureOCIForceHttp`) is pulled by the real helm and rendered as `helm template`
renders the same chart."""

from __future__ import annotations

import subprocess

import pytest
import yaml

from tests.integration.conftest import build_repo, run_cli
from tests.support.argocd_zero import STORE_TOKEN, zero_files
from tests.support.argocdrepos import by_ref, render
from tests.support.charts import package_chart
from tests.support.registry import helm_bin, oci_registry
from tests.support.sops import new_age_key, write_key_file

URL = "https://git.example.com/fleet/zero.git"
PRIVATE = "https://git.example.com/fleet/private.git"
TEMPLATE = """apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-settings
data:
  chart: {{ .Chart.Name }}-{{ .Chart.Version }}
  greeting: {{ .Values.greeting }}
"""


@pytest.fixture()
def keyed(tmp_path):
    age = new_age_key()
    return age, write_key_file(tmp_path / "age.agekey", age)


def test_check_passes_the_clean_secret_zero_repository(tmp_path, keyed):
    repo = build_repo(tmp_path / "zero", zero_files("zero", URL, PRIVATE, "a-token", chart=("127.0.0.1:5000",
                                                                                            "demo", "1.0.0")),
                      *keyed)
    done = run_cli("check", str(repo.path), "--age-key-file", str(keyed[1]))
    assert done.code == 0, done.stdout + done.stderr
    assert STORE_TOKEN not in done.stdout + done.stderr and "a-token" not in done.stdout + done.stderr


def test_an_oci_chart_source_is_pulled_and_rendered_as_helm_template_renders_it(tmp_path, keyed):
    with oci_registry(tmp_path / "registry") as registry:
        chart = package_chart(tmp_path / "charts", "demo", "1.0.0", {"configmap.yaml": TEMPLATE},
                              values={"greeting": "hello"})
        registry.push(chart.package)
        repo = build_repo(tmp_path / "zero", zero_files("zero", URL, PRIVATE, "a-token",
                                                        chart=(registry.host, "demo", "1.0.0")), *keyed)
        rendered = render(repo.path, keyed[1], engine="argocd", paths=("bootstrap",), selection=("zero-chart",),
                          source=URL)
    [phase] = [p for p in rendered.phases if p.name == "argocd/zero-chart"]
    ours = by_ref(m.body for m in phase.manifests)
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
    from bootstrap.errors import SourceError

    with oci_registry(tmp_path / "registry") as registry:
        chart = package_chart(tmp_path / "charts", "demo", "1.0.0", {"configmap.yaml": TEMPLATE},
                              values={"greeting": "hello"})
        registry.push(chart.package)
        files = zero_files("zero", URL, PRIVATE, "a-token", chart=(registry.host, "demo", "1.0.0"))
        files["bootstrap/chart-repo.sops.yaml"] = files["bootstrap/chart-repo.sops.yaml"].replace(
            "insecureOCIForceHttp", "unrelated")
        repo = build_repo(tmp_path / "zero", files, *keyed)
        with pytest.raises(SourceError, match=f"Application argocd/zero-chart: cannot pull chart demo version 1.0.0 "
                                              f"from {registry.host}/charts: "):
            render(repo.path, keyed[1], engine="argocd", paths=("bootstrap",), selection=("zero-chart",), source=URL)
