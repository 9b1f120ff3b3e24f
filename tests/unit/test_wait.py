"""The one wait engine, on fake time: what it observes, when it stops, how it fails (no wall clock)."""

from __future__ import annotations

import asyncio

import pytest

from bootstrap.kube.wait import Pace, Stalled, TimedOut, until, wait_for_set
from bootstrap.status import Health, Status
from tests.support.fakes import FakeTime

CURRENT, WAITING = Health(Status.CURRENT, "ok"), Health(Status.IN_PROGRESS, "waiting")


def script(*ticks: dict[str, Health]):
    seen: list[list[str]] = []

    async def observe(pending):
        seen.append(list(pending))
        return ticks[min(len(seen), len(ticks)) - 1]

    return observe, seen


def test_waits_until_every_object_is_current_and_stops_looking_at_those_that_are():
    observe, seen = script({"a": WAITING, "b": CURRENT}, {"a": WAITING}, {"a": CURRENT})
    time = FakeTime()
    changes = []
    final = asyncio.run(wait_for_set(["a", "b"], observe, timeout=60, now=time, sleep=time.sleep,
                                     on_change=lambda k, h: changes.append((k, h.status))))
    assert final == {"a": CURRENT, "b": CURRENT}
    assert seen == [["a", "b"], ["a"], ["a"]]
    assert time.slept == [0.05, 0.1]  # growing intervals
    assert changes == [("a", Status.IN_PROGRESS), ("b", Status.CURRENT), ("a", Status.CURRENT)]


def test_the_first_failed_object_stops_the_wait_at_once():
    broken = Health(Status.FAILED, "crash")
    observe, seen = script({"a": WAITING, "b": WAITING}, {"a": broken, "b": WAITING})
    time = FakeTime()
    with pytest.raises(Stalled) as err:
        asyncio.run(wait_for_set(["a", "b"], observe, timeout=600, now=time, sleep=time.sleep))
    assert err.value.key == "a" and err.value.health is broken
    assert len(seen) == 2 and sum(time.slept) < 1  # at the second look, not at the timeout


def test_the_timeout_lists_everything_not_ready():
    observe, seen = script({"a": WAITING, "b": CURRENT})
    time = FakeTime()
    with pytest.raises(TimedOut) as err:
        asyncio.run(wait_for_set(["a", "b"], observe, timeout=5, now=time, sleep=time.sleep, pace=Pace(cap=1.0)))
    assert err.value.waiting == [("a", WAITING)]
    assert sum(time.slept) == pytest.approx(5.0) and max(time.slept) == 1.0


def test_an_object_not_observed_is_not_taken_for_current():
    observe, _ = script({})
    time = FakeTime()
    with pytest.raises(TimedOut) as err:
        asyncio.run(wait_for_set(["a"], observe, timeout=1, now=time, sleep=time.sleep))
    assert err.value.waiting[0][1].status is Status.UNKNOWN


def test_until():
    answers = iter([False, False, True])
    time = FakeTime()

    async def check():
        return next(answers)

    assert asyncio.run(until(check, 10, now=time, sleep=time.sleep)) is True
    assert time.slept == [0.05, 0.1]

    async def never():
        return False

    assert asyncio.run(until(never, 0.5, now=time, sleep=time.sleep)) is False
