"""A corpus of YAML that kustomize and Flux accept, in the forms real repositories hold it, rendered by the real
`flux build kustomization --dry-run` and by dr-bootstrap: the objects must be equal.

Flux's side is read by the Go oracle (hack/oracles/yamljson: its output through sigs.k8s.io/yaml, as
kustomize-controller reads kustomize's), never by our reader, and compared as JSON with types (1, 1.0 and
true differ). No cluster: the postBuild variables are inline.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bootstrap.errors import BootstrapError
from bootstrap.engines.flux.render import RenderRequest, render_repository
from bootstrap.kustomize.artifact import Artifact
from bootstrap.kustomize.builder import Builder
from bootstrap.kustomize.kustomizer import find_kustomizer
from bootstrap.kustomize.secrets import SopsFiles
from tests.support import fluxrepos
from tests.support.flux import run_flux
from tests.support.yaml_oracle import build_oracle, go_objects

ANCHORS = """\
apiVersion: example.com/v1
kind: Corpus
metadata:
  name: anchors
spec:
  first: &name one
  useFirst: *name
  second: &name two
  useSecond: *name
  base: &base
    replicas: 1
    image: app:v1
  merged:
    <<: *base
    image: app:v2
  mergedList:
    <<: [*base, {image: other, port: 80}]
  list:
  - &item {k: 1}
  - *item
  - &item {k: 2}
  - *item
"""

SCALARS = """\
apiVersion: example.com/v1
kind: Corpus
metadata:
  name: scalars
spec:
  booleans: [yes, No, on, OFF, y, N, true, False]
  strings: ['yes', "no", 'y', "=", '0755', "1e3", '2001-12-14', '~', '']
  equals: =
  notEquals: '!='
  regexMatch: =~
  nulls: [~, null, Null, ""]
  empty:
  octal: 0755
  octal12: 0o755
  notOctal: 08
  hex: 0x1F
  binary: 0b101
  underscores: 1_000
  exponent: 1e3
  bigExponent: 1e+22
  tiny: 0.0000001
  float: 1.5
  integralFloat: 1.0
  leadingDot: .5
  int64Max: 9223372036854775807
  beyondInt64: 9223372036854775808
  uint64Max: 18446744073709551615
  huge: 123456789012345678901234567890
  sexagesimal: 1:20
  date: 2002-12-14
  timestamp: 2001-12-14t21:59:43.10-05:00
  spacedTimestamp: 2001-12-14 21:59:43.10
  version: v1.2.3
  dotted: 1.2.3
  folded: >
    one
    two
  literal: |
    keep
    lines
"""

INHIBIT = """\
apiVersion: monitoring.coreos.com/v1alpha1
kind: AlertmanagerConfig
metadata:
  name: inhibit
spec:
  inhibitRules:
  - sourceMatch:
    - name: severity
      matchType: =
      value: critical
    targetMatch:
    - {name: severity, matchType: =~, value: warning|info}
    - {name: alertname, matchType: '!=', value: Watchdog}
    equal: [namespace, alertname]
"""

MULTI = """\
# a comment before the first document
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: multi-one
data:
  a: "1"
--- # a comment on the separator
# a document of comments only
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: multi-two
data:
  b: "2"
...
---
apiVersion: v1
kind: ConfigMap
metadata: {name: multi-three}
data: {c: "3"}
"""

CRLF = ("apiVersion: example.com/v1\r\nkind: Corpus\r\nmetadata:\r\n  name: crlf\r\nspec:\r\n  text: |\r\n    one\r\n"
        "    two\r\n  plain: a b\r\n  flag: on\r\n  list:\r\n  - =\r\n  - 0755\r\n")

BOM = "\ufeffapiVersion: example.com/v1\nkind: Corpus\nmetadata:\n  name: bom\nspec: {flag: yes}\n"

TAGS = """\
apiVersion: example.com/v1
kind: Corpus
metadata:
  name: tags
spec:
  custom: !Ref some-name
  string: !!str 12
  integer: !!int "12"
  floating: !!float 1
  boolean: !!bool true
  binary: !!binary aGVsbG8gd29ybGQ=
  thing: !Thing {a: 1}
"""

POST = """\
apiVersion: example.com/v1
kind: Corpus
metadata:
  name: post
spec:
  matchType: ${EQ}
  quotedMatchType: "${EQ}"
  enabled: ${YES}
  quotedEnabled: '${YES}'
  short: ${Y}
  mode: ${OCT}
  count: ${EXP}
  when: ${TS}
  nothing: ${TILDE}
  defaulted: ${MISSING:=on}
  big: 9007199254740993
"""

LONG = "registry.example.com/some/very/long/path/to/the/sidecar-image:v1.2.3@sha256:" + "0123456789abcdef" * 4

KUSTOMIZATION = f"""\
resources: [anchors.yaml, scalars.yaml, inhibit.yaml, multi.yaml, crlf.yaml, bom.yaml, tags.yaml, post.yaml]
secretGenerator:
- name: sidecar
  literals:
  - SIDECAR_IMAGE={LONG}
  - SHORT=abc
configMapGenerator:
- name: generated
  literals: [EQ==, YES=yes, Y=y, OCT=0755, EXP=1e3]
patches:
- target: {{kind: Corpus, name: scalars}}
  patch: |-
    apiVersion: example.com/v1
    kind: Corpus
    metadata:
      name: scalars
    spec:
      patchedEquals: =
      patchedYes: yes
      patchedOctal: 0755
      patchedExponent: 1e3
"""

# kustomize reads a kustomization file with sigs.k8s.io/yaml: a key given twice keeps the later value
KUSTOMIZATION_FILE_FORMS = """\
resources: [cm.yaml]
namePrefix: first-
namePrefix: second-
commonAnnotations: &notes {team: a}
commonAnnotations: &notes {team: b}
"""

VARIABLES = {"EQ": "=", "YES": "yes", "Y": "y", "OCT": "0755", "EXP": "1e3", "TS": "2001-12-14", "TILDE": "~"}


def corpus() -> dict[str, str]:
    cm = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\ndata:\n  k: v\n"
    return {
        "clusters/corpus/flux-system/gotk-sync.yaml": fluxrepos.dump(
            fluxrepos.git_repository(), fluxrepos.flux_ks("flux-system", "./clusters/corpus")),
        "clusters/corpus/corpus.yaml": fluxrepos.dump(
            fluxrepos.flux_ks("corpus", "./corpus", postBuild={"substitute": VARIABLES}),
            fluxrepos.flux_ks("corpus-kfile", "./kfile")),
        "corpus/kustomization.yaml": KUSTOMIZATION,
        "corpus/anchors.yaml": ANCHORS, "corpus/scalars.yaml": SCALARS, "corpus/inhibit.yaml": INHIBIT,
        "corpus/multi.yaml": MULTI, "corpus/crlf.yaml": CRLF, "corpus/bom.yaml": BOM, "corpus/tags.yaml": TAGS,
        "corpus/post.yaml": POST,
        "kfile/kustomization.yaml": KUSTOMIZATION_FILE_FORMS, "kfile/cm.yaml": cm,
        "broken/dup/kustomization.yaml": "resources: [dup.yaml]\n",
        "broken/dup/dup.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: dup\ndata:\n  a: '1'\n  a: '2'\n",
        "broken/inf/kustomization.yaml": "resources: [inf.yaml]\n",
        "broken/inf/inf.yaml": "apiVersion: example.com/v1\nkind: Corpus\nmetadata:\n  name: inf\nspec:\n  x: .inf\n",
    }


@pytest.fixture(scope="module")
def oracle():
    try:
        return build_oracle()
    except (RuntimeError, OSError) as exc:
        pytest.fail(str(exc), pytrace=False)


def canonical(body: dict) -> str:
    return json.dumps(body, sort_keys=True)


def identity(body: dict) -> tuple[str, str, str]:
    meta = body.get("metadata") or {}
    return body.get("kind", ""), meta.get("namespace") or "", meta.get("name", "")


def render(repo: Path, entry: str = "clusters/corpus"):
    builder = Builder(repo, kustomizer=find_kustomizer(), artifact=Artifact(repo), secrets=SopsFiles(repo, None),
                      disk_base=repo.parent)
    return render_repository(RenderRequest(paths=(entry,), kustomizations=("all",)), builder, cluster=None,
                             notes=lambda text: None)


def flux_build(repo: Path, ks: dict, tmp: Path, check: bool = True):
    ks_file = tmp / f"{ks['metadata']['name']}.yaml"
    ks_file.write_text(json.dumps(ks))  # JSON: no YAML form for flux to read otherwise than it is meant
    return run_flux("build", "kustomization", ks["metadata"]["name"], "--namespace", ks["metadata"]["namespace"],
                    "--path", str(repo / ks["spec"]["path"]), "--kustomization-file", str(ks_file), "--dry-run",
                    check=check)


def test_the_corpus_renders_as_flux_build_reads_it(tmp_path, oracle):
    repo = fluxrepos.write_repo(tmp_path / "repo", corpus(), lambda rel: [])
    rendering = render(repo.path)
    kustomizations = {m.ref.name: m.body for m in rendering.manifests if m.ref.kind == "Kustomization"}
    checked = []
    for phase in rendering.phases:
        name = phase.kustomization.key.name if phase.kustomization else None
        if name not in ("corpus", "corpus-kfile"):
            continue
        ks = json.loads(json.dumps(kustomizations[name]))
        ks["metadata"].pop("labels", None)  # as written in the repository (ours carries its parent's labels)
        theirs = {identity(b): canonical(b) for b in go_objects(oracle, flux_build(repo.path, ks, tmp_path).stdout)}
        ours = {identity(m.body): canonical(m.body) for m in phase.manifests}
        assert set(ours) == set(theirs), (name, sorted(set(ours) ^ set(theirs)))
        different = [key for key in ours if ours[key] != theirs[key]]
        assert not different, "\n".join(f"{key}:\n ours   {ours[key]}\n theirs {theirs[key]}" for key in different)
        checked.append(sorted(ours))
    assert checked == [
        [("AlertmanagerConfig", "", "inhibit"), ("ConfigMap", "", "generated-b866fdhtg8"),
         ("ConfigMap", "", "multi-one"), ("ConfigMap", "", "multi-three"), ("ConfigMap", "", "multi-two"),
         ("Corpus", "", "anchors"), ("Corpus", "", "bom"), ("Corpus", "", "crlf"), ("Corpus", "", "post"),
         ("Corpus", "", "scalars"), ("Corpus", "", "tags"), ("Secret", "", "sidecar-8757c6668b")],
        [("ConfigMap", "", "second-cm")],
    ]
    by_name = {m.ref.name: m.body for m in rendering.manifests}
    assert by_name["inhibit"]["spec"]["inhibitRules"][0]["sourceMatch"][0]["matchType"] == "="
    assert by_name["anchors"]["spec"]["useSecond"] == "two"


@pytest.mark.parametrize("path, go_says", [("broken/dup", 'mapping key "a" already defined'),
                                           ("broken/inf", "unsupported value: +Inf")])
def test_what_kustomize_refuses_both_refuse(tmp_path, path, go_says):
    files = corpus()
    files["clusters/corpus/corpus.yaml"] = fluxrepos.dump(fluxrepos.flux_ks("broken", f"./{path}"))
    repo = fluxrepos.write_repo(tmp_path / "repo", files, lambda rel: [])
    done = flux_build(repo.path, fluxrepos.flux_ks("broken", f"./{path}"), tmp_path, check=False)
    assert done.returncode != 0 and go_says in done.stderr
    with pytest.raises(BootstrapError, match="Kustomization flux-system/broken: kustomize build failed"):
        render(repo.path)  # kustomize's own error (which reads resource files with yaml.v3, duplicates refused)
