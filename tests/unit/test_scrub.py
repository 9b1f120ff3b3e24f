"""bootstrap.scrub's rule of what a run hides: what came out of decryption, never what anyone reads in the
repository (the Scrubber's matching itself: tests/unit/test_report.py)."""

from __future__ import annotations

import base64

import pytest

from bootstrap.scrub import Learner, PublicText, Scrubber, decrypted_values, document_values

ENC = "ENC[AES256_GCM,data:xxxx,iv:yyyy,tag:zzzz,type:str]"


def test_decrypted_values_are_what_was_enc_in_the_object():
    encrypted = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db"},
                 "stringData": {"password": ENC, "user": "admin-plain"},
                 "data": {"token": ENC}, "spec": {"list": [ENC, "plain-item"], "port": ENC, "on": ENC}}
    decrypted = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db"},
                 "stringData": {"password": "hunter2-long", "user": "admin-plain"},
                 "data": {"token": base64.b64encode(b"t0ken-value").decode()},
                 "spec": {"list": ["item-secret", "plain-item"], "port": 54321, "on": True}}
    values = decrypted_values(encrypted, decrypted)
    assert set(values) == {"hunter2-long", base64.b64encode(b"t0ken-value").decode(), "t0ken-value", "item-secret",
                           "54321"}  # a boolean carries nothing to hide; plaintext parts are not learned


def test_a_config_map_s_data_is_not_base64_decoded():
    encrypted = {"kind": "ConfigMap", "data": {"k": ENC}}
    assert decrypted_values(encrypted, {"kind": "ConfigMap", "data": {"k": "YWJjZGVmZ2g="}}) == ["YWJjZGVmZ2g="]


def test_document_values_hold_every_scalar_and_the_env_values_and_text():
    values = document_values([{"a": {"b": ["deep-value"]}, "n": 12345}], b"KEY=env-value\nOTHER=x\n")
    assert {"deep-value", "12345", "env-value", "KEY=env-value\nOTHER=x"} <= set(values)


class Taught:
    def __init__(self):
        self.values: list[str] = []

    def __call__(self, values, public=None):
        assert public is not None
        self.values += values


def test_the_learner_teaches_long_enough_values_not_public_ones_once():
    taught = Taught()
    learner = Learner(taught, public=lambda text: text == "immich")
    learner.learn(["immich", "abc", "s3cret-value", "s3cret-value", " immich\n"])
    assert taught.values == ["s3cret-value"]
    assert learner.knows("s3cret-value") and not learner.knows("immich") and not learner.knows("abc")
    learner.learn(["line-one\nline-two"])
    assert learner.knows("line-oneline-two")  # as Flux reads a variable: newlines removed
    assert "s3cret" not in repr(learner)
    with pytest.raises(TypeError):
        import pickle

        pickle.dumps(learner)


def test_the_scrubber_learns_no_public_value_nor_a_public_form():
    pem = "-----BEGIN CERTIFICATE-----\nMIIBsecretsecretline\napiVersion: v1\n-----END CERTIFICATE-----"
    public_text = "apiVersion: v1\nkind: Secret\n" + base64.b64encode(b"base64-is-public").decode()
    s = Scrubber()
    s.learn(["immich", pem, "base64-is-public", "hidden-value"], public=lambda text: text in public_text + " immich")
    assert s("app immich") == "app immich"
    assert s("apiVersion: v1") == "apiVersion: v1"  # a public line of a multi-line value
    assert s("at MIIBsecretsecretline") == "at <redacted>"
    assert s(base64.b64encode(b"base64-is-public").decode()) == base64.b64encode(b"base64-is-public").decode()
    assert s("x base64-is-public hidden-value") == "x <redacted> <redacted>"


def test_public_text_is_every_file_of_the_checkout(tmp_path):
    (tmp_path / "apps" / "immich").mkdir(parents=True)
    (tmp_path / "apps" / "immich" / "hr.yaml").write_text("metadata:\n  name: immich\n")
    (tmp_path / "s.sops.yaml").write_text("stringData:\n  password: ENC[AES256_GCM,data:abc]\n")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "old").write_text("hidden-in-history\n")
    (tmp_path / "big.txt").write_bytes(b"y" * 200)
    (tmp_path / "logo.png").write_bytes(b"\x89PNG\0\0binary-bytes")
    public = PublicText(tmp_path, limit=100)  # big.txt does not fit: what it holds is not public
    assert public("immich") and public("name: immich") and public("password")
    assert not public("hidden-in-history") and not public("yyyy") and not public("hunter2")
    assert not public("binary-bytes")


def test_a_path_of_the_checkout_is_public_text(tmp_path):
    (tmp_path / "addons" / "grafana-cloud").mkdir(parents=True)
    (tmp_path / "addons" / "grafana-cloud" / "cm.bin").write_bytes(b"\0binary")
    public = PublicText(tmp_path)
    assert public("grafana-cloud") and public("addons/grafana-cloud/cm.bin")
    assert not public("binary") and not public("hunter2")
