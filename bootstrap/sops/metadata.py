"""The `sops` metadata block: normalised from any store, validated as sops' loader does."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from bootstrap.errors import DecryptError
from bootstrap.sops.regex import compile_go
from bootstrap.sops.values import ValueTypeError, rfc3339

BACKENDS = ("age", "pgp", "kms", "gcp_kms", "hckms", "azure_kv", "hc_vault")
RULE_FIELDS = (
    "unencrypted_suffix", "encrypted_suffix", "unencrypted_regex", "encrypted_regex",
    "unencrypted_comment_regex", "encrypted_comment_regex",
)
_FLAT_STEP = re.compile(r"__(map|list)_")


@dataclass(frozen=True, slots=True)
class AgeStanza:
    recipient: str
    enc: str


@dataclass(frozen=True, slots=True)
class KeyGroup:
    age: tuple[AgeStanza, ...]
    other_backends: tuple[str, ...]  # names of non-age master keys present (pgp, kms, …)


@dataclass(frozen=True, slots=True)
class Rule:
    """Which leaves are encrypted: one of RULE_FIELDS and its suffix/regex."""

    kind: str
    value: str


@dataclass(frozen=True, slots=True)
class Metadata:
    lastmodified: str
    mac_aad: bytes  # lastmodified re-rendered in RFC 3339 (seconds, Z)
    mac: str
    version: str
    rule: Rule
    mac_only_encrypted: bool
    key_groups: tuple[KeyGroup, ...]
    shamir_threshold: int

    @property
    def age_recipients(self) -> list[str]:
        return [s.recipient for g in self.key_groups for s in g.age]

    @property
    def other_backends(self) -> list[str]:
        return sorted({b for g in self.key_groups for b in g.other_backends})


def parse_metadata(raw: Any, name: str) -> Metadata:
    """Validate a decoded `sops` mapping (plain dict) into `Metadata`."""
    if not isinstance(raw, dict):
        raise DecryptError(f"{name}: sops metadata is not a mapping")
    lastmodified = raw.get("lastmodified")
    if not isinstance(lastmodified, str):
        raise DecryptError(f"{name}: sops metadata has no lastmodified")
    try:
        mac_aad = rfc3339(lastmodified, nanos=False).encode()
    except ValueTypeError:
        raise DecryptError(f"{name}: sops metadata lastmodified is not an RFC 3339 time") from None
    rules = [Rule(f, raw[f]) for f in RULE_FIELDS if isinstance(raw.get(f), str) and raw[f]]
    if len(rules) > 1:
        raise DecryptError(f"{name}: sops metadata sets more than one of {', '.join(r.kind for r in rules)}")
    rule = rules[0] if rules else Rule("unencrypted_suffix", "_unencrypted")
    if rule.kind.endswith("_regex"):
        compile_go(rule.value, field=f"{name}: sops metadata {rule.kind}")
    top = _group(raw, name)
    if top.age or top.other_backends:
        groups: tuple[KeyGroup, ...] = (top,)
    else:
        listed = raw.get("key_groups") or []
        if not isinstance(listed, list):
            raise DecryptError(f"{name}: sops metadata key_groups is not a list")
        groups = tuple(_group(g, name) for g in listed)
    if not groups:
        raise DecryptError(f"{name}: sops metadata lists no master keys")
    threshold = _as_int(raw.get("shamir_threshold"), name) or len(groups)
    mac = raw.get("mac") or ""
    if not isinstance(mac, str):
        raise DecryptError(f"{name}: sops metadata mac is not a string")
    return Metadata(
        lastmodified=lastmodified,
        mac_aad=mac_aad,
        mac=mac,
        version=str(raw.get("version") or ""),
        rule=rule,
        mac_only_encrypted=_as_bool(raw.get("mac_only_encrypted")),
        key_groups=groups,
        shamir_threshold=threshold,
    )


def _group(raw: Any, name: str) -> KeyGroup:
    if not isinstance(raw, dict):
        raise DecryptError(f"{name}: sops metadata key group is not a mapping")
    age = []
    if not isinstance(raw.get("age") or [], list):
        raise DecryptError(f"{name}: sops metadata age is not a list")
    for entry in raw.get("age") or []:
        if not isinstance(entry, dict) or not isinstance(entry.get("enc"), str):
            raise DecryptError(f"{name}: sops metadata has an age entry without enc")
        age.append(AgeStanza(str(entry.get("recipient", "")).strip(), entry["enc"]))
    others = tuple(b for b in BACKENDS[1:] if raw.get(b))
    return KeyGroup(tuple(age), others)


def _as_int(value: Any, name: str) -> int:
    """shamir_threshold: an int, or (dotenv/INI, old writers) a string/float holding an integer."""
    if value is None or value == "":
        return 0
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = 0.5
    if not number.is_integer():
        raise DecryptError(f"{name}: sops metadata shamir_threshold is not an integer")
    return int(number)


def _as_bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.lower() == "true"
    return bool(value)


def unflatten(flat: dict[str, str], name: str = "sops file") -> dict[str, Any]:
    """dotenv/INI metadata: `age__list_0__map_enc` paths → nested dicts/lists; `\\n` un-escaped."""
    root: dict[str, Any] = {}
    for key, value in flat.items():
        value = value.replace("\\n", "\n")
        parts = _FLAT_STEP.split(key)
        top, steps = parts[0], list(zip(parts[1::2], parts[2::2]))
        node: Any = root
        slot: Any = top
        for kind, label in steps:
            container: Any = [] if kind == "list" else {}
            if kind == "list" and not (label.isdigit() and int(label) < _MAX_FLAT_INDEX):
                raise DecryptError(f"{name}: sops metadata key {key!r} has a bad list index")
            existing = _get(node, slot)
            if existing is None:
                _set(node, slot, container)
                existing = container
            elif type(existing) is not type(container):
                raise DecryptError(f"{name}: sops metadata key {key!r} conflicts with another key")
            node, slot = existing, int(label) if kind == "list" else label
        _set(node, slot, value)
    return root


_MAX_FLAT_INDEX = 1000  # key groups and recipients per file; bounds memory for hostile indexes


def _get(node: Any, slot: Any) -> Any:
    if isinstance(node, list):
        return node[slot] if slot < len(node) else None
    return node.get(slot)


def _set(node: Any, slot: Any, value: Any) -> None:
    if isinstance(node, list):
        while len(node) <= slot:
            node.append(None)
        node[slot] = value
    else:
        node[slot] = value
