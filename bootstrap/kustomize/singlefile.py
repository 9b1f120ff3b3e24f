"""A `--path` that names one file instead of a directory: the secret-zero files (`age-key.sops.yaml`,
`secrets.sops.yaml`) that a repository's own bootstrap applies with `sops -d FILE | kubectl apply -f -`.

The file is read as it is, without kustomize (kustomize builds directories only): every YAML document (or the
one JSON document) is an object, a v1 List its items (as kubectl reads them). Encrypted objects stay encrypted
here; the engine decrypts them as it decrypts any built object (the file's MAC verified,
`kustomize.secrets.SopsFiles.decrypt_object`), which is what `sops -d` does to the whole file.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from bootstrap.errors import ValidationError
from bootstrap.manifests import Limits, parse_documents

if TYPE_CHECKING:
    from bootstrap.kustomize.artifact import Artifact

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")


def read_file_objects(root: Path, rel: str, *, artifact: Artifact, limits: Limits, label: str) -> list[dict]:
    """The objects of the repository file `rel` (ValidationError naming it when it is left out of the
    source, points outside the repository, is not YAML/JSON or holds something that is not an object)."""
    path = root / rel
    if artifact.left_out(rel, False):
        raise ValidationError(f"{label}: {rel} is left out of the source artifact (.sourceignore or spec.ignore)")
    if not path.resolve().is_relative_to(root):
        raise ValidationError(f"{label}: {rel} is a symlink pointing outside the repository; refused")
    if not rel.lower().endswith(MANIFEST_SUFFIXES):
        raise ValidationError(f"{label}: {rel} is not a manifest file (.yaml, .yml or .json); a single-file --path "
                              "must hold Kubernetes objects")
    fmt = "json" if rel.lower().endswith(".json") else "yaml"
    objects = []
    for index, body in enumerate(parse_documents(path.read_bytes(), rel, fmt, limits)):
        if body is None:
            continue
        if not isinstance(body, dict):
            raise ValidationError(f"{rel}: document {index + 1} is not a Kubernetes object (a {type(body).__name__})")
        items = body.get("items") if body.get("kind") == "List" else None
        if isinstance(items, list):  # kubectl applies a List's items
            if not all(isinstance(item, dict) for item in items):
                raise ValidationError(f"{rel}: document {index + 1} is a List whose items are not all Kubernetes "
                                      "objects")
            objects += items
            continue
        objects.append(body)
    return objects
