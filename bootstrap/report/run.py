"""The run context, built once per command and passed to every stage: the report (with its clock and
scrubber), the progress, and the cluster factory; and the run's bookkeeping: phases timed into the report and
told to the progress, object records, and the plaintext both of them scrub.

The report and the progress are built first (the runner writes the report whatever happens); a `Run`
only records into them. Both share the Scrubber they were constructed with, and `learn_secrets` adds the
decrypted values to it as the render produces them (`scrub.Learner`). `make_cluster` builds the cluster client
(`kube.Cluster`; unit tests give one on a fake transport).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from bootstrap import __version__
from bootstrap.model import ObjectRef
from bootstrap.report.model import ObjectRecord, PhaseRecord, RunReport
from bootstrap.scrub import Scrubber

if TYPE_CHECKING:
    from bootstrap.commands.options import RestoreOptions
    from bootstrap.errors import BootstrapError
    from bootstrap.kube import Cluster
    from bootstrap.kube.objects import ApplyOutcome
    from bootstrap.report.progress import Progress
    from bootstrap.status.health import Health


def _now() -> datetime:
    return datetime.now(timezone.utc)


def new_report(command: str, opts: RestoreOptions | None = None, *, scrubber: Scrubber | None = None) -> RunReport:
    """The run's report; `scrubber` is the one the run's progress was built with, so both hide the same values."""
    report = RunReport(command=command, tool_version=__version__, scrubber=scrubber or Scrubber())
    if opts is not None:
        report.repo, report.ref, report.path, report.paths = opts.repo_url, opts.ref, opts.path, list(opts.paths)
    return report


def finish(report: RunReport, error: BootstrapError | None) -> RunReport:
    report.finish(error=error)
    return report


def _cluster(*args, **kwargs) -> Cluster:
    from bootstrap.kube import Cluster  # deferred: clone (a plan loads the kube client after its clone)

    return Cluster(*args, **kwargs)


class Run:
    """Times the phases of one run into a RunReport and reports them to a Progress."""

    def __init__(self, report: RunReport, progress: Progress, *, clock: Callable[[], float] = time.monotonic,
                 make_cluster: Callable[..., Cluster] | None = None, now: Callable[[], datetime] = _now):
        """`clock` times the phases (seconds), `now` dates them (started, finished)."""
        self.report = report
        self.progress = progress
        self.make_cluster = make_cluster or _cluster
        self._clock = clock
        self._now = now
        self._records: dict[tuple[str, str, str, str], ObjectRecord] = {}  # (phase, kind, namespace, name)
        self._phase_t0 = clock()

    def asking_operator(self, ask: Callable[[str], bool] | None) -> Callable[[str], bool] | None:
        """`ask` (the terminal's yes/no question, or None) with the wait for the answer timed apart, into the
        report's `operator_clock`: the operator's time is not the run's (not in the RTO, nor in its own work)."""
        if ask is None:
            return None
        clock = self.report.operator_clock

        def timed(question: str) -> bool:
            with clock:
                return ask(question)

        return timed

    def learn_secrets(self, values: Iterable[str | bytes], public: Callable[[str], bool] | None = None) -> None:
        """From now on, report and progress scrub these values (each scrubber once if they share one), but
        no value or form of one that `public` says anyone can read in the repository (`scrub.Learner`)."""
        values = list(values)
        scrubbers = {id(s): s for s in (self.report.scrubber, getattr(self.progress, "scrubber", None)) if s}
        for scrubber in scrubbers.values():
            scrubber.learn(values, public)

    @contextmanager
    def phase(self, name: str) -> Iterator[PhaseRecord]:
        record = PhaseRecord(name=name, started=self._now(), finished=None, seconds=0.0, result="running")
        self.report.phases.append(record)
        self.progress.phase_started(name)
        t0 = self._phase_t0 = self._clock()
        waited = self.report.clock.seconds()
        try:
            yield record
        except BaseException:
            record.result = "failed"
            raise
        else:
            record.result = "succeeded"
        finally:
            record.finished = self._now()
            record.seconds = round(self._clock() - t0, 3)
            record.cluster_wait_seconds = round(min(self.report.clock.seconds() - waited, record.seconds), 3)
            self.progress.phase_finished(record)

    def record(self, rec: ObjectRecord) -> None:
        self.report.objects.append(rec)
        self._records[(rec.phase, rec.kind, rec.namespace, rec.name)] = rec

    def skipped(self, phase: str, ref: ObjectRef, reason: str) -> None:
        rec = ObjectRecord(phase=phase, kind=ref.kind, namespace=ref.namespace or "", name=ref.name,
                           action="skipped", status="", seconds=0.0, message=reason)
        self.record(rec)
        self.progress.object_applied(rec)

    def applied(self, phase: str, outcome: ApplyOutcome) -> None:
        ref = outcome.ref
        rec = ObjectRecord(phase=phase, kind=ref.kind, namespace=ref.namespace or "", name=ref.name,
                           action=outcome.action, status="applied", seconds=round(outcome.seconds, 3),
                           message=outcome.message or "")
        self.record(rec)
        self.progress.object_applied(rec)

    def status(self, phase: str, ref: ObjectRef, health: Health) -> None:
        """A verify phase's record of one object: its latest status, and how long it took to get there."""
        rec = self._records.get((phase, ref.kind, ref.namespace or "", ref.name))
        if rec is None:
            rec = ObjectRecord(phase=phase, kind=ref.kind, namespace=ref.namespace or "", name=ref.name,
                               action="verified")
            self.record(rec)
        rec.status = health.status.value
        rec.message = health.message
        rec.seconds = round(self._clock() - self._phase_t0, 3)
        self.progress.object_status(rec)
