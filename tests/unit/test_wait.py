"""The one wait engine, on fake time: what it observes, when it stops, how it fails (no wall clock)."""

from __future__ import annotations

import asyncio

import pytest

from bootstrap.kube.wait import Pace, Stalled, TimedOut, until, wait_for_all, wait_for_set
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


def growing(*ticks: dict[str, Health]):
    """wait_for_all's observe: each tick the next scripted set (the last repeats)."""
    calls: list[int] = []

    async def observe():
        calls.append(1)
        return ticks[min(len(calls), len(ticks)) - 1]

    return observe, calls


def test_a_growing_set_is_judged_whole_each_tick_until_all_are_current_at_once():
    # b appears at the second tick; a, Current at first, falls back at the third: not done until all are Current
    observe, calls = growing({"a": CURRENT, "x": WAITING}, {"a": CURRENT, "b": WAITING, "x": CURRENT},
                             {"a": WAITING, "b": CURRENT, "x": CURRENT}, {"a": CURRENT, "b": CURRENT, "x": CURRENT})
    time = FakeTime()
    changes = []
    final = asyncio.run(wait_for_all(observe, timeout=60, now=time, sleep=time.sleep,
                                     on_change=lambda k, h: changes.append((k, h.status))))
    assert len(calls) == 4 and time.slept == [0.05, 0.1, 0.2]
    assert final == {"a": CURRENT, "b": CURRENT, "x": CURRENT}
    assert changes == [("a", Status.CURRENT), ("x", Status.IN_PROGRESS), ("b", Status.IN_PROGRESS),
                       ("x", Status.CURRENT), ("a", Status.IN_PROGRESS), ("b", Status.CURRENT),
                       ("a", Status.CURRENT)]


def test_an_empty_set_has_not_started_but_one_that_emptied_after_something_was_current_is_done():
    observe, calls = growing({}, {"a": WAITING}, {})
    time = FakeTime()
    with pytest.raises(TimedOut) as err:
        asyncio.run(wait_for_all(observe, timeout=2, now=time, sleep=time.sleep))
    assert err.value.waiting == [] and sum(time.slept) == pytest.approx(2.0)
    observe, calls = growing({}, {"a": CURRENT, "b": WAITING}, {})
    assert asyncio.run(wait_for_all(observe, timeout=60, now=time, sleep=time.sleep)) == {}
    assert len(calls) == 3


def test_a_growing_set_stops_at_the_first_failed_key_and_times_out_with_the_last_tick_s_waiting_keys():
    broken = Health(Status.FAILED, "crash")
    observe, calls = growing({"a": WAITING}, {"a": WAITING, "b": broken, "c": broken})
    time = FakeTime()
    with pytest.raises(Stalled) as err:
        asyncio.run(wait_for_all(observe, timeout=600, now=time, sleep=time.sleep))
    assert err.value.key == "b" and len(calls) == 2
    observe, _ = growing({"a": WAITING, "b": CURRENT}, {"b": CURRENT, "c": WAITING})
    with pytest.raises(TimedOut) as late:
        asyncio.run(wait_for_all(observe, timeout=5, now=time, sleep=time.sleep))
    assert late.value.waiting == [("c", WAITING)]  # a is gone: only what the last tick listed
