"""Pure helpers of the Kubernetes edge: retry classification, error parsing, apply bodies, actions."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from bootstrap.kube.client import Response, decode
from bootstrap.kube.errors import (
    KubeApiError,
    TransportError,
    immutable_field,
    is_retryable,
    redact_values,
    retry_after_seconds,
)
from bootstrap.kube.objects import (
    FIELD_MANAGER,
    LAST_APPLIED,
    apply_action,
    apply_query,
    http_date,
    prepare_body,
    split_api_version,
)
from bootstrap.kube.transport import Reply
from bootstrap.model import ObjectRef
from bootstrap.status import Health, PodFailure, Status
from bootstrap.stages.verify import Snapshot, failure_message, judge, needs_check, timeout_message


def api_error(status: int, message: str = "", reason: str = "", causes=()) -> KubeApiError:
    return KubeApiError(status, reason, message, causes=causes)


@pytest.mark.parametrize(
    "err",
    [
        api_error(429, "too many requests", "TooManyRequests"),
        api_error(500, "etcdserver: leader changed", "InternalError"),
        api_error(503, "service unavailable"),
        api_error(504, "timeout"),
        api_error(500, 'Internal error occurred: failed calling webhook "v.cert-manager.io": connection refused'),
        api_error(400, 'failed calling admission webhook "x": dial tcp: connection refused'),
        api_error(404, 'Internal error: no endpoints available for service "cert-manager-webhook"'),
        api_error(500, "etcdserver: request timed out"),
        TransportError("connection refused"),
        TransportError("timed out"),
    ],
)
def test_transient_errors_are_retried(err):
    assert is_retryable(err)


@pytest.mark.parametrize(
    "err",
    [
        api_error(422, 'Deployment.apps "x" is invalid: spec.replicas: Invalid value: -1', "Invalid"),
        api_error(400, "json: cannot unmarshal string into Go struct field", "BadRequest"),
        api_error(404, 'namespaces "nope" not found', "NotFound"),
        api_error(403, "forbidden", "Forbidden"),
        api_error(409, "Apply failed with 1 conflict", "Conflict"),
        api_error(422, "spec.selector: Invalid value: ...: field is immutable", "Invalid"),
        api_error(500, "failed to create typed patch object (ns/d; apps/v1, Kind=Deployment): errors:\n"
                       "  .spec.replicaz: field not declared in schema"),
        ValueError("not an API error"),
    ],
)
def test_validation_errors_are_not_retried(err):
    assert not is_retryable(err)


def test_apply_query_is_server_side_apply_by_our_manager():
    assert apply_query(True, False) == {"fieldManager": FIELD_MANAGER, "force": "true", "fieldValidation": "Ignore"}
    assert apply_query(False, True) == {"fieldManager": FIELD_MANAGER, "force": "false", "fieldValidation": "Ignore",
                                         "dryRun": "All"}


def test_response_date_is_the_date_header_in_epoch_seconds():
    assert http_date("Sun, 29 Nov 2026 04:00:00 GMT") == 1795924800.0
    assert http_date("not a date") is None
    assert http_date(None) is None
    assert decode(Reply(200, "OK", b"{}", "Sun, 29 Nov 2026 04:00:00 GMT")).date == 1795924800.0


def test_decode_turns_a_status_into_an_api_error():
    body = (b'{"kind":"Status","reason":"Invalid","message":"bad","details":{"causes":[{"field":"spec.x"}]}}')
    with pytest.raises(KubeApiError) as err:
        decode(Reply(422, "Unprocessable Entity", body, None, "2"))
    assert (err.value.status, err.value.reason, err.value.message) == (422, "Invalid", "bad")
    assert err.value.causes == ({"field": "spec.x"},) and err.value.retry_after == 2.0
    with pytest.raises(KubeApiError, match="503 Service Unavailable: Service Unavailable"):
        decode(Reply(503, "Service Unavailable", b"<html>"))


def test_retry_after_seconds_parses_both_forms():
    assert retry_after_seconds("3") == 3.0
    assert retry_after_seconds(None) is None
    assert retry_after_seconds("soon") is None
    now = datetime(2026, 11, 29, 4, 0, 0, tzinfo=timezone.utc)
    assert retry_after_seconds("Sun, 29 Nov 2026 04:00:05 GMT", now=now) == 5.0
    assert retry_after_seconds("Sun, 29 Nov 2026 03:59:00 GMT", now=now) == 0.0


def test_immutable_field_from_causes_and_message():
    from_causes = api_error(422, "Deployment.apps \"web\" is invalid: ...", "Invalid",
                            causes=[{"reason": "FieldValueInvalid", "message": "Invalid value: ...: field is immutable",
                                     "field": "spec.selector"}])
    assert immutable_field(from_causes) == "spec.selector"
    from_message = api_error(422, 'Job.batch "j" is invalid: spec.template: Invalid value: core.PodTemplateSpec{}: '
                                  "field is immutable", "Invalid")
    assert immutable_field(from_message) == "spec.template"
    assert immutable_field(api_error(422, "spec.replicas: Invalid value: -1", "Invalid")) is None
    assert immutable_field(api_error(500, "field is immutable")) is None


def test_redact_values_removes_quoted_values_only():
    msg = 'Secret "s" is invalid: data[x]: Invalid value: "hunter2-top-secret": a valid config key must ...'
    out = redact_values(msg)
    assert "hunter2" not in out
    assert 'Secret "s" is invalid: data[x]: Invalid value: <redacted>' in out


def test_prepare_body_strips_last_applied_and_server_fields_without_touching_input():
    body = {
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "c", "namespace": "n", "resourceVersion": "12", "uid": "u", "managedFields": [{}],
                     "annotations": {LAST_APPLIED: "{...}", "keep": "me"}},
        "data": {"a": "b"}, "status": {"x": 1},
    }
    out = prepare_body(body)
    assert out["metadata"] == {"name": "c", "namespace": "n", "annotations": {"keep": "me"}}
    assert "status" not in out and out["data"] is body["data"]
    assert LAST_APPLIED in body["metadata"]["annotations"] and body["metadata"]["resourceVersion"] == "12"
    only_last = prepare_body({"kind": "X", "metadata": {"name": "x", "annotations": {LAST_APPLIED: "{}"}}})
    assert "annotations" not in only_last["metadata"]


def _live(rv: str, applied_at: datetime | None) -> dict:
    fields = [{"manager": "dr-bootstrap", "operation": "Apply",
               "time": applied_at.strftime("%Y-%m-%dT%H:%M:%SZ")}] if applied_at else []
    return {"metadata": {"resourceVersion": rv, "managedFields": fields}}


NOW = datetime(2026, 11, 29, 4, 0, 0, tzinfo=timezone.utc)


def test_apply_action():
    now = NOW
    ts = now.timestamp()
    assert apply_action(201, _live("1", now), prior_rv=None, server_now=ts) == "created"
    assert apply_action(200, _live("5", now), prior_rv="5", server_now=ts) == "unchanged"
    assert apply_action(200, _live("6", now), prior_rv="5", server_now=ts) == "configured"
    old = now - timedelta(minutes=3)
    assert apply_action(200, _live("5", old), prior_rv=None, server_now=ts) == "unchanged"
    assert apply_action(200, _live("5", now), prior_rv=None, server_now=ts) == "configured"
    assert apply_action(200, _live("5", None), prior_rv=None, server_now=ts) == "configured"
    assert apply_action(200, _live("5", old), prior_rv=None, server_now=None) == "configured"


def test_apply_action_of_an_object_we_own_no_field_of():
    now = NOW
    old, ts = now - timedelta(minutes=3), now.timestamp()

    def live(stamp: datetime) -> dict:
        entry = {"manager": "kube-controller-manager", "operation": "Update", "time": stamp.strftime("%Y-%m-%dT%H:%M:%SZ")}
        return {"metadata": {"resourceVersion": "5", "managedFields": [entry]}}

    assert apply_action(200, live(old), prior_rv=None, server_now=ts) == "unchanged"
    assert apply_action(200, live(now), prior_rv=None, server_now=ts) == "configured"


def test_split_api_version():
    assert split_api_version("v1") == ("", "v1")
    assert split_api_version("apps/v1") == ("apps", "v1")


def test_needs_check_skips_builtins_without_readiness():
    assert needs_check(ObjectRef("apps/v1", "Deployment", "n", "d"))
    assert needs_check(ObjectRef("batch/v1", "Job", "n", "j"))
    assert needs_check(ObjectRef("example.com/v1", "Widget", "n", "w"))
    assert not needs_check(ObjectRef("v1", "ConfigMap", "n", "c"))
    assert not needs_check(ObjectRef("rbac.authorization.k8s.io/v1", "ClusterRole", None, "r"))


def test_judge_and_messages():
    ref = ObjectRef("v1", "Pod", "n", "p")
    missing = judge(ref, Snapshot({}, {}, {}), datetime.now(timezone.utc))
    assert missing.status is Status.NOT_FOUND
    failure = PodFailure("web-1", "app", "CrashLoopBackOff", "back-off 10s", "check the logs")
    line = failure_message(ObjectRef("apps/v1", "Deployment", "n", "web"),
                           Health(Status.FAILED, f"0 of 2 new replicas available; {failure}", failure))
    assert line == "Deployment/n/web: 0 of 2 new replicas available; pod web-1 container app: CrashLoopBackOff: back-off 10s"
    msg = timeout_message(30, [(ref, Health(Status.IN_PROGRESS, "Pod is pending"))])
    assert msg == "rollout not complete after 30s; 1 not ready: Pod/n/p (InProgress: Pod is pending)"
