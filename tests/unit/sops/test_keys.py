"""Key loading: sources in sops' order, several identities, comments, permissions, SSH keys, redaction."""

from __future__ import annotations

import io
import os

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from bootstrap import sops
from bootstrap.errors import KeyError_
from bootstrap.stages.keys import load_keyring
from tests.support.sops import encrypt_bytes, new_age_key, sops_decrypt, write_key_file

NO_ENV: dict[str, str] = {"HOME": "/nonexistent"}


def test_key_file_with_several_identities_and_comments(tmp_path):
    a, b = new_age_key(), new_age_key()
    path = write_key_file(tmp_path / "keys.txt", a, b)
    ring = load_keyring(str(path), environ=NO_ENV)
    assert ring.recipients == (a.recipient, b.recipient)
    assert ring.source == f"--age-key-file {path}"
    assert ring.material.reveal() == path.read_bytes()
    assert ring.warnings == ()


def test_crlf_key_file_works_but_stray_spaces_do_not(tmp_path):
    key = new_age_key()
    crlf = tmp_path / "crlf.txt"
    crlf.write_bytes(f"# c\r\n{key.identity}\r\n".encode())
    os.chmod(crlf, 0o600)
    assert load_keyring(str(crlf)).recipients == (key.recipient,)
    spaced = tmp_path / "spaced.txt"
    spaced.write_text(f"  {key.identity}\n")
    with pytest.raises(KeyError_, match=r"line 1 is not a valid age identity"):
        load_keyring(str(spaced))


def test_group_readable_key_file_warns_like_ssh(tmp_path):
    path = write_key_file(tmp_path / "k.txt", new_age_key(), mode=0o644)
    (warning,) = load_keyring(str(path)).warnings
    assert "UNPROTECTED KEY FILE" in warning and "0644" in warning and str(path) in warning


def test_unreadable_key_file_names_the_flag_and_path(tmp_path):
    with pytest.raises(KeyError_, match=r"--age-key-file .*missing.txt: cannot read the key file"):
        load_keyring(str(tmp_path / "missing.txt"))


def test_stdin_key(tmp_path):
    key = new_age_key()
    ring = load_keyring("-", stdin=io.BytesIO(key.key_file_text.encode()))
    assert ring.recipients == (key.recipient,) and "stdin" in ring.source


def test_environment_sources_in_sops_order_and_union(tmp_path):
    inline, from_file, default = new_age_key(), new_age_key(), new_age_key()
    key_file = write_key_file(tmp_path / "env.txt", from_file)
    write_key_file(tmp_path / "xdg" / "sops" / "age" / "keys.txt", default)
    environ = {"SOPS_AGE_KEY": inline.identity, "SOPS_AGE_KEY_FILE": str(key_file),
               "XDG_CONFIG_HOME": str(tmp_path / "xdg")}
    ring = load_keyring(environ=environ)
    assert ring.recipients == (inline.recipient, from_file.recipient, default.recipient)
    assert ring.source.startswith("SOPS_AGE_KEY, SOPS_AGE_KEY_FILE ")


def test_default_key_file_under_home_config(tmp_path):
    key = new_age_key()
    write_key_file(tmp_path / ".config" / "sops" / "age" / "keys.txt", key)
    assert load_keyring(environ={"HOME": str(tmp_path)}).recipients == (key.recipient,)


def test_no_key_anywhere_is_a_key_error(tmp_path):
    with pytest.raises(KeyError_, match="no age key: pass --age-key-file"):
        load_keyring(environ={"HOME": str(tmp_path)})


def test_post_quantum_identity_is_unsupported(tmp_path):
    path = tmp_path / "pq.txt"
    path.write_text("AGE-SECRET-KEY-PQ-1QQQQ\n")
    with pytest.raises(KeyError_, match="unsupported identity type"):
        load_keyring(str(path))


def test_repr_never_shows_the_identity(tmp_path):
    key = new_age_key()
    ring = load_keyring(str(write_key_file(tmp_path / "k.txt", key)))
    for text in (repr(ring), str(ring), f"{ring}", repr(ring.material)):
        assert "AGE-SECRET-KEY" not in text and key.identity not in text
    assert key.recipient in repr(ring)


def _ssh_key(kind: str):
    private = ed25519.Ed25519PrivateKey.generate() if kind == "ed25519" else rsa.generate_private_key(65537, 2048)
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                serialization.NoEncryption())
    public = private.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return pem, public.decode()


@pytest.mark.parametrize("kind", ["ed25519", "rsa"])
def test_ssh_identity_decrypts_a_file_encrypted_for_its_public_key(tmp_path, kind):
    pem, public = _ssh_key(kind)
    path = tmp_path / f"id_{kind}"
    path.write_bytes(pem)
    os.chmod(path, 0o600)
    encrypted = encrypt_bytes(b"password: hunter2\n", "yaml", [public + " test@host"])
    ring = load_keyring(environ={"SOPS_AGE_SSH_PRIVATE_KEY_FILE": str(path), "HOME": str(tmp_path)})
    assert ring.recipients == (public,)
    assert ring.material.reveal() == b""  # Flux's .agekey cannot hold SSH keys
    assert sops.decrypt(encrypted, ring, fmt="yaml", name="f").documents == [{"password": "hunter2"}]
    # and via --age-key-file pointing at the SSH key, like sops' file source
    assert load_keyring(str(path)).recipients == (public,)


def test_sops_agrees_that_the_test_key_file_opens_the_file(tmp_path):
    key = new_age_key()
    key_file = write_key_file(tmp_path / "k.txt", key)
    encrypted = encrypt_bytes(b"a: b\n", "yaml", [key.recipient])
    assert sops_decrypt(encrypted, "yaml", key_file).stdout == b"a: b\n"
