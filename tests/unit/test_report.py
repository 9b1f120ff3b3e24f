"""Run report: bookkeeping (filled in through a Run on fake time), JSON schema, JUnit validity, atomic writes,
and that no value leaks."""

from __future__ import annotations

import base64
import json
import os
import re
import stat
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bootstrap.clock import WaitClock
from bootstrap.errors import BootstrapError, RolloutError
from bootstrap.model import ObjectRef
from bootstrap.scrub import _forms
from bootstrap.report.model import (
    ObjectRecord,
    RunReport,
    Scrubber,
    is_failure,
    to_dict,
    to_junit,
    write_json,
    write_junit,
)
from tests.support.fakes import RunTime

T0 = datetime(2026, 11, 27, 12, 0, 0, tzinfo=timezone.utc)
PASSWORD = "hunter2-correct-horse"


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def sample(*, fail: bool = True) -> RunReport:
    """Two phases run through a Run on fake time: crds from 1s to 2.5s, apps from 2.5s to 20s (failing when
    `fail`, as the pipeline's rollout error leaves it), and the report finished at 20s."""
    report = RunReport("restore", repo="https://git.example.com/acme/fleet.git", ref="main", path="clusters/prod", started=T0,
                       commit="0123456789abcdef0123456789abcdef01234567", key_recipient="age1qqqexamplerecipient",
                       tool_version="0.1.0", server_version="v1.34.1", scrubber=Scrubber([PASSWORD]))
    time = RunTime(T0)
    run = time.run(report)
    time.advance(1)
    with run.phase("crds"):
        run.record(ObjectRecord("crds", "CustomResourceDefinition", None, "widgets.acme.io", "created", "Current", 0.4, "established"))
        time.advance(1.5)
    error = RolloutError("rollout failed: Deployment/shop/api") if fail else None
    try:
        with run.phase("apps"):
            run.record(ObjectRecord("apps", "Secret", "shop", "db", "created", "Current", 0.05, ""))
            run.record(ObjectRecord("apps", "Deployment", "shop", "api", "created", "Failed" if fail else "Current", 12.0,
                                    f"CrashLoopBackOff: password {PASSWORD} rejected" if fail else "rolled out"))
            run.record(ObjectRecord("apps", "Deployment", "shop", "worker", "created", "InProgress" if fail else "Current", 12.0, "1 of 2 available"))
            time.advance(17.5)
            if error is not None:
                raise error
    except RolloutError:
        pass
    report.finish(error=error, now=at(20))
    return report


# ----------------------------------------------------------------------------------- scrubbing


def test_scrub_replaces_values_and_their_base64_forms():
    raw = b"\xfftoken-bytes?>"
    s = Scrubber([PASSWORD, raw])
    b64 = base64.b64encode(PASSWORD.encode()).decode()
    text = f"a {PASSWORD} b {b64} c {base64.b64encode(raw).decode()} d {base64.urlsafe_b64encode(raw).decode()}"
    assert s(text) == "a <redacted> b <redacted> c <redacted> d <redacted>"


def test_scrub_ignores_short_values_and_documents_why():
    assert Scrubber(["on", "yes"])("turn it on and yes") == "turn it on and yes"
    assert Scrubber(["abcd"])("value abcd here") == "value <redacted> here"


def test_scrub_prefers_the_longest_match():
    assert Scrubber(["secret", "secret-value-long"])("xx secret-value-long xx") == "xx <redacted> xx"


def test_scrub_handles_regex_characters_and_multiline_values():
    pem = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----\n"
    s = Scrubber(["a.*b(c)", pem])
    assert s("x a.*b(c) y aXXb(c)") == "x <redacted> y aXXb(c)"
    assert "MIIEvQIB" not in s("error near line 'MIIEvQIBADANBgkqhkiG9w0BAQEFAASC'")


def test_scrub_finds_a_value_right_after_a_false_start_with_the_same_head():
    # "abcdabcdX": the head "abcd" at 0 starts no value; the value starts at 4
    assert Scrubber(["abcdX"])("abcdabcdX!") == "abcd<redacted>!"
    assert Scrubber(["abcdefgh", "abcdxyz"])("abcdefgh abcdxyz") == "<redacted> <redacted>"


@settings(max_examples=300, deadline=None)
@given(data=st.data(), values=st.lists(st.text(alphabet="abc-", min_size=1, max_size=9), max_size=8))
def test_scrub_matches_a_plain_longest_first_alternation(data, values):
    """The indexed search replaces exactly what `re.sub` over all forms (longest first) replaces, on text
    made of the values themselves, pieces of them and filler (so values overlap and share heads)."""
    pieces = [p for v in values for p in (v, v[: len(v) // 2], v[len(v) // 2 :])] + [" ", "x", "abcd"]
    text = "".join(data.draw(st.lists(st.sampled_from(pieces), max_size=12)))
    forms = set().union(*map(_forms, values)) if values else set()
    ordered = sorted(forms, key=len, reverse=True)
    expected = re.sub("|".join(map(re.escape, ordered)), "<redacted>", text) if ordered else text
    assert Scrubber(values)(text) == expected


def test_scrubber_never_shows_its_values():
    s = Scrubber([PASSWORD])
    assert PASSWORD not in repr(s)
    assert PASSWORD not in repr(sample())  # the report's repr does not dump the scrubber
    with pytest.raises(TypeError):
        import pickle

        pickle.dumps(s)


# ----------------------------------------------------------------------------------- bookkeeping


def test_phases_measure_their_own_seconds_and_the_run_total():
    report = sample(fail=False)
    assert [(p.name, p.started, p.finished, p.seconds, p.result) for p in report.phases] == [
        ("crds", at(1), at(2.5), 1.5, "succeeded"), ("apps", at(2.5), at(20), 17.5, "succeeded")]
    assert report.seconds == 20.0 and report.result == "succeeded" and report.error is None


def test_a_failing_phase_and_the_error_fail_the_run():
    report = sample()
    apps = report.phases[-1]
    assert (apps.result, apps.finished, apps.seconds) == ("failed", at(20), 17.5)
    assert report.result == "failed"
    assert (report.error.exit_code, report.error.message) == (6, "rollout failed: Deployment/shop/api")


def test_a_failed_phase_fails_the_run_without_an_error():
    report = RunReport("restore", started=T0)
    time = RunTime(T0)
    with pytest.raises(RuntimeError), time.run(report).phase("apps"):
        time.advance(1)
        raise RuntimeError("boom")
    report.finish(now=at(1))
    assert report.result == "failed" and report.error is None


def test_finish_closes_a_phase_the_run_ended_inside_as_failed():
    report = RunReport("restore", started=T0)
    time = RunTime(T0)
    with time.run(report).phase("apps") as apps:
        time.advance(3)
        report.finish(now=at(3))  # the report is closed while the phase still runs
        assert (apps.result, apps.finished, apps.seconds) == ("failed", at(3), 3.0)
        assert report.result == "failed"


@pytest.mark.parametrize(
    "action,status,phase_failed,expected",
    [
        ("failed", "", False, True),
        ("created", "Failed", False, True),
        ("created", "Terminating", False, True),
        ("created", "InProgress", True, True),
        ("created", "InProgress", False, False),
        ("created", "Current", True, False),
        ("unchanged", "", True, False),
        ("dry-run", "", False, False),
    ],
)
def test_what_counts_as_a_failed_object(action, status, phase_failed, expected):
    assert is_failure(ObjectRecord("p", "K", "ns", "n", action, status), phase_failed=phase_failed) is expected


def test_failed_objects_lists_causes_of_a_failed_run():
    assert [o.name for o in sample().failed_objects()] == ["api", "worker"]
    assert sample(fail=False).failed_objects() == []


# ----------------------------------------------------------------------------------- JSON


def test_json_document_has_the_contract_schema(tmp_path):
    out = tmp_path / "report.json"
    write_json(sample(), out)
    doc = json.loads(out.read_text())
    assert set(doc) == {
        "schemaVersion", "command", "result", "repo", "ref", "path", "paths", "kustomize", "source", "commit", "keyRecipient",
        "signer", "started", "finished",
        "seconds", "clusterWaitSeconds", "operatorWaitSeconds", "bootstrapSeconds", "convergedSeconds", "reconcileRequests",
        "phases", "objects",
        "helmReleases", "error", "toolVersion", "serverVersion", "helmVersion",
    }
    assert doc["helmReleases"] == []  # always there: the releases installed before the phases, in order
    assert doc["result"] == "failed" and doc["seconds"] == 20.0
    assert doc["started"] == "2026-11-27T12:00:00Z" and doc["finished"] == "2026-11-27T12:00:20Z"
    assert doc["phases"][0] == {"name": "crds", "started": "2026-11-27T12:00:01Z", "finished": "2026-11-27T12:00:02.500000Z", "seconds": 1.5,
                              "clusterWaitSeconds": 0.0, "result": "succeeded"}
    assert doc["objects"][0] == {"phase": "crds", "kind": "CustomResourceDefinition", "namespace": None, "name": "widgets.acme.io",
                                 "action": "created", "status": "Current", "seconds": 0.4, "message": "established",
                                 "wave": None, "source": None}
    assert doc["error"] == {"exitCode": 6, "message": "rollout failed: Deployment/shop/api", "details": []}
    assert (doc["keyRecipient"], doc["toolVersion"], doc["serverVersion"]) == ("age1qqqexamplerecipient", "0.1.0", "v1.34.1")


def test_the_report_carries_how_long_the_run_waited_on_the_cluster():
    now = [0.0]
    report = RunReport("restore", started=T0, clock=WaitClock(now=lambda: now[0]))
    with report.clock:
        now[0] = 7.5
    report.finish(now=at(10))
    assert to_dict(report)["clusterWaitSeconds"] == 7.5
    with report.clock:  # never more than the run's own length, whatever the clock says
        now[0] = 100.0
    report.finish(now=at(10))
    assert report.cluster_wait_seconds == 10.0


def test_json_of_a_successful_run_has_null_error():
    doc = to_dict(sample(fail=False))
    assert doc["result"] == "succeeded" and doc["error"] is None


def test_reports_never_contain_a_value(tmp_path):
    report = sample()
    report.error.message = f"could not parse {PASSWORD}"
    write_json(report, tmp_path / "r.json")
    write_junit(report, tmp_path / "r.xml")
    for name in ("r.json", "r.xml"):
        text = (tmp_path / name).read_text()
        assert PASSWORD not in text, name
        assert "<redacted>" in text or "&lt;redacted&gt;" in text


# ----------------------------------------------------------------------------------- JUnit


def test_junit_has_a_suite_per_phase_and_a_case_per_object(tmp_path):
    out = tmp_path / "junit.xml"
    write_junit(sample(), out)
    root = ET.parse(out).getroot()
    assert root.tag == "testsuites"
    suites = {s.get("name"): s for s in root.findall("testsuite")}
    assert list(suites) == ["crds", "apps", "run"]
    apps = suites["apps"]
    assert (apps.get("tests"), apps.get("failures"), apps.get("time")) == ("3", "2", "17.500")
    cases = {c.get("name"): c for c in apps.findall("testcase")}
    assert set(cases) == {"Secret/shop/db", "Deployment/shop/api", "Deployment/shop/worker"}
    assert cases["Deployment/shop/api"].get("classname") == "apps"
    assert cases["Deployment/shop/api"].get("time") == "12.000"
    assert cases["Deployment/shop/api"].find("failure").get("message").startswith("Failed: CrashLoopBackOff")
    assert cases["Secret/shop/db"].find("failure") is None
    run_case = suites["run"].find("testcase")
    assert run_case.find("failure").get("message") == "rollout failed: Deployment/shop/api"
    assert (root.get("tests"), root.get("failures")) == ("5", "3")
    assert suites["crds"].find("testcase").get("name") == "CustomResourceDefinition/widgets.acme.io"


def test_junit_of_a_successful_run_has_no_failures_and_marks_skips():
    root = to_junit(sample(fail=False))
    assert root.get("failures") == "0"
    report = RunReport("restore", started=T0)
    run = RunTime(T0).run(report)
    with run.phase("apps"):
        run.skipped("apps", ObjectRef("v1", "ConfigMap", "a", "b"), "ignored by annotation")
    report.finish(now=at(1))
    suite = to_junit(report).find("testsuite")
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("1", "0", "1")
    assert suite.find("testcase/skipped").get("message") == "ignored by annotation"


def test_junit_escapes_markup_and_drops_characters_xml_cannot_hold(tmp_path):
    report = RunReport("restore", started=T0)
    run = RunTime(T0).run(report)
    with run.phase("a<b>&\"c\""):
        run.record(ObjectRecord("a<b>&\"c\"", "Job", "ns", "x]]>y", "failed", "", 1, "bad \x1b[31mred\x1b[0m & <tag> ]]> \x00 end"))
    report.finish(now=at(1))
    write_junit(report, tmp_path / "j.xml")
    raw = (tmp_path / "j.xml").read_bytes()
    assert raw.startswith(b"<?xml version='1.0' encoding='utf-8'?>")
    case = ET.fromstring(raw).find("testsuite/testcase")
    assert case.get("classname") == 'a<b>&"c"'
    assert case.get("name") == "Job/ns/x]]>y"
    assert case.find("failure").get("message") == "failed: bad [31mred[0m & <tag> ]]>  end"


# ----------------------------------------------------------------------------------- atomic writes


def test_writes_are_atomic_and_world_readable(tmp_path):
    out = tmp_path / "report.json"
    out.write_text("old")
    old_umask = os.umask(0o077)
    try:
        write_json(sample(), out)
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(out.stat().st_mode) == 0o644
    assert json.loads(out.read_text())["command"] == "restore"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.json"]  # no temp file left behind


def test_unwritable_destination_is_a_one_line_error_naming_the_path(tmp_path):
    target = tmp_path / "missing-dir" / "report.json"
    with pytest.raises(BootstrapError, match=r"cannot write report .*missing-dir/report.json: No such file"):
        write_junit(sample(), target)
    assert list(tmp_path.iterdir()) == []


def test_error_may_be_the_bootstrap_error_itself():
    report = RunReport("restore", started=T0)
    report.error = RolloutError("Deployment/shop/api: CrashLoopBackOff", hint="check logs")
    report.finish(now=at(1))
    assert to_dict(report)["error"] == {"exitCode": 6, "message": "Deployment/shop/api: CrashLoopBackOff (hint: check logs)",
                                         "details": []}
    failure = to_junit(report).find("testsuite[@name='run']/testcase/failure")
    assert failure.get("type") == "exit 6"


def test_a_misspelt_attribute_fails_loudly_instead_of_leaving_the_scrubber_empty():
    report = RunReport("restore", started=T0)
    with pytest.raises(AttributeError):
        report.scrub = Scrubber([PASSWORD])  # type: ignore[attr-defined]
    report.scrubber = Scrubber([PASSWORD])
    report.objects.append(ObjectRecord("p", "Secret", "ns", "s", "failed", "", 0, PASSWORD))
    assert PASSWORD not in json.dumps(to_dict(report))


def test_a_gitops_phase_splits_the_rto_into_bootstrap_and_convergence():
    from bootstrap.report.model import PhaseRecord

    report = RunReport("restore", started=T0)
    report.phases.append(PhaseRecord("apps: apply", T0, T0 + timedelta(seconds=4), 4.0, "succeeded"))
    report.phases.append(PhaseRecord("gitops", T0 + timedelta(seconds=5), T0 + timedelta(seconds=35), 30.0,
                                     "succeeded"))
    report.finish(now=T0 + timedelta(seconds=36))
    doc = to_dict(report)
    assert (doc["bootstrapSeconds"], doc["convergedSeconds"], doc["seconds"]) == (5.0, 35.0, 36.0)
    report.phases[-1].result = "failed"
    assert to_dict(report)["convergedSeconds"] is None
    assert to_dict(RunReport("restore", started=T0))["bootstrapSeconds"] is None
