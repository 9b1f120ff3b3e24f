"""The kustomization file Flux builds, derived from a directory and a Flux Kustomization's spec (pure).

This follows fluxcd/pkg/kustomize's generator (v1.35, as kustomize-controller v1.9 runs it):
- a directory with a kustomization file keeps it, but the file goes through a typed round trip of kustomize's
  `types.Kustomization` (unknown fields dropped, keys matched as Go's encoding/json matches them, zero values
  of fields without `omitempty` filled in); `kustomization_schema.json` holds that struct's field tree, made
  by hack/oracles/kustschema from kustomize api v0.21.1;
- a directory without one gets a generated file listing its manifests (see `generated`);
- then the Flux spec is merged in: `targetNamespace`, `namePrefix`, `nameSuffix`, `patches`, `components`
  (local and relative; missing ones skipped with `ignoreMissingComponents`), `images` (merged by name as
  the generator does), `buildMetadata`; a kept file without resources gets `buildMetadata:
  [originAnnotations]`, which kustomize needs to build it.
`commonMetadata` and the owner labels are applied to the built objects, not here (see `render.objects`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from functools import lru_cache
from importlib import resources
from typing import Any

from bootstrap.errors import ValidationError

KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")  # kustomize's order
API_VERSION = "kustomize.config.k8s.io/v1beta1"
ORIGIN = "originAnnotations"
_REMOTE_PREFIXES = ("git::", "gh:", "ssh://", "https://", "http://", "git@", "github.com:", "github.com/")


class KustomizationFileError(ValidationError):
    """A kustomization file or a Flux spec field that Flux's generator refuses."""


@lru_cache(maxsize=1)
def _schema() -> dict:
    return json.loads(resources.files("bootstrap.kustomize").joinpath("kustomization_schema.json").read_text())


# --- the typed round trip ------------------------------------------------------------------------------------


def _fold(name: str) -> str:
    """encoding/json's case folding for field names (simple folding; K/S specials fold to k/s too)."""
    return name.replace("\u212a", "k").replace("\u017f", "s").lower()


def _field(fields: Mapping[str, dict], key: str) -> str | None:
    """The struct field a JSON key fills: the exact name, else the first case-insensitive match."""
    if key in fields:
        return key
    folded = _fold(key)
    return next((name for name in fields if _fold(name) == folded), None)


def _zero(node: dict) -> Any:
    return {"string": "", "bool": False, "int": 0, "float": 0.0}.get(node["type"])


def _is_zero(value: Any) -> bool:
    return value is None or value is False or value == "" or value == 0 or value == [] or value == {}


def _typed(value: Any, node: dict, where: str) -> Any:
    """`value` as Go would hold it in a field of type `node` (KustomizationFileError where Go's decoder fails)."""
    kind = node["type"]
    if value is None:
        return None
    if kind == "any":
        return value
    if kind == "string":
        if not isinstance(value, str):
            raise KustomizationFileError(f"{where}: expected a string, got {_json_kind(value)}")
        return value
    if kind == "bool":
        if not isinstance(value, bool):
            raise KustomizationFileError(f"{where}: expected true or false, got {_json_kind(value)}")
        return value
    if kind in ("int", "float"):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (kind == "int" and value != int(value)):
            raise KustomizationFileError(f"{where}: expected a number, got {_json_kind(value)}")
        return int(value) if kind == "int" else float(value)
    if kind == "list":
        if not isinstance(value, list):
            raise KustomizationFileError(f"{where}: expected a list, got {_json_kind(value)}")
        return [_typed(item, node["items"], f"{where}[{i}]") for i, item in enumerate(value)]
    if kind == "map":
        if not isinstance(value, dict):
            raise KustomizationFileError(f"{where}: expected a mapping, got {_json_kind(value)}")
        return {str(k): _typed(v, node["items"], f"{where}.{k}") for k, v in value.items()}
    if not isinstance(value, dict):
        raise KustomizationFileError(f"{where}: expected a mapping, got {_json_kind(value)}")
    held: dict[str, Any] = {}
    for key, item in value.items():
        name = _field(node["fields"], str(key))
        if name is not None:  # a later key filling the same field wins, as in Go
            held[name] = _typed(item, node["fields"][name], f"{where}.{name}")
    return _marshal(held, node)


def _marshal(held: dict[str, Any], node: dict) -> dict[str, Any]:
    """The JSON encoding.Marshal gives a struct holding `held`: omitempty fields dropped when zero, others
    written with their zero value (a nil pointer, slice or map as null)."""
    out: dict[str, Any] = {}
    for name, field in node["fields"].items():
        value = held.get(name)
        if field["type"] == "object" and not field.get("pointer") and value is None:
            value = _marshal({}, field)  # a struct value is never nil, so never left out
        if field.get("omitempty") and (_is_zero(value) if field["type"] != "object" or field.get("pointer") else False):
            continue
        if value is None and not field.get("pointer") and field["type"] not in ("list", "map", "any"):
            value = _zero(field)
        out[name] = value
    return out


def _json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "a list" if isinstance(value, list) else "a mapping"


def round_trip(document: Any, where: str) -> dict[str, Any]:
    """The kustomization Flux writes back after reading `document` into kustomize's struct."""
    if document is None:
        document = {}
    if not isinstance(document, dict):
        raise KustomizationFileError(f"{where}: a kustomization file must be a mapping")
    return _typed({"apiVersion": API_VERSION, "kind": "Kustomization", **document}, _schema(), where)


# --- merging a Flux Kustomization's spec --------------------------------------------------------------------


def is_local_relative(path: str) -> bool:
    """fluxcd/pkg/kustomize IsLocalRelativePath: not a remote reference, not absolute."""
    lowered = path.lower()
    if any(len(p) < len(path) and lowered.startswith(p) for p in _REMOTE_PREFIXES):
        return False
    return not (path.startswith("/") or lowered.removeprefix("file://").startswith("/"))


def _selector(target: Mapping[str, Any] | None) -> dict[str, str] | None:
    if target is None:
        return None
    keys = ("group", "version", "kind", "name", "namespace", "labelSelector", "annotationSelector")
    return {key: target[key] for key in keys if target.get(key)}


def merge_spec(kustomization: dict[str, Any], spec: Mapping[str, Any], *, kept: bool,
               component_exists, where: str) -> dict[str, Any]:
    """`kustomization` (already round-tripped) with the Flux spec merged in, as the generator does.

    `kept`: the file came from the directory (not generated). `component_exists(path)` tells whether a
    component path (relative to the directory) exists, for `ignoreMissingComponents`."""
    kus = dict(kustomization)
    if kept and not kus.get("resources"):
        kus["buildMetadata"] = [ORIGIN]
    for field, key in (("targetNamespace", "namespace"), ("namePrefix", "namePrefix"), ("nameSuffix", "nameSuffix")):
        if field in spec:
            kus[key] = _string(spec[field], f"{where}: spec.{field}")
    patches = list(kus.get("patches") or [])
    for index, patch in enumerate(_list(spec.get("patches"), f"{where}: spec.patches")):
        if not isinstance(patch, dict):
            raise KustomizationFileError(f"{where}: spec.patches[{index}] must be a mapping")
        entry: dict[str, Any] = {"patch": _string(patch.get("patch", ""), f"{where}: spec.patches[{index}].patch")}
        if "target" in patch and patch["target"] is not None:
            entry["target"] = _selector(patch["target"])
        patches.append(entry)
    if patches:
        kus["patches"] = patches
    components = list(kus.get("components") or [])
    for component in _list(spec.get("components"), f"{where}: spec.components"):
        component = _string(component, f"{where}: spec.components")
        if not is_local_relative(component):
            raise KustomizationFileError(f"{where}: component path '{component}' must be local and relative")
        if spec.get("ignoreMissingComponents") is True and not component_exists(component):
            continue
        components.append(component)
    if components:
        kus["components"] = components
    images = [dict(image) for image in kus.get("images") or []]
    for image in _list(spec.get("images"), f"{where}: spec.images"):
        _merge_image(images, image, where)
    if images:
        kus["images"] = images
    build_metadata = _list(spec.get("buildMetadata"), f"{where}: spec.buildMetadata")
    if build_metadata:
        kus["buildMetadata"] = list(build_metadata)
    return kus


def _merge_image(images: list[dict[str, Any]], image: Any, where: str) -> None:
    """An image override: fields merged into an entry of the same name (newTag and digest as one unit)."""
    if not isinstance(image, dict) or not isinstance(image.get("name"), str):
        raise KustomizationFileError(f"{where}: spec.images entries need a name")
    existing = next((entry for entry in images if entry.get("name") == image["name"]), None)
    if existing is None:
        images.append({k: image[k] for k in ("name", "newName", "newTag", "digest") if image.get(k)})
        return
    if image.get("newName"):
        existing["newName"] = image["newName"]
    if image.get("newTag") or image.get("digest"):
        for key in ("newTag", "digest"):
            if image.get(key):
                existing[key] = image[key]
            else:
                existing.pop(key, None)


def _list(value: Any, where: str) -> list:
    if value is None:
        return []
    if not isinstance(value, list):
        raise KustomizationFileError(f"{where} must be a list")
    return value


def _string(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise KustomizationFileError(f"{where} must be a string")
    return value


# --- a generated kustomization -----------------------------------------------------------------------------


def generated(resources_: Iterable[str]) -> dict[str, Any]:
    """The file Flux generates for a directory without one: its manifests as resources (`./x.yaml`,
    `./sub` for a sub-directory with its own kustomization file), or a placeholder namespace when there are
    none (kustomize refuses an empty kustomization)."""
    listed = list(resources_)
    kus: dict[str, Any] = {"apiVersion": API_VERSION, "kind": "Kustomization"}
    if listed:
        kus["resources"] = listed
    else:
        kus["namespace"] = "_placeholder"
    return round_trip(kus, "(generated)")


def apply_edits(kustomization: dict[str, Any], edits: Mapping[str, Any]) -> dict[str, Any]:
    """Fields set as `kustomize edit` sets them (an engine's overrides, e.g. an Argo CD Application's):
    `commonLabels`/`commonAnnotations` merged over the file's (`edit add label|annotation --force`), `labels`
    entries appended (`--without-selector`), `replicas` replaced by name (`edit set replicas`)."""
    if not edits:
        return kustomization
    kus = dict(kustomization)
    for key in ("commonLabels", "commonAnnotations"):
        clash = sorted(set(edits.get(key) or {}) & set(kus.get(key) or {})) if key in edits.get("unforced", ()) else []
        if clash:
            raise KustomizationFileError(f"{key} {clash[0]!r} is already in the kustomization file (kustomize edit "
                                         "without --force refuses it)")
        if edits.get(key):
            kus[key] = {**(kus.get(key) or {}), **{str(k): str(v) for k, v in edits[key].items()}}
    if edits.get("labels"):
        kus["labels"] = [*(kus.get("labels") or []), *edits["labels"]]
    if edits.get("replicas"):
        replicas = {str(r.get("name")): dict(r) for r in kus.get("replicas") or [] if isinstance(r, dict)}
        for item in edits["replicas"]:
            replicas[str(item["name"])] = {"name": str(item["name"]), "count": int(item["count"])}
        kus["replicas"] = list(replicas.values())
    return kus
