"""WaitClock: the union of waits on the cluster, not their sum."""

from __future__ import annotations

import threading

from bootstrap.clock import WaitClock


class Fake:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_overlapping_waits_count_once():
    now = Fake()
    clock = WaitClock(now=now)
    first, second = WaitClock.__enter__, WaitClock.__exit__
    first(clock)          # request A at 0
    now.t = 1.0
    first(clock)          # request B at 1, A still in flight
    now.t = 2.0
    second(clock)         # A answers at 2
    now.t = 5.0
    second(clock)         # B answers at 5
    assert clock.seconds() == 5.0  # 0..5 once, not 2 + 4


def test_gaps_between_waits_are_not_waiting():
    now = Fake()
    clock = WaitClock(now=now)
    with clock:
        now.t = 2.0
    now.t = 10.0          # 8 s of the tool's own work
    with clock:
        now.t = 11.5
    assert clock.seconds() == 3.5


def test_a_wait_in_progress_counts_so_far():
    now = Fake()
    clock = WaitClock(now=now)
    clock.__enter__()
    now.t = 4.0
    assert clock.seconds() == 4.0
    now.t = 6.0
    assert clock.seconds() == 6.0


def test_threads_entering_and_leaving_leave_the_clock_balanced():
    now = Fake()
    clock = WaitClock(now=now)

    def many() -> None:
        for _ in range(2000):
            with clock:
                pass

    threads = [threading.Thread(target=many) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    now.t = 50.0  # were a wait left open by a lost update, these 50 s would count
    assert clock.seconds() == 0.0
