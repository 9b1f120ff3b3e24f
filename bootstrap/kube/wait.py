"""The one wait engine: poll until a set of objects is Current, fail fast on the first Failed one.

Used by the CRD and Namespace gates and by the rollout verification alike. Each tick `observe(pending)`
fetches what it needs and returns a `Health` (from the status engine) per object still pending; the engine
reports changes, raises `Stalled` for the first Failed object, and `TimedOut` with every object not ready
once the deadline passes. Intervals grow from `first` by `factor` up to `cap`. Time comes from the
`now` and `sleep` it is given (the client's, which count as waiting on the cluster), so tests drive it
with a fake clock and count the ticks.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from bootstrap.status import Health, Status

K = TypeVar("K", bound=Hashable)


class Stalled(Exception, Generic[K]):
    def __init__(self, key: K, health: Health):
        super().__init__(f"{key}: {health.message}")
        self.key = key
        self.health = health


class TimedOut(Exception, Generic[K]):
    def __init__(self, waiting: list[tuple[K, Health]]):
        super().__init__(f"{len(waiting)} not ready")
        self.waiting = waiting


@dataclass(frozen=True)
class Pace:
    first: float = 0.05
    factor: float = 2.0
    cap: float = 1.0


Observe = Callable[[Sequence[K]], Awaitable[dict[K, Health]]]


async def wait_for_set(keys: Sequence[K], observe: Observe[K], *, timeout: float, now: Callable[[], float],
                       sleep: Callable[[float], Awaitable[None]], pace: Pace = Pace(),
                       on_change: Callable[[K, Health], None] | None = None) -> dict[K, Health]:
    """Every key's final Health once all are Current (Stalled / TimedOut otherwise), in input order."""
    final: dict[K, Health] = {}
    pending = list(dict.fromkeys(keys))
    deadline = now() + timeout
    delay = pace.first
    while pending:
        observed = await observe(pending)
        still = []
        for key in pending:
            health = observed.get(key) or Health(Status.UNKNOWN, "not observed")
            if final.get(key) != health:
                final[key] = health
                if on_change is not None:
                    on_change(key, health)
            if health.status is Status.FAILED:
                raise Stalled(key, health)
            if health.status is not Status.CURRENT:
                still.append(key)
        pending = still
        if not pending:
            break
        remaining = deadline - now()
        if remaining <= 0:
            raise TimedOut([(key, final[key]) for key in pending])
        await sleep(min(delay, remaining))
        delay = min(delay * pace.factor, pace.cap)
    return {key: final[key] for key in dict.fromkeys(keys)}


async def until(check: Callable[[], Awaitable[bool]], timeout: float, *, now: Callable[[], float],
                sleep: Callable[[float], Awaitable[None]], pace: Pace = Pace()) -> bool:
    """Await `check()` at growing intervals until it is true (True) or `timeout` passes (False)."""
    deadline = now() + timeout
    delay = pace.first
    while True:
        if await check():
            return True
        remaining = deadline - now()
        if remaining <= 0:
            return False
        await sleep(min(delay, remaining))
        delay = min(delay * pace.factor, pace.cap)


def poll_until(check: Callable[[], bool], timeout: float, *, first: float = 0.05, cap: float = 1.0,
               sleep: Callable[[float], None] = time.sleep, now: Callable[[], float] = time.monotonic) -> bool:
    """`until` for a plain function, in the calling thread: for tests and scripts that wait on a cluster."""
    deadline = now() + timeout
    delay = first
    while True:
        if check():
            return True
        remaining = deadline - now()
        if remaining <= 0:
            return False
        sleep(min(delay, remaining))
        delay = min(delay * 2, cap)
