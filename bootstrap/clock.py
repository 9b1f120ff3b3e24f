"""Where a run's time goes: waiting on the cluster, or dr-bootstrap's own work.

A restore's wall time is the operator's RTO.  Most of it should be the cluster's: the API server answering
and the controllers rolling pods out.  `WaitClock` measures that part: it runs while at least one API request
is in flight or the run sleeps waiting for the cluster to change (a gate, a rollout poll, a retry backoff:
`bootstrap.kube.client.Client.sleep`).
Sixteen requests in flight at once count once: the clock measures the union of the waits, never their sum.
Everything else (start-up, clone, decryption, validation, client-side work between requests) is the tool's
own time, reported next to it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class WaitClock:
    """Thread-safe union of waiting intervals. `with clock:` around each wait; `seconds()` so far."""

    __slots__ = ("_lock", "_waiting", "_since", "_total", "_now")

    def __init__(self, now: Callable[[], float] = time.monotonic) -> None:
        self._lock = threading.Lock()
        self._waiting = 0  # waits in progress
        self._since = 0.0  # when the current stretch of waiting began
        self._total = 0.0  # closed stretches
        self._now = now

    def __enter__(self) -> WaitClock:
        with self._lock:
            if self._waiting == 0:
                self._since = self._now()
            self._waiting += 1
        return self

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self._waiting -= 1
            if self._waiting == 0:
                self._total += self._now() - self._since

    def seconds(self) -> float:
        """Total waiting so far, including a stretch still in progress."""
        with self._lock:
            return self._total + (self._now() - self._since if self._waiting else 0.0)
