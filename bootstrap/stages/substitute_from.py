"""`--substitute-from FILE`: ConfigMaps and Secrets the operator supplies for `postBuild.substituteFrom`, when
the repository does not hold them (an ExternalSecret makes them from 1Password, Bitwarden, Vault, …).

Each FILE holds one or more ConfigMap or Secret manifests (several YAML documents, or one JSON object),
SOPS-encrypted (decrypted in memory with the run's key, MAC verified unless --ignore-mac) or in plaintext; it is
read only into memory. Its objects stand in for the objects of the same kind, namespace and name wherever a
Kustomization's `substituteFrom` reads one, ahead of the restored set and the cluster. They are never applied:
the ExternalSecret, once External Secrets runs, creates the real object (with the default `creationPolicy:
Owner` it refuses to take over one that exists already).

Every value of a supplied object is a secret the operator brought from outside the repository: the run's
scrubber learns them all (`Supplied.values`), encrypted file or not, except text anyone can read in the
repository (the one rule of `bootstrap.scrub`).

A FILE that cannot be read, is not YAML, or holds anything but well-formed v1 ConfigMaps and Secrets with a
namespace is a usage error (exit 2) naming the file and the object; one the key cannot open, or whose MAC does
not match, a decryption error (exit 4). Both come before the clone, so nothing is ever written.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bootstrap.engines.base import Supplied
from bootstrap.errors import UsageError
from bootstrap.gostd import b64decode
from bootstrap.yamlread import YamlError, read_all

if TYPE_CHECKING:
    from bootstrap.stages.keys import KeyRing

FLAG = "--substitute-from"
KINDS = ("ConfigMap", "Secret")


def load(files: Sequence[str], keyring: KeyRing | None, *, ignore_mac: bool = False) -> tuple[Supplied, ...]:
    """The objects of every FILE, in the order given. A (kind, namespace, name) given twice is an error."""
    out: list[Supplied] = []
    seen: dict[tuple[str, str, str], str] = {}
    for file in files:
        for one in load_file(file, keyring, ignore_mac=ignore_mac):
            key = (one.kind, one.namespace, one.name)
            if key in seen:
                raise UsageError(f"{FLAG} {file}: {one.describe()} is also in {seen[key]}",
                                 hint="give each ConfigMap or Secret once")
            seen[key] = file
            out.append(one)
    return tuple(out)


def load_file(file: str, keyring: KeyRing | None, *, ignore_mac: bool = False) -> list[Supplied]:
    where = f"{FLAG} {file}"
    try:
        data = Path(file).read_bytes()
    except OSError as err:
        raise UsageError(f"{where}: cannot read ({err.strerror or type(err).__name__})") from None
    documents = _documents(data, file, where, keyring, ignore_mac)
    objects = [_object(doc, index, where, file) for index, doc in enumerate(documents) if doc is not None]
    if not objects:
        raise UsageError(f"{where}: holds no ConfigMap or Secret")
    return objects


def _documents(data: bytes, file: str, where: str, keyring: KeyRing | None, ignore_mac: bool) -> list[Any]:
    # deferred: clone (SOPS loads while git clones; an encrypted FILE is opened before the clone begins)
    from bootstrap import sops

    fmt = "json" if file.lower().endswith(".json") else "yaml"
    if sops.is_encrypted(data, fmt):
        if keyring is None:
            raise UsageError(f"{where}: SOPS-encrypted, and no age key was given")
        return list(sops.decrypt(data, keyring, fmt=fmt, name=where, ignore_mac=ignore_mac).documents)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"{where}: not a YAML or JSON text (not UTF-8)") from None
    try:
        return read_all(text)
    except YamlError as err:
        document = f" (document {err.document + 1})" if err.document else ""
        raise UsageError(f"{where}: not valid YAML: {err}{document}") from None


def _object(doc: Any, index: int, where: str, file: str) -> Supplied:
    at = f"{where}: document {index + 1}"
    if not isinstance(doc, dict):
        raise UsageError(f"{at}: not a Kubernetes object (expected a ConfigMap or Secret manifest)")
    kind, api = doc.get("kind"), doc.get("apiVersion")
    if kind not in KINDS or api != "v1":
        what = f"{kind} ({api})" if isinstance(kind, str) and kind else "an object without a kind"
        raise UsageError(f"{at}: {what} is not a v1 ConfigMap or Secret",
                         hint="substituteFrom reads only ConfigMaps and Secrets")
    meta = doc.get("metadata") if isinstance(doc.get("metadata"), dict) else {}
    name, namespace = meta.get("name"), meta.get("namespace")
    if not isinstance(name, str) or not name:
        raise UsageError(f"{at}: {kind} without metadata.name")
    if not isinstance(namespace, str) or not namespace:
        raise UsageError(f"{at}: {kind} {name} has no metadata.namespace",
                         hint="substituteFrom reads it from the namespace of the Kustomization: name that one")
    one = Supplied(kind=kind, namespace=namespace, name=name, file=file, body=doc)
    for field_ in ("data", "stringData") if kind == "Secret" else ("data",):
        values = doc.get(field_)
        if values is None:
            continue
        if not isinstance(values, dict):
            raise UsageError(f"{where}: {one.describe()}: {field_} is not a mapping")
        for key, value in values.items():
            if not isinstance(value, str):
                raise UsageError(f"{where}: {one.describe()}: {field_}.{key} is not a string (quote it)")
            if field_ == "data" and kind == "Secret":
                try:
                    b64decode(value)
                except ValueError:
                    raise UsageError(f"{where}: {one.describe()}: data.{key} is not valid base64",
                                     hint="put plain values under stringData") from None
    return one


def values(supplied: Iterable[Supplied]) -> list[str]:
    """Every value the supplied objects hold, as substitution reads them (a Secret's `data` decoded): all
    secret. (Their base64 forms are the scrubber's to add.)"""
    out: list[str] = []
    for one in supplied:
        for field_ in ("data", "stringData") if one.kind == "Secret" else ("data",):
            for value in (one.body.get(field_) or {}).values():
                out.append(value)
                if field_ == "data" and one.kind == "Secret":
                    out.append(b64decode(value).decode("utf-8", errors="replace"))
    return out
