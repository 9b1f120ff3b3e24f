"""Plain data shared by the pipeline stages: object references and loaded manifests."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, order=True)
class ObjectRef:
    """Identity of a Kubernetes object: what the API server keys it by."""

    api_version: str
    kind: str
    namespace: str | None
    name: str

    @property
    def group(self) -> str:
        return self.api_version.rpartition("/")[0] if "/" in self.api_version else ""

    @property
    def group_kind(self) -> str:
        return f"{self.kind}.{self.group}" if self.group else self.kind

    def __str__(self) -> str:
        where = f"{self.namespace}/" if self.namespace else ""
        return f"{self.kind}/{where}{self.name}"


@dataclass
class Manifest:
    """One Kubernetes object as found in the repository, decrypted if it was encrypted.

    `body` may hold plaintext secret values: it never appears in repr, logs or reports.
    `source` is the repo-relative file it came from (kustomize's origin), `origin` the rendered phase
    that produced it: a Flux Kustomization (`namespace/name`) or a `--path`.
    """

    ref: ObjectRef
    body: dict[str, Any] = field(repr=False)
    source: str
    encrypted: bool = False
    origin: str = ""

    @property
    def annotations(self) -> dict[str, str]:
        return (self.body.get("metadata") or {}).get("annotations") or {}

    @property
    def labels(self) -> dict[str, str]:
        return (self.body.get("metadata") or {}).get("labels") or {}
