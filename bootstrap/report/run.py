"""One run's bookkeeping: phases timed into the RunReport and told to the Progress, object records, and the
plaintext both of them scrub.

The report and the progress are built first (the runner writes the report whatever happens); a `Run`
only records into them. Both share the Scrubber they were constructed with, and `learn_secrets` adds the
decrypted values to it once the render has produced them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from bootstrap.model import ObjectRef
from bootstrap.report.model import ObjectRecord, PhaseRecord, RunReport

if TYPE_CHECKING:
    from bootstrap.kube.objects import ApplyOutcome
    from bootstrap.report.progress import Progress
    from bootstrap.status.engine import Health


def _now() -> datetime:
    return datetime.now(timezone.utc)


class Run:
    """Times the phases of one run into a RunReport and reports them to a Progress."""

    def __init__(self, report: RunReport, progress: Progress, *, clock: Callable[[], float] = time.monotonic,
                 now: Callable[[], datetime] = _now):
        """`clock` times the phases (seconds), `now` dates them (started, finished)."""
        self.report = report
        self.progress = progress
        self._clock = clock
        self._now = now
        self._records: dict[tuple[str, str, str, str], ObjectRecord] = {}  # (phase, kind, namespace, name)
        self._phase_t0 = clock()

    def learn_secrets(self, values: Iterable[str | bytes]) -> None:
        """From now on, report and progress scrub these values (each scrubber once if they share one)."""
        values = list(values)
        scrubbers = {id(s): s for s in (self.report.scrubber, getattr(self.progress, "scrubber", None)) if s}
        for scrubber in scrubbers.values():
            scrubber.learn(values)

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
