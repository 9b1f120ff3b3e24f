"""What kustomize-controller does to built objects before applying them, in its order (pure, given the
SOPS files): decrypt (only with `decryption`), substitute (`postBuild`), then `commonMetadata`, the owner
labels, and no `status` (except on CRDs) or `creationTimestamp`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bootstrap.errors import ValidationError
from bootstrap.manifests import ref_of
from bootstrap.model import Manifest
from bootstrap.kustomize.builder import Built
from bootstrap.engines.flux.kustomizations import GROUP, FluxKustomization
from bootstrap.engines.flux.postbuild import secret_expansions, substitute_object
from bootstrap.kustomize.secrets import SopsFiles
from bootstrap.gostd import float64_numbers

DECRYPT_KEY = f"{GROUP}/decrypt"
OWNER_NAME = f"{GROUP}/name"
OWNER_NAMESPACE = f"{GROUP}/namespace"
PLAYBOOK_API = "dr-bootstrap.io/"


@dataclass(frozen=True)
class Finishing:
    """How one phase's objects are finished: the Kustomization that renders them (None for a plain path),
    whether SOPS is decrypted, and the substitution variables (None: no postBuild)."""

    kustomization: FluxKustomization | None
    decrypts: bool
    variables: Mapping[str, str] | None
    always: bool = False
    strict: bool = False


def _annotations(body: Mapping[str, Any]) -> Mapping[str, Any]:
    metadata = body.get("metadata") if isinstance(body.get("metadata"), dict) else {}
    annotations = metadata.get("annotations")
    return annotations if isinstance(annotations, dict) else {}


def has_sops(body: Mapping[str, Any]) -> bool:
    stanza = body.get("sops")
    return isinstance(stanza, dict) and bool(stanza.get("mac"))


def finish(built: Built, how: Finishing, secrets: SopsFiles, *, origin: str, notes: list[str]) -> list[Manifest]:
    """The phase's objects as Flux would apply them; `origin` names the phase on each (Manifest.origin).
    What decryption produced, and what substitution built from it, goes to `secrets.learner` on the way."""
    out: list[Manifest] = []
    for doc in built.documents:
        body, text, where = doc.body, doc.text, f"{doc.source}: {ref_of(doc.body)}"
        if isinstance(body.get("apiVersion"), str) and body["apiVersion"].startswith(PLAYBOOK_API):
            notes.append(f"skipped {doc.source}: dr-bootstrap playbook (not applied)")
            continue
        decrypted = False
        disabled = str(_annotations(body).get(DECRYPT_KEY, "")).lower() == "disabled"
        if how.decrypts and not disabled:
            if has_sops(body):  # decrypted as JSON and read back through Go's JSON: numbers as float64s
                body, text, decrypted = float64_numbers(secrets.decrypt_object(body, where)), None, True
            else:
                changed = secrets.decrypt_data_values(body, where)
                if changed is not None:
                    body, text, decrypted = changed, None, True
        elif has_sops(body) and not disabled:
            owner = how.kustomization
            raise ValidationError(
                f"{where} is SOPS-encrypted, but Kustomization {owner.key if owner else '?'} has no "
                "spec.decryption: Flux would refuse to apply it",
                hint="add `decryption: {provider: sops, secretRef: {name: sops-age}}` to that Kustomization",
            )
        substituted = substitute_object(text, body, how.variables, always=how.always, strict=how.strict,
                                        where=where)
        if substituted is not None:
            if how.variables is not None:  # what substitution built from a secret variable is secret too
                secrets.learner.learn(secret_expansions(body, how.variables, secrets.learner.knows,
                                                        strict=how.strict))
            body = substituted
        body = _applied_form(body, how.kustomization)
        out.append(Manifest(ref=ref_of(body), body=body, source=doc.source, encrypted=decrypted, origin=origin))
    return out


def _applied_form(body: dict[str, Any], owner: FluxKustomization | None) -> dict[str, Any]:
    """Owner labels and commonMetadata merged in (Flux's SetOwnerLabels, then SetCommonMetadata); status
    (except on CRDs) and creationTimestamp removed (Flux's normalization before apply)."""
    body = dict(body)
    metadata = dict(body["metadata"]) if isinstance(body.get("metadata"), dict) else {}
    if owner is not None:  # owner labels first, then commonMetadata (which wins), as kustomize-controller
        metadata["labels"] = {**(metadata.get("labels") or {}), OWNER_NAME: owner.key.name,
                              OWNER_NAMESPACE: owner.key.namespace}
        common = owner.spec.get("commonMetadata") if isinstance(owner.spec.get("commonMetadata"), dict) else {}
        for key in ("labels", "annotations"):
            extra = common.get(key)
            if isinstance(extra, dict) and extra:
                metadata[key] = {**(metadata.get(key) or {}), **{str(k): str(v) for k, v in extra.items()}}
    metadata.pop("creationTimestamp", None)
    body["metadata"] = metadata
    if body.get("kind") != "CustomResourceDefinition":
        body.pop("status", None)
    return body
