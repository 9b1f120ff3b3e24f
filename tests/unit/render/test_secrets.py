"""render.secrets with real sops files: encrypted objects decrypted after the build, their committed file's
MAC verified first; values bound to their key paths; generator inputs; Secret data holding SOPS documents."""

from __future__ import annotations

import base64
import json
import shutil
import tempfile
from pathlib import Path

import pytest
import yaml

from bootstrap.errors import DecryptError
from bootstrap.stages.keys import load_keyring
from bootstrap.kustomize.artifact import Artifact
from bootstrap.kustomize.builder import Builder, BuildSpec
from bootstrap.kustomize.kustomizer import find_kustomizer
from bootstrap.engines.flux.objects import Finishing, finish
from bootstrap.kustomize.scratch import TMPFS_ENV, memory_backed_dir
from bootstrap.kustomize.secrets import SopsFiles, mac_token_of_bytes
from tests.support.sops import encrypt_bytes, new_age_key, write_key_file

RULE = "^(data|stringData)$"


@pytest.fixture(scope="module")
def key(tmp_path_factory):
    age = new_age_key()
    return age, load_keyring(str(write_key_file(tmp_path_factory.mktemp("k") / "age.agekey", age)))


def secret(name: str, **values) -> bytes:
    return yaml.safe_dump({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name},
                           "stringData": values}).encode()


def write(root: Path, rel: str, data: bytes | str) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data if isinstance(data, bytes) else data.encode())
    return path


def render(root: Path, ring, spec=None, *, decrypts=True, ignore_mac=False):
    secrets = SopsFiles(root, ring, ignore_mac=ignore_mac)
    builder = Builder(root, kustomizer=find_kustomizer(), artifact=Artifact(root), secrets=secrets,
                      disk_base=root.parent, memory_base=memory_backed_dir())
    built = builder.build(BuildSpec(path="app", spec=spec or {}))
    notes: list[str] = []
    return finish(built, Finishing(None, decrypts, None), secrets, origin="path:app", notes=notes), built, secrets


def test_a_secret_kustomize_changed_is_decrypted_with_its_file_verified(tmp_path, key):
    age, ring = key
    write(tmp_path, "app/db.sops.yaml", encrypt_bytes(secret("db", password="hunter2", user="admin"), "yaml",
                                                      [age.recipient], encrypted_regex=RULE))
    write(tmp_path, "app/kustomization.yaml", "resources: [db.sops.yaml]\nnamespace: shop\nnamePrefix: p-\n"
                                              "commonLabels: {tier: db}\n")
    (m,), _, secrets = render(tmp_path, ring)
    assert (m.ref.namespace, m.ref.name, m.encrypted) == ("shop", "p-db", True)
    assert m.body["stringData"] == {"password": "hunter2", "user": "admin"} and "sops" not in m.body
    assert m.body["metadata"]["labels"] == {"tier": "db"}
    assert secrets.used == {"app/db.sops.yaml"}


def test_a_value_kustomize_moved_fails_naming_the_object_and_file(tmp_path, key):
    age, ring = key
    write(tmp_path, "app/db.sops.yaml", encrypt_bytes(secret("db", password="hunter2"), "yaml", [age.recipient],
                                                      encrypted_regex=RULE))
    # a patch that moves the encrypted value to another key: its GCM tag is bound to stringData:password:
    write(tmp_path, "app/kustomization.yaml", "resources: [db.sops.yaml]\npatches:\n- target: {kind: Secret}\n"
          "  patch: |-\n    - op: move\n      from: /stringData/password\n      path: /stringData/moved\n")
    with pytest.raises(DecryptError) as exc:
        render(tmp_path, ring)
    assert "app/db.sops.yaml" in str(exc.value) and "Secret/db" in str(exc.value)
    assert "hunter2" not in str(exc.value)


def test_a_tampered_committed_file_fails_its_mac_before_anything_else(tmp_path, key):
    age, ring = key
    data = encrypt_bytes(secret("db", password="hunter2"), "yaml", [age.recipient], encrypted_regex=RULE)
    write(tmp_path, "app/db.sops.yaml", data.replace(b"name: db", b"name: dbx"))  # plaintext edited outside sops
    write(tmp_path, "app/kustomization.yaml", "resources: [db.sops.yaml]\n")
    with pytest.raises(DecryptError, match="MAC"):
        render(tmp_path, ring)
    # with --ignore-mac the values still open (each bound to its path)
    (m,), _, _ = render(tmp_path, ring, ignore_mac=True)
    assert m.ref.name == "dbx" and m.body["stringData"] == {"password": "hunter2"}


def test_an_encrypted_file_no_build_uses_is_never_opened(tmp_path, key):
    age, ring = key
    write(tmp_path, "app/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n")
    write(tmp_path, "app/kustomization.yaml", "resources: [cm.yaml]\n")
    write(tmp_path, "elsewhere/kms.enc.yaml", b"data: {a: 'ENC[AES256_GCM,data:AA==,iv:AA==,tag:AA==,type:str]'}\n"
          b"sops: {kms: [{arn: x, enc: y}], mac: 'ENC[AES256_GCM,data:AA==,iv:AA==,tag:AA==,type:str]', "
          b"lastmodified: '2024-01-01T00:00:00Z', version: 3.9.0}\n")
    (m,), _, secrets = render(tmp_path, ring)
    assert m.ref.name == "c" and secrets.used == set()


def test_without_decryption_an_encrypted_object_is_refused_as_flux_would(tmp_path, key):
    age, ring = key
    write(tmp_path, "app/db.sops.yaml", encrypt_bytes(secret("db", password="x"), "yaml", [age.recipient],
                                                      encrypted_regex=RULE))
    write(tmp_path, "app/kustomization.yaml", "resources: [db.sops.yaml]\n")
    with pytest.raises(Exception, match="has no spec.decryption: Flux would refuse to apply it"):
        render(tmp_path, ring, decrypts=False)


def test_a_sops_env_generator_input_is_decrypted_and_hashed_as_plaintext(tmp_path, key, monkeypatch, request):
    age, ring = key
    shared = memory_backed_dir()
    if shared is not None:  # a private tmpfs directory: other processes' builds come and go in the shared one
        own = Path(tempfile.mkdtemp(prefix="test-scratch-", dir=shared))
        request.addfinalizer(lambda: shutil.rmtree(own, ignore_errors=True))
        monkeypatch.setenv(TMPFS_ENV, str(own))
    env = b"API_KEY=s3cret\nMODE=fast\n"
    write(tmp_path, "app/app.sops.env", encrypt_bytes(env, "dotenv", [age.recipient]))
    write(tmp_path, "app/kustomization.yaml", "secretGenerator:\n- name: app\n  envs: [app.sops.env]\n")
    memory = Path(memory_backed_dir() or tmp_path)
    (m,), built, _ = render(tmp_path, ring)
    assert {k: base64.b64decode(v).decode() for k, v in m.body["data"].items()} == {"API_KEY": "s3cret", "MODE": "fast"}
    # the name's hash is kustomize's for the plaintext: build the plaintext the same way and compare
    plain = tmp_path / "plain"
    write(plain, "app/app.env", env)
    write(plain, "app/kustomization.yaml", "secretGenerator:\n- name: app\n  envs: [app.env]\n")
    (p,), _, _ = render(plain, ring)
    assert m.ref.name == p.ref.name and m.ref.name.startswith("app-")
    assert built.decrypted_sources == ["app/app.sops.env"]
    assert not list(tmp_path.glob("**/drb-build-*")) and not list(memory.glob("drb-build-*"))  # removed


def test_a_secret_data_value_holding_a_sops_document_is_decrypted(tmp_path, key):
    age, ring = key
    doc = encrypt_bytes(b'{"user": "u", "password": "p"}', "json", [age.recipient])
    write(tmp_path, "app/creds.json", doc)
    write(tmp_path, "app/kustomization.yaml", "secretGenerator:\n- name: creds\n  files: [config.json=creds.json]\n")
    (m,), _, _ = render(tmp_path, ring)
    # the file went through DecryptSources (a generator input), so kustomize saw the plaintext
    assert json.loads(base64.b64decode(m.body["data"]["config.json"])) == {"user": "u", "password": "p"}


def test_mac_token_of_bytes_finds_each_store_s_mac(key):
    age, _ = key
    for data, fmt in ((secret("a", x="1"), "yaml"), (b'{"a": "1"}', "json"), (b"A=1\n", "dotenv"),
                      (b"[s]\na = 1\n", "ini")):
        encrypted = encrypt_bytes(data, fmt, [age.recipient])
        token = mac_token_of_bytes(encrypted)
        assert token and token.startswith("ENC[AES256_GCM,") and token.endswith("]"), fmt


def test_a_committed_secret_whose_data_value_is_a_sops_document_is_decrypted(tmp_path, key):
    """kustomize-controller's second case: a data value that base64-decodes to a SOPS document is decrypted
    (its own MAC verified), written back in the store the key's name says."""
    age, ring = key
    env = encrypt_bytes(b"TOKEN=abc123\n", "dotenv", [age.recipient])
    body = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "bundle"},
            "data": {"app.env": base64.b64encode(env).decode(), "plain": base64.b64encode(b"hello").decode()}}
    write(tmp_path, "app/bundle.yaml", yaml.safe_dump(body))
    write(tmp_path, "app/kustomization.yaml", "resources: [bundle.yaml]\n")
    (m,), _, _ = render(tmp_path, ring)
    assert base64.b64decode(m.body["data"]["app.env"]) == b"TOKEN=abc123\n"
    assert base64.b64decode(m.body["data"]["plain"]) == b"hello" and m.encrypted
    tampered = env.replace(b"TOKEN=ENC", b"TOKEN2=ENC")
    body["data"]["app.env"] = base64.b64encode(tampered).decode()
    write(tmp_path, "app/bundle.yaml", yaml.safe_dump(body))
    with pytest.raises(DecryptError, match="data.app.env"):
        render(tmp_path, ring)


def test_a_built_object_is_substituted_from_its_body_without_the_origin_annotation(tmp_path, key):
    # kustomize prints our origin annotation on every object; the text Flux substitutes is the object without
    # it, as one line per value (a long value must not be folded mid-variable)
    _, ring = key
    long_value = "x" * 120 + " ${DOMAIN} " + "y" * 120
    write(tmp_path, "app/cm.yaml", yaml.safe_dump({"apiVersion": "v1", "kind": "ConfigMap",
                                                   "metadata": {"name": "web-${ENV}"},
                                                   "data": {"long": long_value, "plain": "no variable"}}))
    write(tmp_path, "app/kustomization.yaml", "resources: [cm.yaml]\n")
    secrets = SopsFiles(tmp_path, ring)
    builder = Builder(tmp_path, kustomizer=find_kustomizer(), artifact=Artifact(tmp_path), secrets=secrets,
                      disk_base=tmp_path.parent, memory_base=memory_backed_dir())
    built = builder.build(BuildSpec(path="app"))
    (m,) = finish(built, Finishing(None, False, {"DOMAIN": "example.org", "ENV": "prod"}), secrets,
                  origin="path:app", notes=[])
    assert m.ref.name == "web-prod"
    assert m.body["data"]["long"] == "x" * 120 + " example.org " + "y" * 120
    assert "annotations" not in m.body["metadata"]


# ----------------------------------------------------------------------------------- what the run learns


def learning(root: Path, ring, public_root: Path | None = None):
    """SopsFiles whose learner records what it teaches (public: the checkout, as the render stage sets it)."""
    from bootstrap.scrub import Learner, PublicText

    taught: list[str] = []
    learner = Learner(lambda values, public: taught.extend(values), PublicText(public_root or root))
    return SopsFiles(root, ring, learner=learner), taught


def build_and_finish(root: Path, secrets: SopsFiles, variables=None):
    builder = Builder(root, kustomizer=find_kustomizer(), artifact=Artifact(root), secrets=secrets,
                      disk_base=root.parent, memory_base=memory_backed_dir())
    return finish(builder.build(BuildSpec(path="app")), Finishing(None, True, variables), secrets,
                  origin="path:app", notes=[])


def test_what_decryption_produced_is_learned_and_nothing_written_in_clear(tmp_path, key):
    age, ring = key
    # only `password` is encrypted (a partial rule): `user` is written in clear in the committed file
    write(tmp_path, "app/db.sops.yaml", encrypt_bytes(secret("db", password="hunter2-long", user="admin-user"), "yaml",
                                                      [age.recipient], encrypted_regex="^password$"))
    write(tmp_path, "app/plain.yaml", yaml.safe_dump({"apiVersion": "v1", "kind": "Secret",
                                                      "metadata": {"name": "immich-db"},
                                                      "stringData": {"username": "immich-user-x"}}))
    write(tmp_path, "app/app.sops.env", encrypt_bytes(b"API_KEY=env-s3cret\n", "dotenv", [age.recipient]))
    bundle = encrypt_bytes(b"TOKEN=bundle-t0ken\n", "dotenv", [age.recipient])
    write(tmp_path, "app/bundle.yaml", yaml.safe_dump({"apiVersion": "v1", "kind": "Secret",
                                                       "metadata": {"name": "bundle"},
                                                       "data": {"app.env": base64.b64encode(bundle).decode()}}))
    write(tmp_path, "app/kustomization.yaml", "resources: [db.sops.yaml, plain.yaml, bundle.yaml]\n"
                                              "secretGenerator:\n- name: app\n  envs: [app.sops.env]\n")
    secrets, taught = learning(tmp_path, ring)
    build_and_finish(tmp_path, secrets)
    assert {"hunter2-long", "env-s3cret", "bundle-t0ken"} <= set(taught)
    assert not {"admin-user", "immich-user-x", "db", "immich-db", "Secret", "v1"} & set(taught)


def test_a_decrypted_value_anyone_reads_in_the_repository_is_not_learned(tmp_path, key):
    age, ring = key
    write(tmp_path, "app/db.sops.yaml", encrypt_bytes(secret("db", user="immich", password="hunter2-long"), "yaml",
                                                      [age.recipient], encrypted_regex=RULE))
    write(tmp_path, "app/kustomization.yaml", "resources: [db.sops.yaml]\n")
    write(tmp_path, "apps/immich/README.md", "the immich app\n")
    secrets, taught = learning(tmp_path, ring)
    build_and_finish(tmp_path, secrets)
    assert "hunter2-long" in taught and "immich" not in taught


def test_what_substitution_built_from_a_secret_variable_is_learned(tmp_path, key):
    age, ring = key
    write(tmp_path, "app/cm.yaml", yaml.safe_dump({
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "${DOMAIN/./-}-tls"},
        "data": {"host": "web.${DOMAIN}", "${DOMAIN^^}": "key", "app": "${APP}-web", "both": "${APP}.${DOMAIN}"}}))
    write(tmp_path, "app/kustomization.yaml", "resources: [cm.yaml]\n")
    secrets, taught = learning(tmp_path, ring)
    secrets.learner.learn(["hush.example"])  # as the decrypted cluster-secrets taught it
    (m,) = build_and_finish(tmp_path, secrets, {"DOMAIN": "hush.example", "APP": "immich"})
    assert m.ref.name == "hush-example-tls"
    assert {"hush-example-tls", "web.hush.example", "HUSH.EXAMPLE", "immich.hush.example"} <= set(taught)
    assert "immich-web" not in taught and "immich" not in taught  # built from a public variable only


def test_a_value_is_learned_when_decrypted_before_a_later_failure(tmp_path, key):
    # the run's scrubber knows a value as soon as it is decrypted: an error later in the render is scrubbed too
    age, ring = key
    write(tmp_path, "app/db.sops.yaml", encrypt_bytes(secret("db", password="hunter2-long"), "yaml", [age.recipient],
                                                      encrypted_regex=RULE))
    write(tmp_path, "app/kustomization.yaml", "resources: [db.sops.yaml]\n")
    secrets, taught = learning(tmp_path, ring)
    secrets.decrypt_object(yaml.safe_load((tmp_path / "app/db.sops.yaml").read_text()), "Secret/db")
    assert taught == ["hunter2-long"]


def test_a_secret_read_from_the_cluster_for_substitution_is_learned(tmp_path, key):
    from bootstrap.engines.flux.render import RenderRequest, render_repository
    from tests.support.fluxrepos import configmap, dump, flux_ks, git_repository

    _, ring = key
    write(tmp_path, "clusters/prod/flux.yaml", dump(git_repository(), flux_ks(
        "app", "./app", postBuild={"substituteFrom": [{"kind": "Secret", "name": "live"},
                                                      {"kind": "ConfigMap", "name": "live-settings"}]})))
    write(tmp_path, "app/cm.yaml", dump(configmap("c", {"a": "${FROM_SECRET}", "b": "${FROM_CONFIGMAP}"}, "default")))
    secrets, taught = learning(tmp_path, ring)
    builder = Builder(tmp_path, kustomizer=find_kustomizer(), artifact=Artifact(tmp_path), secrets=secrets,
                      disk_base=tmp_path.parent)
    live = {("Secret", "live"): {"FROM_SECRET": "cluster-s3cret"},
            ("ConfigMap", "live-settings"): {"FROM_CONFIGMAP": "cluster-setting"}}
    rendering = render_repository(RenderRequest(paths=("clusters/prod",), kustomizations=("all",)), builder,
                                  cluster=lambda kind, ns, name: live.get((kind, name)), notes=lambda text: None)
    assert {m.ref.name: m.body for m in rendering.manifests}["c"]["data"] == {"a": "cluster-s3cret",
                                                                             "b": "cluster-setting"}
    assert taught == ["cluster-s3cret"]
