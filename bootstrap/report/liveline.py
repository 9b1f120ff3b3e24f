"""What a terminal's live line says while a stretch of work runs, instead of one line per object (pure).

A `Tally` follows one stretch: a wave's applies (`applied of total`, by action), or a phase's statuses
(`ready of seen`, naming the first object not ready yet), and what the run waits on since when.  `line(now)`
is the live line, redrawn as time passes; `summary(now)` the one line left behind when the stretch ends.
The text is unscrubbed: the console scrubs it like every other line.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from bootstrap.report.model import ObjectRecord

_ACTION_ORDER = ("created", "configured", "unchanged", "dry-run", "skipped", "failed")
READY = "Current"


@dataclass
class Tally:
    """One stretch of work: `wave` ("wave 2 (config)") and `total` when it is a wave, None when objects
    arrive without one (install-key, a verify phase)."""

    phase: str
    started: float
    wave: str | None = None
    total: int | None = None
    actions: Counter[str] = field(default_factory=Counter)
    statuses: dict[str, tuple[str, str]] = field(default_factory=dict)  # ref -> (status, message), first seen first
    waiting_for: str | None = None
    waiting_since: float = 0.0

    def applied(self, rec: ObjectRecord) -> None:
        self.actions[rec.action] += 1

    def status(self, rec: ObjectRecord) -> None:
        self.statuses[rec.ref] = (rec.status, rec.message)

    def waiting(self, what: str | None, now: float) -> None:
        """The run now waits for `what` (None: no longer)."""
        if what != self.waiting_for:
            self.waiting_for, self.waiting_since = what, now

    @property
    def empty(self) -> bool:
        return not self.actions and not self.statuses

    def line(self, now: float) -> str:
        """`[apps: apply] wave 2 (config): 120 of 300 applied, 2.1s; waiting 1.2s for …` or
        `[apps: verify] 3 of 12 ready, 14.0s; waiting on Deployment/shop/web (InProgress: …) and 8 more`."""
        failed = f", {self.actions['failed']} failed" if self.actions["failed"] else ""
        text = f"{self._head(counts=False)}{failed}, {now - self.started:.1f}s"
        if self.statuses and (first := self._not_ready()):
            ref, (status, message) = first
            more = len(self.statuses) - self._ready() - 1
            text += f"; waiting on {ref} ({status}{': ' + _short(message) if message else ''})"
            text += f" and {more} more" if more else ""
        if self.waiting_for:
            text += f"; waiting {now - self.waiting_since:.1f}s for {self.waiting_for}"
        return text

    def summary(self, now: float) -> str:
        """The line left once the stretch is over: `… 300 of 300 applied (…) in 2.3s`."""
        text = f"{self._head()} in {now - self.started:.1f}s"
        not_ready = len(self.statuses) - self._ready()
        return text + (f"; {not_ready} not ready" if not_ready else "")

    def _head(self, *, counts: bool = True) -> str:
        """`[phase] wave: 120 of 300 applied (100 created, 20 unchanged)` (`counts`: by action), or
        `[phase] 3 of 12 ready`."""
        where = f"[{self.phase}] " + (f"{self.wave}: " if self.wave else "")
        if self.statuses and not self.actions:
            return f"{where}{self._ready()} of {len(self.statuses)} ready"
        done = sum(self.actions.values())
        by_action = ", ".join(f"{self.actions[a]} {a}" for a in sorted(self.actions, key=_action_rank)
                              if self.actions[a])
        of = f" of {self.total}" if self.total is not None else ""
        return f"{where}{done}{of} applied" + (f" ({by_action})" if counts and by_action else "")

    def _ready(self) -> int:
        return sum(1 for status, _ in self.statuses.values() if status == READY)

    def _not_ready(self) -> tuple[str, tuple[str, str]] | None:
        return next(((ref, s) for ref, s in self.statuses.items() if s[0] != READY), None)


def _short(message: str, limit: int = 100) -> str:
    message = " ".join(message.split())
    return message if len(message) <= limit else message[: limit - 1] + "…"


def _action_rank(action: str) -> tuple[int, str]:
    return (_ACTION_ORDER.index(action) if action in _ACTION_ORDER else len(_ACTION_ORDER), action)
