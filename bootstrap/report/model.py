"""The run report: what was done to which object, how long each phase took, and how the run ended.

`RunReport` is filled in as the pipeline goes (through `bootstrap.report.run.Run`: timed phases, object
records), closed by `finish`, and written at the end as JSON (`write_json`) and JUnit XML (`write_junit`).
Per-phase seconds and the total are the measured RTO of a restore; the time spent waiting for the operator's
answer to a question (`Continue? [y/N]`) is reported apart (`operator_wait_seconds`) and is not part of it.

Reports never carry a value: every string in them passes through the report's `Scrubber`, which
replaces any decrypted value (and its base64 form) with `<redacted>`.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import xml.etree.ElementTree as ET

from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bootstrap.clock import WaitClock
from bootstrap.errors import BootstrapError
from bootstrap.scrub import Scrubber  # noqa: F401  (re-exported)

if TYPE_CHECKING:
    from bootstrap.engines.base import HelmInstall

SCHEMA_VERSION = 1

# Object statuses (bootstrap.status.Status values) that make an object a failure in JUnit.
FAILED_STATUSES = frozenset({"Failed", "Terminating", "NotFound", "Unknown"})


@dataclass(slots=True)
class ObjectRecord:
    """One object's outcome in one phase. action: created|configured|unchanged|skipped|failed|dry-run."""

    phase: str
    kind: str
    namespace: str | None
    name: str
    action: str
    status: str = ""
    seconds: float = 0.0
    message: str = ""
    wave: int | None = None  # plan records: the wave inside the phase
    source: str | None = None  # plan records: the repository file the object comes from

    @property
    def ref(self) -> str:
        where = f"{self.namespace}/" if self.namespace else ""
        return f"{self.kind}/{where}{self.name}"


@dataclass(slots=True)
class PhaseRecord:
    """One phase's wall-clock span. result: running|succeeded|failed.

    `cluster_wait_seconds`: the part of `seconds` spent waiting on the cluster (see bootstrap.clock)."""

    name: str
    started: datetime
    finished: datetime | None = None
    seconds: float = 0.0
    result: str | None = None
    cluster_wait_seconds: float = 0.0


@dataclass(slots=True)
class HelmReleaseRecord:
    """A Helm release to install before the phases, in install order: the engine's release, its values never
    recorded (`of` drops them), and what became of it."""

    release: HelmInstall
    status: str = "planned"  # planned | pulled (a dry run) | installed | failed

    @classmethod
    def of(cls, release: HelmInstall) -> HelmReleaseRecord:
        return cls(replace(release, values={}))


@dataclass(slots=True)
class ReportError:
    exit_code: int
    message: str
    details: tuple[str, ...] = ()  # every problem the message sums up (BootstrapError.details)


@dataclass(repr=False, slots=True)
class RunReport:
    """One run of a command. `result` (succeeded|failed) is set by `finish`."""

    command: str
    result: str | None = None
    commit: str | None = None
    key_recipient: str | None = None
    repo: str | None = None
    ref: str | None = None
    path: str | None = None
    paths: list[str] = field(default_factory=list)  # every --path, in order
    kustomize: str | None = None  # which kustomize rendered the repository, and its version
    source: str | None = None  # the GitRepository (namespace/name) taken as this repository
    started: datetime = field(default_factory=lambda: _now())
    finished: datetime | None = None
    seconds: float = 0.0
    phases: list[PhaseRecord] = field(default_factory=list)
    objects: list[ObjectRecord] = field(default_factory=list)
    helm_releases: list[HelmReleaseRecord] = field(default_factory=list)  # installed before the phases, in order
    helm_version: str | None = None  # the helm that installed them
    error: ReportError | BootstrapError | None = None
    tool_version: str = ""
    server_version: str | None = None
    signer: dict[str, str] | None = None  # {principal, fingerprint} when --verify-signatures verified the commit
    scrubber: Scrubber = field(default_factory=Scrubber, repr=False, compare=False)
    clock: WaitClock = field(default_factory=WaitClock, repr=False, compare=False)  # the run's waits on the cluster
    cluster_wait_seconds: float = 0.0  # of `seconds`, set by `finish`
    # waits for the operator's answer (Run.asking_operator): outside `seconds`, set by `finish`
    operator_clock: WaitClock = field(default_factory=WaitClock, repr=False, compare=False)
    operator_wait_seconds: float = 0.0
    reconcile_requests: int | None = None  # with a `gitops` phase: how many reconciles the hand-over asked for

    def __repr__(self) -> str:  # short, and free of messages (which are scrubbed only on output)
        return f"RunReport({self.command!r}, result={self.result!r}, phases={len(self.phases)}, objects={len(self.objects)})"

    def finish(self, *, error: BootstrapError | None = None, now: datetime | None = None) -> None:
        """End the run: close phases left open as failed, set the result and total seconds (the RTO: from
        start to finish less the operator's answer time, which is `operator_wait_seconds`)."""
        self.finished = now or _now()
        wall = _seconds(self.started, self.finished)
        self.operator_wait_seconds = min(self.operator_clock.seconds(), wall)
        self.seconds = wall - self.operator_wait_seconds
        self.cluster_wait_seconds = min(self.clock.seconds(), self.seconds)
        for phase in self.phases:  # still open (the run ended inside it): it failed
            if phase.finished is None:
                phase.finished = self.finished
                phase.seconds = _seconds(phase.started, phase.finished)
                phase.result = "failed"
        if error is not None:
            self.error = ReportError(int(error.exit_code), str(error), error.details)
        failed = self.error is not None or any(p.result == "failed" for p in self.phases)
        self.result = "failed" if failed else "succeeded"

    def own_seconds(self) -> float:
        """Of `seconds`, dr-bootstrap's own work: neither waiting on the cluster nor on the operator."""
        return max(self.seconds - self.cluster_wait_seconds, 0.0)

    def bootstrap_seconds(self) -> float | None:
        """With a `gitops` phase: the time until the hand-over began (the bootstrap's own part of the RTO;
        the operator's answer, asked before the first write, is not in it)."""
        gitops = next((p for p in self.phases if p.name == "gitops"), None)
        return None if gitops is None else self._rto_until(gitops.started)

    def converged_seconds(self) -> float | None:
        """With a `gitops` phase that succeeded: the time until Flux had reconciled everything (the real RTO)."""
        gitops = next((p for p in self.phases if p.name == "gitops"), None)
        if gitops is None or gitops.result != "succeeded" or gitops.finished is None:
            return None
        return self._rto_until(gitops.finished)

    def _rto_until(self, moment: datetime) -> float:
        return round(max(_seconds(self.started, moment) - self.operator_clock.seconds(), 0.0), 3)

    def failed_objects(self) -> list[ObjectRecord]:
        failed_phases = {p.name for p in self.phases if p.result == "failed"}
        return [o for o in self.objects if is_failure(o, phase_failed=o.phase in failed_phases)]


def is_failure(record: ObjectRecord, *, phase_failed: bool = False) -> bool:
    """Failed apply, a failed health status, or still in progress when its phase gave up."""
    return (
        record.action == "failed"
        or record.status in FAILED_STATUSES
        or (phase_failed and record.status == "InProgress")
    )


# ------------------------------------------------------------------------------------------ JSON


def to_dict(report: RunReport) -> dict[str, Any]:
    """The JSON document (camelCase keys, stable schema), every string scrubbed."""
    doc = {
        "schemaVersion": SCHEMA_VERSION,
        "command": report.command,
        "result": report.result,
        "repo": report.repo,
        "ref": report.ref,
        "path": report.path,
        "paths": report.paths,
        "kustomize": report.kustomize,
        "source": report.source,
        "commit": report.commit,
        "keyRecipient": report.key_recipient,
        "signer": report.signer,
        "started": _iso(report.started),
        "finished": _iso(report.finished),
        "seconds": round(report.seconds, 3),
        "clusterWaitSeconds": round(report.cluster_wait_seconds, 3),
        "operatorWaitSeconds": round(report.operator_wait_seconds, 3),
        "bootstrapSeconds": report.bootstrap_seconds(),
        "convergedSeconds": report.converged_seconds(),
        "reconcileRequests": report.reconcile_requests,
        "phases": [
            {"name": p.name, "started": _iso(p.started), "finished": _iso(p.finished), "seconds": round(p.seconds, 3),
             "clusterWaitSeconds": round(p.cluster_wait_seconds, 3), "result": p.result}
            for p in report.phases
        ],
        "objects": [
            {
                "phase": o.phase,
                "kind": o.kind,
                "namespace": o.namespace,
                "name": o.name,
                "action": o.action,
                "status": o.status,
                "seconds": round(o.seconds, 3),
                "message": o.message,
                "wave": o.wave,
                "source": o.source,
            }
            for o in report.objects
        ],
        "helmReleases": [_helm_release(h) for h in report.helm_releases],
        "error": error_fields(report.error),
        "toolVersion": report.tool_version,
        "serverVersion": report.server_version,
        "helmVersion": report.helm_version,
    }
    return _scrub_tree(doc, report.scrubber)


def _helm_release(record: HelmReleaseRecord) -> dict[str, Any]:
    r = record.release
    return {"namespace": r.namespace, "name": r.name, "chart": r.chart, "version": r.version,
            "repository": r.repository, "releaseName": r.release_name, "targetNamespace": r.target_namespace,
            "storageNamespace": r.storage_namespace, "source": r.source, "dependsOn": list(r.depends_on),
            "status": record.status}


def error_fields(error: ReportError | BootstrapError | None) -> dict[str, Any] | None:
    """`{exitCode, message, details}` of a run error (the message includes a BootstrapError's hint; details
    are every problem it sums up, [] when it is one), or None."""
    if error is None:
        return None
    message = error.message if isinstance(error, ReportError) else str(error)
    return {"exitCode": int(error.exit_code), "message": message, "details": list(error.details)}


def to_json(report: RunReport) -> str:
    """The JSON report as text (what `write_json` writes and `--output json` prints)."""
    return json.dumps(to_dict(report), indent=2)


def write_json(report: RunReport, path: str | os.PathLike[str], *, text: str | None = None) -> None:
    """The JSON report at `path`, atomically; `text` when the caller already rendered it with `to_json`."""
    _write_atomic(Path(path), ((text if text is not None else to_json(report)) + "\n").encode())


# ------------------------------------------------------------------------------------------ JUnit


def to_junit(report: RunReport) -> ET.Element:
    """`<testsuites>`: one `<testsuite>` per phase, one `<testcase>` per object, plus a `run` suite."""
    clean = report.scrubber
    failed_phases = {p.name for p in report.phases if p.result == "failed"}
    root = ET.Element("testsuites", name=f"dr-bootstrap {report.command}", time=_secs(report.seconds))
    total = failures = 0
    for phase in report.phases:
        records = [o for o in report.objects if o.phase == phase.name]
        suite = ET.SubElement(root, "testsuite", name=_xml(clean(phase.name)), time=_secs(phase.seconds), timestamp=_iso(phase.started) or "")
        n_failed = n_skipped = 0
        for record in records:
            case = ET.SubElement(
                suite, "testcase", classname=_xml(clean(phase.name)), name=_xml(clean(record.ref)), time=_secs(record.seconds)
            )
            if is_failure(record, phase_failed=phase.name in failed_phases):
                n_failed += 1
                summary = f"{record.status or record.action}: {record.message}" if record.message else record.status or record.action
                failure = ET.SubElement(case, "failure", message=_xml(clean(summary)), type=_xml(record.status or record.action))
                failure.text = _xml(clean(f"{record.ref} action={record.action} status={record.status}\n{record.message}"))
            elif record.action == "skipped":
                n_skipped += 1
                ET.SubElement(case, "skipped", message=_xml(clean(record.message or "skipped")))
        suite.set("tests", str(len(records)))
        suite.set("failures", str(n_failed))
        suite.set("errors", "0")
        suite.set("skipped", str(n_skipped))
        total, failures = total + len(records), failures + n_failed

    run = ET.SubElement(root, "testsuite", name="run", tests="1", errors="0", skipped="0", time=_secs(report.seconds))
    case = ET.SubElement(run, "testcase", classname="run", name=f"dr-bootstrap {report.command}", time=_secs(report.seconds))
    run_failed = report.result != "succeeded"
    if run_failed:
        error = error_fields(report.error)
        message = error["message"] if error else "run did not succeed"
        kind = f"exit {error['exitCode']}" if error else "failed"
        failure = ET.SubElement(case, "failure", message=_xml(clean(message)), type=kind)
        failure.text = _xml(clean("\n".join([message, *(error["details"] if error else [])])))
    run.set("failures", str(int(run_failed)))
    root.set("tests", str(total + 1))
    root.set("failures", str(failures + int(run_failed)))
    root.set("errors", "0")
    return root


def write_junit(report: RunReport, path: str | os.PathLike[str]) -> None:
    root = to_junit(report)
    ET.indent(root)
    _write_atomic(Path(path), ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n")


# ------------------------------------------------------------------------------------------ helpers


def _write_atomic(path: Path, data: bytes) -> None:
    """Write via a temp file in the same directory and os.replace, so readers never see half a file."""
    tmp: str | None = None
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
        tmp = None
    except OSError as err:
        raise BootstrapError(f"cannot write report {path}: {err.strerror or type(err).__name__}") from None
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass


def _scrub_tree(node: Any, scrubber: Scrubber) -> Any:
    if isinstance(node, str):
        return scrubber(node)
    if isinstance(node, dict):
        return {key: _scrub_tree(value, scrubber) for key, value in node.items()}
    if isinstance(node, list):
        return [_scrub_tree(item, scrubber) for item in node]
    return node


_XML_INVALID = re.compile("[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _xml(text: str) -> str:
    """Drop characters XML 1.0 cannot carry at all (escaping is ElementTree's job)."""
    return _XML_INVALID.sub("", text)


def _secs(seconds: float) -> str:
    return f"{seconds:.3f}"


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z") if moment else None


def _seconds(start: datetime, end: datetime) -> float:
    return max(0.0, (end - start).total_seconds())


def _now() -> datetime:
    return datetime.now(timezone.utc)
