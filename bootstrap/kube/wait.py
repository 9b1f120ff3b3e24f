"""The one wait engine: poll until a set of objects is Current, fail fast on the first Failed one.

Used by the CRD and Namespace gates, the rollout verification and the hand-over alike. A fixed set
(`wait_for_set`): each tick `observe(pending)` fetches what it needs and returns a `Health` (from the status
engine) per object still pending; a Current object is not looked at again. A set that grows
(`wait_for_all`): each tick `observe()` returns every object there is now, all judged again. Either way the
engine reports changes, raises `Stalled` for the first Failed object, and `TimedOut` with every object not
ready once the deadline passes. Intervals grow from `first` by `factor` up to `cap` (`until` polls a plain
check on the same loop). Time comes from the `now` and `sleep` it is given (the client's, which count as
waiting on the cluster), so tests drive it with a fake clock and count the ticks.
"""

from __future__ import annotations

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
ObserveAll = Callable[[], Awaitable[dict[K, Health]]]
OnChange = Callable[[K, Health], None]


async def wait_for_set(keys: Sequence[K], observe: Observe[K], *, timeout: float, now: Callable[[], float],
                       sleep: Callable[[float], Awaitable[None]], pace: Pace = Pace(),
                       on_change: OnChange[K] | None = None) -> dict[K, Health]:
    """Every key's final Health once all are Current (Stalled / TimedOut otherwise), in input order."""
    final: dict[K, Health] = {}
    pending = list(dict.fromkeys(keys))

    async def tick() -> list[K] | None:
        nonlocal pending
        if pending:
            pending = _judge(pending, await observe(pending), final, on_change)
        return pending or None

    await _poll(tick, final, timeout=timeout, now=now, sleep=sleep, pace=pace)
    return {key: final[key] for key in dict.fromkeys(keys)}


async def wait_for_all(observe: ObserveAll[K], *, timeout: float, now: Callable[[], float],
                       sleep: Callable[[float], Awaitable[None]], pace: Pace = Pace(),
                       on_change: OnChange[K] | None = None) -> dict[K, Health]:
    """A set that grows: done at the first tick in which every key `observe()` returns is Current, once some
    key has been Current (an empty set has not started). Stalled / TimedOut as `wait_for_set`, TimedOut with
    the keys of the last tick not Current. Every key of the last tick's final Health, in its order."""
    final: dict[K, Health] = {}
    last: list[K] = []
    started = False

    async def tick() -> list[K] | None:
        nonlocal last, started
        observed = await observe()
        last = list(observed)
        waiting = _judge(last, observed, final, on_change)
        started = started or len(waiting) < len(last)
        return None if started and not waiting else waiting

    await _poll(tick, final, timeout=timeout, now=now, sleep=sleep, pace=pace)
    return {key: final[key] for key in last}


def _judge(keys: Sequence[K], observed: dict[K, Health], final: dict[K, Health],
           on_change: OnChange[K] | None) -> list[K]:
    """The keys not Current yet, after recording (and reporting) each key's Health; Stalled on a Failed one."""
    still = []
    for key in keys:
        health = observed.get(key) or Health(Status.UNKNOWN, "not observed")
        if final.get(key) != health:
            final[key] = health
            if on_change is not None:
                on_change(key, health)
        if health.status is Status.FAILED:
            raise Stalled(key, health)
        if health.status is not Status.CURRENT:
            still.append(key)
    return still


async def _poll(tick: Callable[[], Awaitable[list[K] | None]], final: dict[K, Health], *, timeout: float,
                now: Callable[[], float], sleep: Callable[[float], Awaitable[None]], pace: Pace) -> None:
    """The loop: `tick()` until it returns None (done); TimedOut with the keys it last returned at the deadline."""
    deadline = now() + timeout
    delay = pace.first
    while True:
        waiting = await tick()
        if waiting is None:
            return
        remaining = deadline - now()
        if remaining <= 0:
            raise TimedOut([(key, final[key]) for key in waiting])
        await sleep(min(delay, remaining))
        delay = min(delay * pace.factor, pace.cap)


async def until(check: Callable[[], Awaitable[bool]], timeout: float, *, now: Callable[[], float],
                sleep: Callable[[float], Awaitable[None]], pace: Pace = Pace()) -> bool:
    """Await `check()` at growing intervals until it is true (True) or `timeout` passes (False)."""
    async def tick() -> list | None:
        return None if await check() else []

    try:
        await _poll(tick, {}, timeout=timeout, now=now, sleep=sleep, pace=pace)
    except TimedOut:
        return False
    return True
