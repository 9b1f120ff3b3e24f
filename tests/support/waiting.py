"""Waiting on a real cluster from a test, in the calling thread (the tool's own waits are `bootstrap.kube.wait`)."""

from __future__ import annotations

from collections.abc import Callable

from tenacity import RetryError, Retrying, retry_if_result, stop_after_delay, wait_exponential


def poll_until(check: Callable[[], object], timeout: float, *, first: float = 0.05, cap: float = 1.0) -> bool:
    """True once `check()` is truthy, False when `timeout` seconds pass first (intervals double up to `cap`)."""
    retrying = Retrying(stop=stop_after_delay(timeout), wait=wait_exponential(multiplier=first, max=cap),
                        retry=retry_if_result(lambda ok: not ok))
    try:
        return retrying(lambda: bool(check()))
    except RetryError:
        return False
