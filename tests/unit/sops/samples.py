"""Plaintext inputs with awkward values, one per format, and the encryption-rule matrix."""

from __future__ import annotations

YAML = """\
# top comment
base: &anchor
  k: v
  n: 1
derived:
  <<: *anchor
  extra: "x"
unicode: "héllo — 日本語 🎉"
empty: ""
nothing: null
multi: |
  line one
    indented
  line three
folded: >
  folded
  text
big: 9223372036854775807
huge: 99999999999999999999
neg: -42
octal: 0o17
float: 3.14159
exp: 1e3
tiny: 0.00000015
inf: .inf
yes_str: yes
quoted_num: "5"
bool_t: true
bool_f: FALSE
date: 2024-01-02
when: 2024-01-02T03:04:05.5+01:00
tab: "a\\tb"
list:
  - a
  # a comment inside a list
  - 2
  - [nested, 3, [deeper]]
  - name: c
    ports: [1, 2]
  - ""
  - null
# sops:enc
pw_secret: hunter2
db_unencrypted:
  # plain comment
  host: localhost
  port: 5432
keep_plain: visible
data:
  password: s3cr3t
  "we:ird": colon key
stringData:
  token: abc
emptymap: {}
emptylist: []
"""

MULTI_DOC = """\
apiVersion: v1
kind: Secret
metadata:
  name: one
stringData:
  a: "1"
---
apiVersion: v1
kind: Secret
metadata:
  name: two
stringData:
  b: two
  pw_secret: x
---
# only a comment and a key
keep_plain: yes
"""

JSON = """{
  "name": "svc",
  "unicode": "héllo — 日本語 <&> \\"quoted\\" \\\\ back",
  "empty": "",
  "nothing": null,
  "int": 42,
  "neg": -7,
  "float": 2.5,
  "bool": true,
  "off": false,
  "list": [1, "two", [3, [4]], {"deep": "x"}, null],
  "pw_secret": "hunter2",
  "db_unencrypted": {"host": "localhost", "port": 5432},
  "keep_plain": "visible",
  "data": {"password": "s3cr3t", "multi": "line1\\nline2"},
  "stringData": {"token": "abc"},
  "emptyobj": {},
  "emptylist": []
}
"""

DOTENV = """\
# a comment
A=1
B=hello world
EMPTY=
MULTI=line1\\nline2
UNI=héllo — 日本語
SPACE = spaced value
EQUALS=a=b=c
pw_secret=hunter2
keep_plain=visible
# sops:enc
data=s3cr3t
db_unencrypted=plain
"""

INI = """\
; top comment
[section]
; key comment
key = value
other = 2
unicode = héllo
pw_secret = hunter2

[db_unencrypted]
host = localhost
port = 5432

[data]
password = s3cr3t
keep_plain = visible
"""

BINARY = bytes(range(256)) + "\nunicode héllo\n".encode() + b"\x00\xff trailing"

PLAINTEXTS = {"yaml": YAML, "json": JSON, "dotenv": DOTENV, "ini": INI}

RULES: dict[str, dict] = {
    "default": {},
    "encrypted_regex": {"encrypted_regex": "^(data|stringData|pw_secret|list|section)$"},
    "unencrypted_regex": {"unencrypted_regex": "^(keep_plain|db_unencrypted|B|other)$"},
    "encrypted_suffix": {"encrypted_suffix": "_secret"},
    "unencrypted_suffix": {"unencrypted_suffix": "_plain"},
    "mac_only_encrypted": {"mac_only_encrypted": True, "encrypted_regex": "^(data|pw_secret|section)$"},
    "encrypted_comment_regex": {"encrypted_comment_regex": "sops:enc"},
    "unencrypted_comment_regex": {"unencrypted_comment_regex": "plain comment|a comment"},
}
