"""engines.flux.children: the Kustomizations a build defines, read as its Kustomization applies them (after
its postBuild substitution), and the substituteFrom data discovery reads (pure: hand-made builds)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bootstrap.engines.flux.children import Sources, defined
from bootstrap.engines.flux.kustomizations import Key, parse
from bootstrap.kustomize.builder import Built, BuildSpec, Document
from bootstrap.kustomize.secrets import SopsFiles

KS_API = "kustomize.toolkit.fluxcd.io/v1"


def ks(name: str, path: str, *, ns: str = "flux-system", annotations=None, **spec) -> dict:
    meta = {"name": name, "namespace": ns, **({"annotations": annotations} if annotations else {})}
    return {"apiVersion": KS_API, "kind": "Kustomization", "metadata": meta,
            "spec": {"path": path, "sourceRef": {"kind": "GitRepository", "name": "flux-system",
                                                 "namespace": "flux-system"}, **spec}}


def cm(name: str, data: dict, ns: str = "flux-system") -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": ns}, "data": data}


def built(*bodies: dict, path: str = "apps") -> Built:
    return Built(BuildSpec(path=path), [Document(None, body, f"{path}/{i}.yaml") for i, body in enumerate(bodies)], [])


def owner(**post) -> object:
    return parse(ks("apps", "./apps", postBuild=post), "clusters/main/apps.yaml")


@pytest.fixture
def sources(tmp_path: Path) -> Sources:
    return Sources(SopsFiles(tmp_path, None), None)


def test_children_are_read_after_the_parent_s_substitution(sources):
    one = built(ks("${APP}-db", "./db/${CLUSTER}", postBuild={"substitute": {"APP": "${APP}"}}),
                ks("raw-${APP}", "./raw", annotations={"kustomize.toolkit.fluxcd.io/substitute": "disabled"}))
    parent = owner(substitute={"APP": "immich", "CLUSTER": "main"})
    db, raw = defined(one, parent, parent.key, sources, notes=lambda text: None)
    assert db.key == Key("flux-system", "immich-db") and db.path == "db/main" and db.parent == parent.key
    assert db.spec["postBuild"] == {"substitute": {"APP": "immich"}}
    assert raw.key.name == "raw-${APP}"  # opted out of substitution: as written, as Flux applies it


def test_a_plain_directory_or_a_parent_without_postbuild_changes_nothing(sources):
    one = built(ks("${APP}-db", "./db"))
    assert [k.key.name for k in defined(one, None, None, sources, notes=print)] == ["${APP}-db"]
    plain = parse(ks("apps", "./apps"), "f")
    assert [k.key.name for k in defined(one, plain, plain.key, sources, notes=print)] == ["${APP}-db"]


def test_substitute_from_reads_the_builds_seen_so_far_latest_first_then_the_cluster(tmp_path):
    asked = []

    def cluster(kind, namespace, name):
        asked.append((kind, namespace, name))
        return {"REGION": "eu"} if name == "from-cluster" else None

    sources = Sources(SopsFiles(tmp_path, None), cluster)
    sources.add(built(cm("settings", {"CLUSTER": "old"}), path="a"), None, True)
    sources.add(built(cm("settings", {"CLUSTER": "main"}), cm("elsewhere", {"X": "1"}, ns="other"), path="b"),
                None, True)
    assert sources.lookup("ConfigMap", "flux-system", "settings") == {"CLUSTER": "main"}
    assert sources.lookup("ConfigMap", "flux-system", "elsewhere") is None  # another namespace: not this one
    assert sources.lookup("ConfigMap", "flux-system", "from-cluster") == {"REGION": "eu"}
    assert asked == [("ConfigMap", "flux-system", "elsewhere"), ("ConfigMap", "flux-system", "from-cluster")]
    parent = owner(substituteFrom=[{"kind": "ConfigMap", "name": "settings"},
                                   {"kind": "ConfigMap", "name": "from-cluster"}], substitute={"APP": "x"})
    (child,) = defined(built(ks("${APP}-${REGION}", "./k/${CLUSTER}")), parent, parent.key, sources, print)
    assert (child.key.name, child.path) == ("x-eu", "k/main")


def test_unreadable_variables_leave_the_children_as_written_with_a_note(sources):
    notes: list[str] = []
    parent = owner(substituteFrom=[{"kind": "ConfigMap", "name": "missing"}])
    (child,) = defined(built(ks("${APP}-db", "./db")), parent, parent.key, sources, notes.append)
    assert child.key.name == "${APP}-db"
    assert len(notes) == 1 and "Kustomization flux-system/apps" in notes[0] and "ConfigMap/missing" in notes[0]


def test_an_encrypted_secret_is_not_read_without_decryption(sources):
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "flux-system"},
              "data": {"K": "ENC[AES256_GCM,data:x,iv:y,tag:z,type:str]"},
              "sops": {"mac": "ENC[AES256_GCM,data:x,iv:y,tag:z,type:str]", "age": []}}
    sources.add(built(secret), None, False)  # `check` decrypts nothing
    assert sources.lookup("Secret", "flux-system", "s") is None
