"""Property: any document encrypted by the real sops decrypts back to itself (FUZZ_EXAMPLES raises the count)."""

from __future__ import annotations

import json
import os
import re

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bootstrap import sops
from tests.support.sops import encrypt_bytes

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "25"))

# keys start with a letter: PyYAML writes `0e0` unquoted, which go-yaml (sops) reads as a float key
keys = st.from_regex(r"[a-zA-Z][a-zA-Z0-9_.-]{0,11}", fullmatch=True).filter(lambda k: k != "sops")
text = st.text(st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp"), blacklist_characters="\ufeff")
               | st.sampled_from("\n\t"), max_size=40)
# JSON numbers are float64 in sops 3.11 (ints beyond 2^53 lose precision there too): stay exact.
scalars = st.one_of(text, st.integers(-(2**53), 2**53), st.booleans(), st.none(),
                    st.floats(allow_nan=False, allow_infinity=False, width=64))
documents = st.dictionaries(
    keys,
    st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
                 max_leaves=12),
    min_size=1, max_size=6,
)


# PyYAML quotes the strings YAML 1.1 would read as something else; go-yaml (sops) reads YAML 1.2, where
# plain `0E0` or `0o7` are numbers too. Quote those, so the document sops sees is the one we generated.
_YAML12_NUMBER = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?|0x[0-9a-fA-F]+|0o[0-7]+"
                            r"|[-+]?\.(inf|Inf|INF)|\.(nan|NaN|NAN)")


class _Yaml12SafeDumper(yaml.SafeDumper):
    pass


_Yaml12SafeDumper.add_representer(
    str, lambda d, v: d.represent_scalar("tag:yaml.org,2002:str", v, style='"' if _YAML12_NUMBER.fullmatch(v) else None)
)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(doc=documents, fmt=st.sampled_from(["yaml", "json"]))
def test_random_documents_round_trip_through_real_sops(doc, fmt, keys):
    as_yaml = yaml.dump(doc, Dumper=_Yaml12SafeDumper, allow_unicode=True)
    plaintext = (as_yaml if fmt == "yaml" else json.dumps(doc)).encode()
    encrypted = encrypt_bytes(plaintext, fmt, [keys.one.recipient])
    decrypted = sops.decrypt(encrypted, keys.ring(keys.one), fmt=fmt, name=f"random.{fmt}")
    assert decrypted.documents == [doc]
    rendered = decrypted.render()
    reparsed = yaml.safe_load(rendered) if fmt == "yaml" else json.loads(rendered)
    assert reparsed == doc
