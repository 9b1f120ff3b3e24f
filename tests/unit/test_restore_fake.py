"""A whole restore (`bootstrap.commands.restore.restore`) on the fake API server: the write-side guards.

A real clone of a Git repository made here, a real render (kustomize), the real client, discovery, apply
manager, gates and rollout verification; only the HTTP transport is a double (`tests.support.fakeapi`).
Its log holds every request in order, with the run's phase boundaries, its target line and the operator's
answer noted among them, so each test says what reached the API server, and when:

- `--dry-run` persists nothing, the key Secret included: every write carries dryRun=All;
- the target is said (and, on a cluster that is not fresh, confirmed) before the first write;
- the stages run in the documented order, and nothing is written before validation has finished.
"""

from __future__ import annotations

import base64
import copy
import io
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from bootstrap.commands import restore as pipeline
from bootstrap.errors import UsageError
from bootstrap.stages.keys import KeyRing, load_keyring
from bootstrap.commands.options import RestoreOptions
from bootstrap.report.progress import QuietProgress
from bootstrap.report.run import Run, new_report
from bootstrap.report.model import PhaseRecord, RunReport
from tests.support import fluxrepos
from tests.support.fakeapi import FakeApiServer, Request
from tests.support.sops import AgeKey, new_age_key

FILES = {
    "platform/namespace.yaml": "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n",
    "platform/crd.yaml": fluxrepos.dump(fluxrepos.crd("example.com", "Widget", "widgets")),
    "apps/config.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: shop\n"
                        "data:\n  colour: blue\n",
    "apps/secret.yaml": "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n  namespace: shop\ntype: Opaque\n"
                        "stringData:\n  password: not-a-real-password\n",
    "apps/deployment.yaml": """apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: registry.example.invalid/web:1.0
        envFrom: [{secretRef: {name: db}}, {configMapRef: {name: settings}}]
""",
    "apps/widget.yaml": "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: main\n  namespace: shop\n"
                        "spec:\n  size: 3\n",
}
PATHS = ("platform", "apps")
# docs/restore.md: clone, render, validate, (target), install-key, then each phase's apply and verify
PHASES = ["clone", "render", "validate", "install-key", "platform: apply", "platform: verify", "apps: apply",
          "apps: verify"]
KEY_SECRET = "/api/v1/namespaces/flux-system/secrets/sops-age"
SHOP = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}}
FLUX_SYSTEM = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "flux-system"}}


@dataclass(frozen=True)
class Repo:
    path: Path
    key: AgeKey

    def keyring(self) -> KeyRing:
        """The age key, loaded as from `--age-key-file -`: it never touches a file."""
        return load_keyring("-", stdin=io.BytesIO(self.key.key_file_text.encode()))


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Repo:
    path = tmp_path_factory.mktemp("gitops") / "repo"
    for rel, text in FILES.items():
        (path / rel).parent.mkdir(parents=True, exist_ok=True)
        (path / rel).write_text(text)
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "cluster state"]):
        subprocess.run(["git", "-c", "user.name=tests", "-c", "user.email=tests@example.invalid", *args], cwd=path,
                       check=True, capture_output=True)
    return Repo(path, new_age_key())


@pytest.fixture
def api() -> FakeApiServer:
    return FakeApiServer()  # the run's cluster factory (`Run.make_cluster`) is `server.cluster`


class LoggedProgress(QuietProgress):
    """Notes the run's phase boundaries and its target line in the fake API server's log, among the requests."""

    def __init__(self, api: FakeApiServer):
        super().__init__(errors=io.StringIO())
        self.api = api

    def phase_started(self, name: str) -> None:
        self.api.mark(f"start {name}")

    def phase_finished(self, rec: PhaseRecord) -> None:
        self.api.mark(f"end {rec.name}")

    def note(self, text: str) -> None:
        if text.startswith("target:"):
            self.api.mark("target")
        super().note(text)


def answering(api: FakeApiServer, answer: bool) -> Callable[[str], bool]:
    """The terminal's yes/no question, answered `answer`; the asking is noted in the log."""
    def ask(question: str) -> bool:
        api.mark(f"ask {question}")
        return answer

    return ask


def restore(api: FakeApiServer, repo: Repo, *, ask: Callable[[str], bool] | None = None, **options) -> RunReport:
    opts = RestoreOptions(repo_url=str(repo.path), paths=PATHS, **options)
    progress = LoggedProgress(api)
    report = new_report("restore", opts, scrubber=progress.scrubber)
    return pipeline.restore(opts, Run(report, progress, make_cluster=api.cluster), keyring=repo.keyring(), ask=ask)


def writes(api: FakeApiServer) -> list[Request]:
    return [r for r in api.requests if r.write]


def position(api: FakeApiServer, entry: Request | str) -> int:
    """Where an entry is in the log (the first such mark; a request by identity)."""
    return api.log.index(entry) if isinstance(entry, str) else next(i for i, e in enumerate(api.log) if e is entry)


def within(api: FakeApiServer, phase: str) -> list[Request]:
    """The requests sent while `phase` ran."""
    return [e for e in api.log[position(api, f"start {phase}"):position(api, f"end {phase}")] if isinstance(e, Request)]


# -- --dry-run writes nothing


@pytest.mark.parametrize("existing", [[], [FLUX_SYSTEM, SHOP]], ids=["fresh", "namespaces-exist"])
def test_dry_run_persists_nothing_the_key_secret_included(api, repo, existing):
    for obj in existing:
        api.seed(copy.deepcopy(obj))
    before = copy.deepcopy(api.store)

    report = restore(api, repo, dry_run=True)

    assert report.result == "succeeded"
    assert writes(api), "a dry run still sends every write, for the API server to validate"
    assert [r for r in writes(api) if not r.dry_run] == []
    assert [r for r in api.requests if r.persisted] == []
    assert api.store == before
    key_writes = [r for r in within(api, "install-key") if r.write]
    assert key_writes and all(r.dry_run for r in key_writes)  # the key Secret (or its namespace) was checked
    if existing:  # its namespace exists: the Secret itself goes to the server, as a dry run
        assert [r.path for r in key_writes] == [KEY_SECRET]
    assert {o.action for o in report.objects if o.phase == "install-key"} == {"dry-run"}


# -- the target is confirmed before the first write


def not_fresh(api: FakeApiServer) -> None:
    """Two objects of the plan already in the cluster."""
    api.seed(copy.deepcopy(SHOP))
    api.seed({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings", "namespace": "shop"},
              "data": {"colour": "red"}})


def test_a_no_at_the_question_stops_the_restore_before_any_write(api, repo):
    not_fresh(api)
    before = copy.deepcopy(api.store)

    with pytest.raises(UsageError, match="not confirmed: nothing was written"):
        restore(api, repo, ask=answering(api, False))

    assert writes(api) == []
    assert api.store == before
    assert api.log.count("ask Continue?") == 1
    assert position(api, "target") < position(api, "ask Continue?")


def test_without_a_terminal_or_yes_a_cluster_that_is_not_fresh_is_refused_before_any_write(api, repo):
    not_fresh(api)

    with pytest.raises(UsageError, match="refusing to restore into a cluster that is not fresh without --yes"):
        restore(api, repo, ask=None)

    assert writes(api) == []
    assert "target" in api.log


def test_a_yes_comes_before_the_first_write(api, repo):
    not_fresh(api)

    report = restore(api, repo, ask=answering(api, True))

    assert report.result == "succeeded"
    first_write = writes(api)[0]
    assert position(api, "target") < position(api, "ask Continue?") < position(api, first_write)
    assert api.store[("", "configmaps", "shop", "settings")]["data"] == {"colour": "blue"}  # restored from Git


def test_a_fresh_cluster_is_not_asked_about_but_the_target_is_said_before_the_first_write(api, repo):
    asked = []

    report = restore(api, repo, ask=asked.append)

    assert report.result == "succeeded" and asked == []
    assert position(api, "target") < position(api, writes(api)[0])


# -- the stages run in order


def test_the_stages_run_in_order_and_nothing_is_written_before_validation(api, repo):
    report = restore(api, repo)

    assert report.result == "succeeded"
    assert [p.name for p in report.phases] == PHASES
    marks = [e for e in api.log if isinstance(e, str) and e.startswith(("start ", "end "))]
    assert marks == [f"{edge} {name}" for name in PHASES for edge in ("start", "end")]  # one after the other
    validated = position(api, "end validate")
    assert all(not r.write for r in api.log[:validated] if isinstance(r, Request))
    assert position(api, writes(api)[0]) > validated
    assert {r.method for r in within(api, "platform: verify") + within(api, "apps: verify")} == {"GET"}
    in_write_stages = within(api, "install-key") + within(api, "platform: apply") + within(api, "apps: apply")
    assert all(any(r is w for w in in_write_stages) for r in writes(api))
    # and what was written is the restore: the key Flux reads, the custom resource, a rolled-out Deployment
    secret = api.store[("", "secrets", "flux-system", "sops-age")]
    assert base64.b64decode(secret["data"]["age.agekey"]).decode() == repo.key.key_file_text
    assert api.store[("example.com", "widgets", "shop", "main")]["spec"] == {"size": 3}
    assert api.store[("apps", "deployments", "shop", "web")]["status"]["availableReplicas"] == 2


def test_a_second_restore_finds_everything_unchanged_and_persists_nothing(api, repo):
    restore(api, repo)
    before, sent = copy.deepcopy(api.store), len(api.log)

    report = restore(api, repo, yes=True)

    assert report.result == "succeeded"
    assert {o.action for o in report.objects if o.phase.endswith("apply") or o.phase == "install-key"} == {"unchanged"}
    assert [r for r in api.log[sent:] if isinstance(r, Request) and r.persisted] == []
    assert api.store == before
