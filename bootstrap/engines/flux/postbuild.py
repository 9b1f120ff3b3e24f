"""Flux's `postBuild` variable substitution, applied to rendered objects (pure, given a lookup).

As fluxcd/pkg/kustomize `SubstituteVariables` does it: the variables are the data of every `substituteFrom`
ConfigMap and Secret (in the Kustomization's namespace, in list order, later ones winning; a missing one is an
error unless `optional`), then `substitute` on top; newlines are removed from every value. When there is at
least one variable (or `substituteStrategy: Always`), each object's YAML text goes through envsubst, unless the
object is labelled or annotated `kustomize.toolkit.fluxcd.io/substitute: disabled`, and the result is read
back as the object. Without strict substitution (Flux's default) an unset variable becomes empty.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from bootstrap.errors import ValidationError
from bootstrap.engines.flux.envsubst import SubstitutionError, check_var_names, substitute
from bootstrap.gostd import b64decode, float64_numbers
from bootstrap.yamlread import YamlError, dump, read_all

SUBSTITUTE_KEY = "kustomize.toolkit.fluxcd.io/substitute"
DISABLED = "disabled"

# (kind, namespace, name) -> the object's data as Flux reads it from the cluster, or None when there is none
Lookup = Callable[[str, str, str], "Mapping[str, str] | None"]

def disabled(body: Mapping[str, Any]) -> bool:
    metadata = body.get("metadata") if isinstance(body.get("metadata"), dict) else {}
    for key in ("labels", "annotations"):
        values = metadata.get(key)
        if isinstance(values, dict) and values.get(SUBSTITUTE_KEY) == DISABLED:
            return True
    return False


def data_of(body: Mapping[str, Any]) -> dict[str, str]:
    """What Flux reads as variables from a ConfigMap (`data`) or a Secret (`data` decoded; `stringData`, which
    the API server merges into `data`, on top)."""
    if body.get("kind") == "Secret":
        values = {}
        for key, value in (body.get("data") or {}).items():
            try:
                values[str(key)] = b64decode(str(value)).decode("utf-8", errors="replace")
            except ValueError:
                continue
        values.update({str(k): str(v) for k, v in (body.get("stringData") or {}).items()})
        return values
    return {str(k): "" if v is None else str(v) for k, v in (body.get("data") or {}).items()}


def variables(spec: Mapping[str, Any], namespace: str, lookup: Lookup, where: str,
              producer: Callable[[str, str, str], str | None] | None = None) -> dict[str, str] | None:
    """The Kustomization's variables, or None when it has no `postBuild` (nothing is substituted then). A
    source found nowhere (and not `optional`) is an error; `producer` may say what makes it outside Git (an
    ExternalSecret: `engines.flux.substitute_from.producers`)."""
    post = spec.get("postBuild")
    if not isinstance(post, dict):
        return None
    found: dict[str, str] = {}
    for index, ref in enumerate(post.get("substituteFrom") or []):
        if not isinstance(ref, dict) or ref.get("kind") not in ("ConfigMap", "Secret") or not ref.get("name"):
            raise ValidationError(f"{where}: spec.postBuild.substituteFrom[{index}] needs kind ConfigMap or Secret "
                                  "and a name")
        data = lookup(ref["kind"], namespace, str(ref["name"]))
        if data is None:
            if ref.get("optional") is True:
                continue
            kind, name = ref["kind"], str(ref["name"])
            made_by = producer(kind, namespace, name) if producer is not None else None
            if made_by:
                raise ValidationError(f"{where}: substitute from '{kind}/{name}': {kind} {namespace}/{name} comes "
                                      f"from {made_by}; supply it with --substitute-from FILE")
            raise ValidationError(f"{where}: substitute from '{kind}/{name}': not found in the restored set nor "
                                  f"in the cluster (namespace {namespace})",
                                  hint="restore the --path or Kustomization that holds it first, or supply it "
                                       "with --substitute-from FILE")
        found.update({key: value.replace("\n", "") for key, value in data.items()})
    inline = post.get("substitute")
    if isinstance(inline, dict):
        found.update({str(key): str(value).replace("\n", "") for key, value in inline.items()})
    return found


def runs(body: Mapping[str, Any], variables_: Mapping[str, str] | None, always_: bool) -> bool:
    """Flux substitutes this object: the Kustomization has a postBuild with variables (or `Always`), the
    object does not opt out."""
    return variables_ is not None and not disabled(body) and bool(variables_ or always_)


def substitute_object(text: str | None, body: Mapping[str, Any], variables_: Mapping[str, str] | None, *,
                      always: bool, strict: bool = False, where: str) -> dict[str, Any] | None:
    """The object as Flux leaves it after postBuild, or None when Flux does not substitute it. `text` is its
    YAML (None: written from `body` when needed). Flux reads every object it substitutes back through Go's
    JSON (kustomize's Resource.UnmarshalJSON), `$` or not: its numbers come back as float64s do."""
    if not runs(body, variables_, always):
        return None
    assert variables_ is not None
    try:
        check_var_names(variables_)
        if not _may_substitute(body, text):  # envsubst would change nothing
            return float64_numbers(dict(body))  # a copy: the caller's is not the one Flux applies
        if text is None:  # the object as Flux serializes it for substitution: no line folding, and every
            text = dump(body, width=_NO_FOLDING)  # string that Flux would read back as another type quoted
        out = substitute(text, _lookup(variables_, strict))
    except SubstitutionError as err:
        raise SubstitutionError(f"{where}: postBuild substitution failed: {err}", kind=err.kind,
                                variable=err.variable, hint=err.hint) from None
    try:  # as Flux reads it back: sigs.k8s.io/yaml (YAMLToJSON), the reading of bootstrap.yamlread
        documents = [doc for doc in read_all(out, per_document=True) if doc is not None]
    except YamlError as err:
        raise ValidationError(f"{where}: postBuild substitution produced invalid YAML: {err}") from None
    if len(documents) != 1 or not isinstance(documents[0], dict):
        raise ValidationError(f"{where}: postBuild substitution did not produce one object")
    return float64_numbers(documents[0])


_NO_FOLDING = 2**31 - 1  # libyaml takes an int line width


def _may_substitute(body: Mapping[str, Any], text: str | None) -> bool:
    """Only text with a `$` can change under envsubst (its syntax starts there; `$$` escapes included)."""
    if text is not None:
        return "$" in text
    return "$" in json.dumps(body, separators=(",", ":"), default=str)


def secret_expansions(body: Any, variables_: Mapping[str, str], secret: Callable[[str], bool], *,
                      strict: bool = False) -> list[str]:
    """What substitution built from secret variables in one object: each string of `body` (before
    substitution; keys and values) that reads a variable whose value is `secret`, expanded. The run hides these
    like the values themselves: `${SECRET_DOMAIN/./-}-tls` becomes a name that holds the secret domain."""
    secret_names = {name for name, value in variables_.items() if secret(value)}
    if not secret_names:
        return []
    read: set[str] = set()
    base = _lookup(variables_, strict)

    def tracking(name: str) -> tuple[str, bool]:
        read.add(name)
        return base(name)

    out = []
    for text in _strings(body):
        if "${" not in text:
            continue
        read.clear()
        try:
            expanded = substitute(text, tracking)
        except SubstitutionError:
            continue  # the whole object substituted, so this cannot fail alone in practice
        if read & secret_names:
            out.append(expanded)
    return out


def _strings(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [s for key, value in node.items() for s in ([key] if isinstance(key, str) else []) + _strings(value)]
    if isinstance(node, list):
        return [s for item in node for s in _strings(item)]
    return [node] if isinstance(node, str) else []


def _lookup(variables_: Mapping[str, str], strict: bool) -> Callable[[str], tuple[str, bool]]:
    if strict:
        return lambda name: (variables_.get(name, ""), name in variables_)
    return lambda name: (variables_.get(name, ""), True)


def always(spec: Mapping[str, Any]) -> bool:
    """`spec.postBuild.substituteStrategy: Always` (substitute even without variables, for defaults)."""
    post = spec.get("postBuild")
    return isinstance(post, dict) and post.get("substituteStrategy") == "Always"
