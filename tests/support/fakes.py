"""Collaborators for unit tests of the edge: fake clocks (for the wait engine, and for a Run's phases), and a
transport that replays scripted answers.

The transport is the HTTP layer only (a `Transport` the client is built with); what it answers is
shaped as the API server answers. Cluster behaviour itself is tested against the real API server.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from bootstrap.clock import WaitClock
from bootstrap.kube.client import Client
from bootstrap.kube.credentials import StaticCredentials
from bootstrap.kube.errors import TransportError
from bootstrap.kube.transport import EventLoop, Reply
from bootstrap.report.model import RunReport
from bootstrap.report.progress import Progress, QuietProgress
from bootstrap.report.run import Run


class FakeTime:
    """Monotonic time that moves only when something sleeps on it."""

    def __init__(self) -> None:
        self.t = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.t += seconds


class RunTime:
    """A Run's two time sources on one fake timeline: `clock()` seconds from 0 (phase lengths) and `now()`
    the date `start` + those seconds (phase dates). It moves only by `advance`."""

    def __init__(self, start: datetime) -> None:
        self.start = start
        self.t = 0.0

    def clock(self) -> float:
        return self.t

    def now(self) -> datetime:
        return self.start + timedelta(seconds=self.t)

    def advance(self, seconds: float) -> None:
        self.t += seconds

    def run(self, report: RunReport, progress: Progress | None = None) -> Run:
        """A Run on this timeline (quiet progress, warnings kept off stderr, unless given one)."""
        return Run(report, progress or QuietProgress(errors=io.StringIO()), clock=self.clock, now=self.now)


def reply(status: int = 200, body: Any = None, *, reason: str = "", date: str | None = None,
          retry_after: str | None = None) -> Reply:
    data = b"" if body is None else json.dumps(body).encode()
    return Reply(status, reason, data, date, retry_after)


def status(code: int, reason: str, message: str, **details: Any) -> Reply:
    return reply(code, {"kind": "Status", "status": "Failure", "reason": reason, "message": message,
                        "details": details})


Answer = Callable[[str, str, Mapping[str, str], bytes | None], "Reply | TransportError"]


class ScriptedTransport:
    """Answers each request with `answer(method, target, headers, body)`; records what was sent."""

    server = "https://api.example.invalid:6443"

    def __init__(self, answer: Answer, time: FakeTime | None = None, latency: float = 0.0):
        self.answer = answer
        self.sent: list[tuple[str, str, dict[str, str], bytes | None]] = []
        self.time = time
        self.latency = latency

    async def exchange(self, method: str, target: str, headers: Mapping[str, str], body: bytes | None,
                       timeout: float) -> Reply:
        self.sent.append((method, target, dict(headers), body))
        if self.time is not None and self.latency:
            await self.time.sleep(self.latency)
        result = self.answer(method, target, headers, body)
        if isinstance(result, BaseException):
            raise result
        return result

    async def aclose(self) -> None:
        pass


def scripted_client(answer: Answer, *, time: FakeTime | None = None, retry_deadline: float = 30.0,
                    credentials: Any = None, latency: float = 0.0) -> tuple[Client, ScriptedTransport, FakeTime]:
    time = time or FakeTime()
    transport = ScriptedTransport(answer, time, latency)
    client = Client(transport, EventLoop(), credentials or StaticCredentials(), clock=WaitClock(now=time),
                    retry_deadline=retry_deadline, sleep=time.sleep, now=time)
    return client, transport, time


def sequence(*answers: Reply | TransportError) -> Answer:
    """Answers in turn; the last one again for every request after."""
    calls = []

    def answer(method: str, target: str, headers: Mapping[str, str], body: bytes | None) -> Reply | TransportError:
        calls.append(target)
        return answers[min(len(calls), len(answers)) - 1]

    return answer


CORE = [("", "v1", "Namespace", "namespaces", False), ("", "v1", "ConfigMap", "configmaps", True),
        ("", "v1", "Secret", "secrets", True),
        ("apiextensions.k8s.io", "v1", "CustomResourceDefinition", "customresourcedefinitions", False)]


def discovery_body(resources: list[tuple[str, str, str, str, bool]], root: str) -> dict[str, Any]:
    """An aggregated discovery document (`/api` or `/apis`) serving `resources` (group, version, kind, plural, namespaced)."""
    groups: dict[str, list[tuple[str, str, str, bool]]] = {}
    for group, version, kind, plural, namespaced in resources:
        if (group == "") == (root == "/api"):
            groups.setdefault(group, []).append((version, kind, plural, namespaced))
    return {"kind": "APIGroupDiscoveryList", "items": [
        {"metadata": {"name": group}, "versions": [
            {"version": version, "resources": [
                {"resource": plural, "responseKind": {"kind": kind}, "scope": "Namespaced" if namespaced else "Cluster"}]}
            for version, kind, plural, namespaced in items]}
        for group, items in groups.items()]}
