"""playbook parsing, validation errors, selection and phase order."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from bootstrap.commands.demo import DEMO
from bootstrap.errors import ExitCode, ValidationError
from bootstrap.manifests import ref_of
from bootstrap.model import Manifest
from bootstrap.repofiles import glob_match
from bootstrap.stages.playbook import find_playbook, load_playbook, parse_duration, parse_playbook

REPO_PLAYBOOKS = Path(__file__).resolve().parents[2] / "playbooks"
BASE = {
    "apiVersion": "dr-bootstrap.io/v1alpha1", "kind": "Playbook", "metadata": {"name": "t"},
    "spec": {"phases": [
        {"name": "apps", "paths": ["apps/**"], "dependsOn": ["platform"]},
        {"name": "platform", "paths": ["infrastructure/**", "clusters/*.yaml"],
         "selector": {"matchLabels": {"tier": "platform"},
                      "matchExpressions": [{"key": "skip", "operator": "DoesNotExist"}]},
         "timeout": "5m", "verify": {"rollouts": True}},
        {"name": "late"},
    ]},
}


def with_phase(index: int, **changes) -> dict:
    data = copy.deepcopy(BASE)
    data["spec"]["phases"][index].update(changes)
    return data


def manifest(source: str, labels=None) -> Manifest:
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "labels": labels or {}}}
    return Manifest(ref=ref_of(body), body=body, source=source)


def test_order_is_topological_and_keeps_file_order():
    playbook = parse_playbook(BASE, "pb.yaml")
    assert [p.name for p in playbook.ordered()] == ["platform", "apps", "late"]
    assert playbook.phases[1].timeout == 300 and playbook.phases[1].verify.timeout == 300


def test_selection_first_phase_wins_and_selector_applies():
    playbook = parse_playbook(BASE, "pb.yaml", base="clusters/prod")
    assert playbook.phase_for(manifest("clusters/prod/apps/a.yaml#2")).name == "apps"
    assert playbook.phase_for(manifest("clusters/prod/infrastructure/x/y.yaml", {"tier": "platform"})).name == "platform"
    # labels do not match: falls through to the catch-all phase
    assert playbook.phase_for(manifest("clusters/prod/infrastructure/y.yaml", {"tier": "platform", "skip": "1"})).name == "late"
    # rendered from outside the playbook's --path (a ../base): matched by its repository path
    assert playbook.phase_for(manifest("elsewhere/a.yaml")).name == "late"


@pytest.mark.parametrize(
    "data, message",
    [
        (with_phase(0, dependsOn=["nope"]), r"spec.phases\[0\].dependsOn: unknown phase 'nope'"),
        (with_phase(2, name="apps"), r"spec.phases\[2\].name: duplicate phase 'apps'"),
        (with_phase(2, dependsOn=["apps"]) | {}, None),
        (with_phase(1, dependsOn=["apps"]), r"dependsOn cycle (apps -> platform -> apps|platform -> apps -> platform)"),
        (with_phase(1, timeout="5 minutes"), r"spec.phases\[1\].timeout: '5 minutes' is not a duration"),
        (with_phase(1, selector={"matchExpressions": [{"key": "a", "operator": "Near"}]}),
         r"selector.matchExpressions\[0\].operator: 'Near'"),
        (with_phase(1, selector={"matchExpressions": [{"key": "a", "operator": "In"}]}),
         r"selector.matchExpressions\[0\].values: required"),
        (with_phase(1, selector={"matchLabels": {"a": 1}}), r"selector.matchLabels: must map"),
        (with_phase(0, colour="red"), r"spec.phases\[0\]: unknown field\(s\) colour"),
        (with_phase(0, name="Apps"), r"spec.phases\[0\].name: 'Apps' is not a lowercase DNS label"),
        ({**BASE, "kind": "Other"}, "expected apiVersion dr-bootstrap.io/v1alpha1 and kind Playbook"),
        ({**BASE, "extra": 1}, r"unknown field\(s\) extra"),
    ],
)
def test_validation_errors_name_file_and_field(data, message):
    if message is None:
        parse_playbook(data, "pb.yaml")
        return
    with pytest.raises(ValidationError, match=message) as exc:
        parse_playbook(data, "pb.yaml")
    assert str(exc.value).startswith("pb.yaml")
    assert exc.value.exit_code == ExitCode.INVALID


@pytest.mark.parametrize("text, seconds", [("90s", 90), ("5m", 300), ("1h30m", 5400), ("500ms", 0.5), (12, 12)])
def test_durations(text, seconds):
    assert parse_duration(text, "x") == seconds


@pytest.mark.parametrize("bad", ["", "5", "m", "-5s", 0, True, "5d", None])
def test_bad_durations(bad):
    with pytest.raises(ValidationError):
        parse_duration(bad, "x")


@pytest.mark.parametrize(
    "pattern, path, hit",
    [
        ("apps/**", "apps/a/b.yaml", True), ("apps/**", "apps.yaml", False), ("*.yaml", "a/b.yaml", False),
        ("**/*.yaml", "b.yaml", True), ("**/*.yaml", "a/b/c.yaml", True), ("a/?.yml", "a/b.yml", True),
        ("./apps/*", "apps/x", True), ("apps/*", "apps/x/y", False),
    ],
)
def test_glob(pattern, path, hit):
    assert glob_match(pattern, path) is hit


def test_shipped_playbooks_are_valid():
    files = sorted(REPO_PLAYBOOKS.glob("*.yaml")) + [DEMO / "dr-bootstrap.yaml"]
    assert len(files) >= 3
    for path in files:
        assert load_playbook(path).phases


def test_find_playbook(tmp_path):
    assert find_playbook(tmp_path) is None
    (tmp_path / ".dr-bootstrap.yaml").write_text("x: 1\n")
    assert find_playbook(tmp_path) == tmp_path / ".dr-bootstrap.yaml"
    with pytest.raises(ValidationError, match=r"\.dr-bootstrap\.yaml: unknown field\(s\) x"):
        load_playbook(tmp_path / ".dr-bootstrap.yaml")


def test_phase_order_refuses_an_unknown_dependency_and_a_self_loop():
    from bootstrap.stages.playbook import Phase, Playbook

    unknown = Playbook(name="p", phases=(Phase(name="a"), Phase(name="b", depends_on=("nope",))), source="pb.yaml")
    with pytest.raises(ValidationError, match=r"^pb.yaml: spec.phases\[1\].dependsOn: unknown phase 'nope'$"):
        unknown.ordered()
    selfish = Playbook(name="p", phases=(Phase(name="a", depends_on=("a",)),), source="pb.yaml")
    with pytest.raises(ValidationError, match=r"^pb.yaml: spec.phases: dependsOn cycle a -> a$"):
        selfish.ordered()
