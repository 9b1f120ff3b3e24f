"""The status engine's vocabulary (pure): an object's `Status` and `Health`, a pod's `PodFailure`, and the
readers of an object's metadata and conditions that the engine (`engine`), the rules for built-in kinds
(`rules`) and the pod rules (`pods`) all use."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any

Obj = dict[str, Any]
GroupKind = tuple[str, str]  # ("apps", "Deployment"); the core group is ""


class Status(str, Enum):
    CURRENT = "Current"
    IN_PROGRESS = "InProgress"
    FAILED = "Failed"
    TERMINATING = "Terminating"
    NOT_FOUND = "NotFound"
    UNKNOWN = "Unknown"


@dataclass(frozen=True)
class PodFailure:
    """A container failure that waiting will not fix. `container` is None for pod-level failures."""

    pod: str
    container: str | None
    reason: str
    message: str
    hint: str

    def __str__(self) -> str:
        where = f"pod {self.pod}" + (f" container {self.container}" if self.container else "")
        detail = f": {self.message}" if self.message else ""
        return f"{where}: {self.reason}{detail}"


@dataclass(frozen=True)
class Health:
    status: Status
    message: str
    failure: PodFailure | None = None


Rule = Callable[[Obj, "dict[str, Obj]"], Health]


def group_kind(obj: Obj) -> GroupKind:
    api_version = str(obj.get("apiVersion") or "")
    return (api_version.rpartition("/")[0] if "/" in api_version else "", str(obj.get("kind") or ""))


def conditions(obj: Obj) -> dict[str, Obj]:
    """The object's conditions by type (the first of each type, as kstatus reads them)."""
    out: dict[str, Obj] = {}
    for cond in (obj.get("status") or {}).get("conditions") or ():
        if isinstance(cond, dict) and "type" in cond:
            out.setdefault(cond["type"], cond)
    return out


def condition_text(condition: Obj, fallback: str) -> str:
    reason, message = condition.get("reason"), one_line(condition.get("message") or "")
    text = ": ".join(part for part in (reason, message) if part)
    return text or fallback


def name_of(obj: Obj) -> str:
    return (obj.get("metadata") or {}).get("name", "?")


def namespace_of(obj: Obj) -> str:
    return (obj.get("metadata") or {}).get("namespace") or "default"


def labels_of(obj: Obj) -> dict[str, str]:
    return (obj.get("metadata") or {}).get("labels") or {}


def annotations_of(obj: Obj) -> dict[str, str]:
    return (obj.get("metadata") or {}).get("annotations") or {}


def as_int(value: Any, default: int = 0) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def one_line(text: str) -> str:
    return " ".join(str(text).split())
