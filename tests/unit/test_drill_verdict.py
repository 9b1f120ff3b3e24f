"""The drill's verdict (pure): a negative control passes only on the expected exit code and cause."""

from __future__ import annotations

import pytest

from bootstrap.commands.drill import INJECTIONS, verdict
from bootstrap.errors import ApplyError, BootstrapError, DecryptError, KeyError_, RolloutError, ValidationError


def test_a_plain_drill_passes_only_when_the_restore_succeeded():
    assert verdict(None, None) == "pass"
    assert verdict(None, RolloutError("Deployment/a/web: CrashLoopBackOff")) == "fail"


@pytest.mark.parametrize("name,error", [
    ("wrong-key", KeyError_("no identity matched any of the file's recipients")),
    ("tampered-file", DecryptError("apps/secret.yaml: MAC mismatch")),
    ("missing-crd", ValidationError("Gadget/a/w: kind Gadget is not served and no CRD in the set defines it")),
    ("crashloop", RolloutError("Deployment/a/web: 0 of 1 updated; pod web-x container app: CrashLoopBackOff")),
    ("missing-secret-key", RolloutError("Deployment/a/web: pod web-x container app: CreateContainerConfigError: …")),
])
def test_a_negative_control_passes_on_its_exit_code_and_cause(name, error):
    assert verdict(INJECTIONS[name], error) == "pass"


def test_a_negative_control_fails_when_the_restore_succeeds_or_fails_otherwise():
    crashloop = INJECTIONS["crashloop"]
    assert verdict(crashloop, None) == "fail"  # the fault went unnoticed
    assert verdict(crashloop, ApplyError("Deployment/a/web: CrashLoopBackOff")) == "fail"  # right cause, wrong exit code
    assert verdict(crashloop, RolloutError("rollout not complete after 600s")) == "fail"  # right exit code, wrong cause
    assert verdict(INJECTIONS["wrong-key"], BootstrapError("internal error")) == "fail"
