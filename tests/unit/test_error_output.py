"""Errors an operator can read: many problems as one summary by cause, the first few in full, all in the
reports, and said once where one reader sees both streams."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from bootstrap.cli.entry import guarded
from bootstrap.errors import ExitCode, RolloutError, ValidationError, error_lines
from bootstrap.manifests import ref_of, validate_manifests
from bootstrap.model import Manifest, ObjectRef
from bootstrap.problems import Problem, summarize
from bootstrap.report.model import RunReport, Scrubber
from bootstrap.stages.verify import timeout_error
from bootstrap.cli.runner import _run
from bootstrap.status import Health, Status

SECRET = "hunter2-db-password"
FLUX_KINDS = [("helm.toolkit.fluxcd.io/v2", "HelmRelease", 20), ("kustomize.toolkit.fluxcd.io/v1", "Kustomization", 12),
              ("source.toolkit.fluxcd.io/v1", "GitRepository", 8), ("source.toolkit.fluxcd.io/v1beta2", "OCIRepository", 4),
              ("source.toolkit.fluxcd.io/v1", "HelmRepository", 2)]


def cluster_template_objects() -> list[Manifest]:
    """46 Flux objects, as a cluster-template repository renders them, for a cluster without Flux's CRDs."""
    out = []
    for api_version, kind, count in FLUX_KINDS:
        for n in range(count):
            body = {"apiVersion": api_version, "kind": kind, "metadata": {"name": f"{kind.lower()}-{n}", "namespace": "flux-system"}}
            out.append(Manifest(ref=ref_of(body), body=body, source=f"kubernetes/apps/{kind.lower()}-{n}.yaml"))
    return out


def no_flux(api_version: str, kind: str) -> bool:
    return "toolkit.fluxcd.io" not in api_version


def validation_error() -> ValidationError:
    with pytest.raises(ValidationError) as exc:
        validate_manifests(cluster_template_objects(), known_kind=no_flux)
    return exc.value


# ------------------------------------------------------------------------------------ grouping


def test_46_missing_crds_are_one_summary_line_by_cause_with_counts_and_the_fix():
    err = validation_error()
    assert err.message == ("manifests are not valid (46 problems): 46 objects of kinds no CRD defines "
                           "(HelmRelease ×20, Kustomization ×12, GitRepository ×8, OCIRepository ×4, and 1 more kind); "
                           "the first: kubernetes/apps/helmrelease-0.yaml: HelmRelease/flux-system/helmrelease-0: "
                           "no CRD defines HelmRelease.helm.toolkit.fluxcd.io")
    assert err.hint.startswith("apply the CRDs first: restore the --path or -k Kustomization that installs them")
    assert "flux install" in err.hint  # Flux's own kinds: how to get those CRDs
    assert "\n" not in str(err) and len(str(err)) < 600  # one line (10,000 characters before grouping)
    assert len(err.details) == 46
    assert ("kubernetes/apps/helmrelease-0.yaml: HelmRelease/flux-system/helmrelease-0: no CRD defines "
            "HelmRelease.helm.toolkit.fluxcd.io") in err.details


def test_causes_are_ordered_by_count_each_with_its_fix():
    problems = [Problem(f"a{n}.yaml: ConfigMap metadata.name 'a-${{X}}' still holds a variable", "variable")
                for n in range(3)]
    problems += [Problem("w.yaml: Widget/w: no CRD defines Widget.example.com", "no-crd", "Widget.example.com"),
                 Problem("x.yaml: data.a is not valid base64")]
    message, hint = summarize("manifests are not valid", problems)
    assert message == ("manifests are not valid (5 problems): 3 names still holding a variable, 1 object of a kind "
                       "no CRD defines (Widget ×1), 1 other problem; the first: a0.yaml: ConfigMap metadata.name "
                       "'a-${X}' still holds a variable")
    fixes = hint.split("; ")
    assert fixes[0].startswith("define the variables") and fixes[1].startswith("apply the CRDs first")
    assert "flux install" not in hint  # not a Flux kind
    assert len(fixes) == 2  # "other" has no fix to name: its lines say what is wrong


def test_the_first_problem_of_every_cause_leads_the_details():
    objects = cluster_template_objects()[:8]  # HelmReleases: no CRD
    objects.insert(6, Manifest(ref=ObjectRef("v1", "ConfigMap", "apps", "n"), source="num.yaml", body={
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "n", "namespace": "apps"}, "data": {"a": 1}}))
    with pytest.raises(ValidationError) as exc:
        validate_manifests(objects, known_kind=no_flux)
    details = exc.value.details
    assert details[0].startswith("kubernetes/apps/helmrelease-0.yaml: ")  # the biggest group's first
    assert details[1] == "num.yaml: ConfigMap/apps/n: data.a is int, not a string (quote it in the manifest)"
    assert [d.split(":")[0] for d in details[2:]] == [f"kubernetes/apps/helmrelease-{n}.yaml" for n in range(1, 8)]


def test_two_groups_sharing_a_kind_name_are_told_apart():
    problems = [Problem("a", "no-crd", "Kustomization.kustomize.toolkit.fluxcd.io"),
                Problem("b", "no-crd", "Kustomization.example.com"), Problem("c", "no-crd", "Widget.example.com")]
    message, _ = summarize("x", problems)
    assert "Kustomization.example.com ×1, Kustomization.kustomize.toolkit.fluxcd.io ×1, Widget ×1" in message


def test_a_single_problem_stays_its_own_clear_line():
    [one] = cluster_template_objects()[:1]
    with pytest.raises(ValidationError) as exc:
        validate_manifests([one], known_kind=no_flux)
    assert str(exc.value) == ("kubernetes/apps/helmrelease-0.yaml: HelmRelease/flux-system/helmrelease-0: "
                              "no CRD defines HelmRelease.helm.toolkit.fluxcd.io")
    assert exc.value.details == () and exc.value.hint is None


def test_many_objects_not_ready_at_a_timeout_are_counted_and_each_a_detail():
    waiting = [(ObjectRef("apps/v1", "Deployment", "shop", f"web-{n}"), Health(Status.IN_PROGRESS, "0 of 1 ready"))
               for n in range(7)] + [(ObjectRef("batch/v1", "Job", "shop", "migrate"), Health(Status.NOT_FOUND, "not found"))]
    err = timeout_error(600, waiting)
    assert err.message == "rollout not complete after 600s; 8 not ready (InProgress ×7, NotFound ×1)"
    assert err.details[0] == "Deployment/shop/web-0 (InProgress: 0 of 1 ready)" and len(err.details) == 8
    few = timeout_error(600, waiting[:1])  # few: the one line says it all, as before
    assert few.message == "rollout not complete after 600s; 1 not ready: Deployment/shop/web-0 (InProgress: 0 of 1 ready)"
    assert few.details == ()


# ------------------------------------------------------------------------------------ printing


def test_the_terminal_gets_the_summary_then_the_first_five_then_how_many_more(capsys):
    def body():
        raise validation_error()

    assert guarded(body) == ExitCode.INVALID
    lines = capsys.readouterr().err.splitlines()
    assert lines[0].startswith("error: manifests are not valid (46 problems): 46 objects of kinds no CRD defines "
                               "(HelmRelease ×20, ")
    assert "(hint: apply the CRDs first" in lines[0]
    # the summary names the first problem (file, object, cause); the lines below go on from the second
    assert lines[0].endswith("the first: kubernetes/apps/helmrelease-0.yaml: HelmRelease/flux-system/helmrelease-0: "
                             "no CRD defines HelmRelease.helm.toolkit.fluxcd.io (hint: apply the CRDs first: restore "
                             "the --path or -k Kustomization that installs them ahead of this one, or install them in "
                             "the cluster (for Flux's own kinds: `flux install`, or the path holding "
                             "gotk-components.yaml))")
    assert lines[1:6] == [f"  kubernetes/apps/helmrelease-{n}.yaml: HelmRelease/flux-system/helmrelease-{n}: "
                          "no CRD defines HelmRelease.helm.toolkit.fluxcd.io" for n in range(1, 6)]
    assert lines[6:] == ["  … and 40 more (all 46 are in the --report file and in -o json)"]


def test_a_single_error_is_still_one_line(capsys):
    def body():
        raise ValidationError("f.yaml: kind missing or not a string\nsecond line")

    assert guarded(body) == ExitCode.INVALID
    assert capsys.readouterr().err == "error: f.yaml: kind missing or not a string second line\n"


def test_error_lines_collapse_newlines_in_each_detail():
    assert error_lines("a\nb", ["c\n  d", "e"]) == ["error: a b", "  c d", "  e"]


def run_failing(tmp_path, *, output: str, error: Exception) -> RunReport:
    report = RunReport("restore", scrubber=Scrubber([SECRET]))

    def body():
        raise error

    def runner():
        _run(report, body, output=output, report_path=str(tmp_path / "r.json"), junit_path=str(tmp_path / "r.xml"))

    assert guarded(runner) == ExitCode.INVALID
    return report


def test_the_report_json_and_junit_carry_every_problem(tmp_path, capsys):
    err = validation_error()
    run_failing(tmp_path, output="json", error=err)
    printed = json.loads(capsys.readouterr().out)  # -o json: the report on stdout
    written = json.loads((tmp_path / "r.json").read_text())
    for doc in (printed, written):
        assert doc["error"]["exitCode"] == 4 and doc["error"]["message"] == str(err)
        assert doc["error"]["details"] == list(err.details) and len(doc["error"]["details"]) == 46
    failure = ET.parse(tmp_path / "r.xml").find(".//testsuite[@name='run']/testcase/failure")
    assert all(problem in failure.text for problem in err.details)


def test_new_outputs_are_scrubbed(tmp_path, capsys):
    error = ValidationError("manifests are not valid (2 problems): 2 other problems",
                            details=[f"a.yaml: value {SECRET}", "b.yaml: fine"])
    run_failing(tmp_path, output="json", error=error)
    out, err = capsys.readouterr()
    assert SECRET not in out + err + (tmp_path / "r.json").read_text() + (tmp_path / "r.xml").read_text()
    assert "  a.yaml: value <redacted>" in err.splitlines()


@pytest.mark.parametrize("same_place", [True, False])
def test_the_error_is_printed_once_where_one_reader_sees_both_streams(tmp_path, monkeypatch, same_place):
    out_path, err_path = tmp_path / "out", tmp_path / ("out" if same_place else "err")
    with open(out_path, "a", encoding="utf-8") as out, open(err_path, "a", encoding="utf-8") as err:
        monkeypatch.setattr(sys, "stdout", out)
        monkeypatch.setattr(sys, "stderr", err)
        run_failing(tmp_path, output="human", error=validation_error())
        monkeypatch.undo()
    said = out_path.read_text() + ("" if same_place else err_path.read_text())
    assert "total " in said  # the summary was printed
    assert said.count("manifests are not valid (46 problems)") == (1 if same_place else 2)
    assert said.count("helmrelease-0: no CRD") == (1 if same_place else 2)


def test_a_restore_sharing_one_terminal_or_file_says_its_error_once(tmp_path):
    """As run: `dr-bootstrap restore … > log 2>&1` (a terminal is the same: one place for both streams)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOPS_")}
    env.update(HOME=str(tmp_path), XDG_CONFIG_HOME=str(tmp_path / ".config"))
    log = tmp_path / "log"
    with open(log, "w") as both:
        code = subprocess.run([sys.executable, "-m", "bootstrap", "restore", str(tmp_path / "repo")], stdout=both,
                              stderr=both, env=env, timeout=120).returncode
    assert code == ExitCode.INVALID
    text = log.read_text()
    assert "result: failed" in text and text.count("no age key") == 1, text
