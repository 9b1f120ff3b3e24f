"""bootstrap.kube.kubeconfig: kubectl's merge rules, file/data fields, auth, in-cluster, errors without values."""

from __future__ import annotations

import base64
import datetime
import os
import ssl
from pathlib import Path

import asyncio

import pytest
import yaml

from bootstrap.errors import ApplyError
from bootstrap.kube.client import credentials_for
from bootstrap.kube.proxy import bypasses_proxy, env_proxy
from bootstrap.kube.tls import client_context
from bootstrap.kube.kubeconfig import Connection, load
from bootstrap.redact import Sensitive

TOKEN = "tok-0123456789-SECRET"
PASSWORD = "pw-SECRET-42"
NO_ENV: dict[str, str] = {}


@pytest.fixture(scope="module")
def pki() -> dict[str, bytes]:
    """A self-signed CA-ish certificate and its EC key, PEM (generated once: fast)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    other = ec.generate_private_key(ec.SECP256R1())
    pem = serialization.Encoding.PEM
    return {
        "cert": cert.public_bytes(pem),
        "key": key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
        "other_key": other.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
        "encrypted_key": key.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                           serialization.BestAvailableEncryption(b"pass")),
    }


def auth(conn: Connection) -> dict[str, str]:
    """The Authorization header the connection's credentials send."""
    return dict(asyncio.run(credentials_for(conn).headers()))


def ssl_context(conn: Connection) -> ssl.SSLContext:
    return client_context(source=conn.source, ca_data=conn.ca_data, insecure=conn.insecure, client_pair=conn.client_pair)


def b64(data: bytes | str) -> str:
    return base64.b64encode(data if isinstance(data, bytes) else data.encode()).decode()


def config(*, clusters=None, users=None, contexts=None, current: str | None = "ctx") -> dict:
    doc: dict = {"apiVersion": "v1", "kind": "Config"}
    if clusters is not None:
        doc["clusters"] = [{"name": n, "cluster": c} for n, c in clusters.items()]
    if users is not None:
        doc["users"] = [{"name": n, "user": u} for n, u in users.items()]
    if contexts is not None:
        doc["contexts"] = [{"name": n, "context": c} for n, c in contexts.items()]
    if current:
        doc["current-context"] = current
    return doc


def simple(cluster: dict | None = None, user: dict | None = None, **ctx) -> dict:
    return config(clusters={"c": {"server": "https://api.example:6443", **(cluster or {})}},
                  users={"u": user or {}}, contexts={"ctx": {"cluster": "c", "user": "u", **ctx}})


def write(path: Path, doc: dict | str) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(doc if isinstance(doc, str) else yaml.safe_dump(doc))
    return str(path)


# -------------------------------------------------------------------------------------------- merging


def test_files_merge_like_kubectl_first_definition_and_first_current_context_win(tmp_path):
    first = write(tmp_path / "a", config(clusters={"c": {"server": "https://first:1"}}, users={"u": {"token": "t1"}},
                                         contexts={"one": {"cluster": "c", "user": "u"}}, current=None))
    second = write(tmp_path / "b", config(clusters={"c": {"server": "https://second:2"}, "d": {"server": "https://d:3"}},
                                          users={"u": {"token": "t2"}},
                                          contexts={"one": {"cluster": "d"}, "two": {"cluster": "d", "user": "u"}},
                                          current="one"))
    third = write(tmp_path / "c", config(contexts={}, current="two"))
    spec = os.pathsep.join([first, str(tmp_path / "missing"), second, third])

    conn = load(spec, None, environ=NO_ENV)  # current-context "one" from b (a sets none; c's comes later)
    assert conn.server == "https://first:1" and auth(conn) == {"Authorization": "Bearer t1"}
    assert conn.source == f"kubeconfig {spec} context one"
    two = load(spec, "two", environ=NO_ENV)  # cluster d only in b; user u from a
    assert two.server == "https://d:3" and auth(two) == {"Authorization": "Bearer t1"}


def test_kubeconfig_env_is_the_default_and_server_is_normalised(tmp_path):
    path = write(tmp_path / "kc", simple({"server": "api.example:6443/"}, namespace="team"))
    conn = load(None, None, environ={"KUBECONFIG": path})
    assert conn.server == "https://api.example:6443" and conn.namespace == "team"
    assert conn.ca_data is None and not conn.insecure and auth(conn) == {}


# ------------------------------------------------------------------------------------ fields and auth


def test_relative_paths_resolve_against_the_file_that_defined_the_entry(tmp_path, pki):
    (tmp_path / "clusters" / "ca.pem").parent.mkdir()
    (tmp_path / "clusters" / "ca.pem").write_bytes(pki["cert"])
    (tmp_path / "users" / "pki").mkdir(parents=True)
    (tmp_path / "users" / "pki" / "me.crt").write_bytes(pki["cert"])
    (tmp_path / "users" / "pki" / "me.key").write_bytes(pki["key"])
    (tmp_path / "users" / "token").write_text(f"  {TOKEN}\n")
    clusters = write(tmp_path / "clusters" / "kc", config(
        clusters={"c": {"server": "https://x", "certificate-authority": "ca.pem"}},
        contexts={"ctx": {"cluster": "c", "user": "u"}}))
    users = write(tmp_path / "users" / "kc", config(
        users={"u": {"client-certificate": "pki/me.crt", "client-key": "pki/me.key", "tokenFile": "token"}},
        current=None))
    conn = load(os.pathsep.join([clusters, users]), None, environ=NO_ENV)
    assert conn.ca_data == pki["cert"] and conn.client_cert_data == pki["cert"]
    assert conn.client_key_data.reveal() == pki["key"]
    assert auth(conn) == {"Authorization": f"Bearer {TOKEN}"}  # tokenFile read now, whitespace dropped


def test_data_wins_over_file_and_token_file_over_token_and_basic(tmp_path, pki):
    (tmp_path / "tokenfile").write_text("from-file")
    path = write(tmp_path / "kc", simple(
        {"certificate-authority-data": b64(pki["cert"]), "certificate-authority": "nowhere.pem",
         "tls-server-name": "kubernetes.default", "proxy-url": "http://proxy:3128"},
        {"token": TOKEN, "tokenFile": "tokenfile", "username": "admin", "password": PASSWORD,
         "client-certificate-data": b64(pki["cert"]), "client-key-data": b64(pki["key"]), "client-key": "nowhere"}))
    conn = load(path, None, environ=NO_ENV)
    assert conn.ca_data == pki["cert"] and conn.client_key_data.reveal() == pki["key"]
    assert conn.tls_server_name == "kubernetes.default" and conn.proxy_url == "http://proxy:3128"
    assert auth(conn) == {"Authorization": "Bearer from-file"}  # client-go: the token file wins over token
    no_file = write(tmp_path / "kc2", simple(user={"token": TOKEN, "username": "admin", "password": PASSWORD}))
    assert auth(load(no_file, None, environ=NO_ENV)) == {"Authorization": f"Bearer {TOKEN}"}


def test_basic_auth_header(tmp_path):
    conn = load(write(tmp_path / "kc", simple(user={"username": "admin", "password": PASSWORD})), None, environ=NO_ENV)
    assert auth(conn) == {"Authorization": "Basic " + b64(f"admin:{PASSWORD}")}


def test_plain_http_server_ignores_tls_material_and_insecure_skips_verification(tmp_path):
    conn = load(write(tmp_path / "kc", simple({"server": "http://127.0.0.1:8080", "certificate-authority": "absent"},
                                              {"client-certificate": "absent"})), None, environ=NO_ENV)
    assert conn.server == "http://127.0.0.1:8080" and conn.client_cert_data is None
    insecure = load(write(tmp_path / "kc2", simple({"insecure-skip-tls-verify": True})), None, environ=NO_ENV)
    ctx = ssl_context(insecure)
    assert insecure.insecure and ctx.verify_mode == ssl.CERT_NONE and not ctx.check_hostname


def test_connection_repr_shows_no_secret(tmp_path, pki):
    path = write(tmp_path / "kc", simple(user={"token": TOKEN, "username": "admin", "password": PASSWORD,
                                               "client-certificate-data": b64(pki["cert"]),
                                               "client-key-data": b64(pki["key"])}))
    text = repr(load(path, None, environ=NO_ENV))
    assert "Sensitive(<redacted>)" in text
    for secret in (TOKEN, PASSWORD, b64(f"admin:{PASSWORD}"), "PRIVATE KEY", pki["key"].decode()[40:80]):
        assert secret not in text


# ------------------------------------------------------------------------------------------ in-cluster


def serviceaccount(tmp_path: Path, *, namespace: str | None = "ops") -> str:
    sa = tmp_path / "sa"
    sa.mkdir()
    (sa / "token").write_text(TOKEN + "\n")
    (sa / "ca.crt").write_text("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
    if namespace:
        (sa / "namespace").write_text(namespace)
    return str(sa)


def test_in_cluster_when_no_kubeconfig_exists(tmp_path):
    sa = serviceaccount(tmp_path)
    env = {"KUBERNETES_SERVICE_HOST": "fd00::1", "KUBERNETES_SERVICE_PORT": "443"}
    conn = load(str(tmp_path / "none"), None, environ=env, serviceaccount_dir=sa)
    assert conn == Connection(server="https://[fd00::1]:443", source="in-cluster", ca_data=(tmp_path / "sa" / "ca.crt").read_bytes(),
                              token_file=str(tmp_path / "sa" / "token"), namespace="ops")
    assert auth(conn) == {"Authorization": f"Bearer {TOKEN}"}
    v4 = load(None, None, environ={**env, "KUBERNETES_SERVICE_HOST": "10.0.0.1"}, serviceaccount_dir=sa)
    assert v4.server == "https://10.0.0.1:443"


def test_in_cluster_is_not_used_for_an_explicit_context_or_when_incomplete(tmp_path):
    env = {"KUBERNETES_SERVICE_HOST": "10.0.0.1", "KUBERNETES_SERVICE_PORT": "443"}
    missing = str(tmp_path / "none")
    with pytest.raises(ApplyError) as err:
        load(missing, "prod", environ=env, serviceaccount_dir=serviceaccount(tmp_path))
    assert str(err.value) == f"kubeconfig {missing}: file not found (pass --kubeconfig or set KUBECONFIG)"
    with pytest.raises(ApplyError, match=r"^in-cluster config \(\S+\): token: file not found$"):
        load(missing, None, environ=env, serviceaccount_dir=str(tmp_path / "empty"))
    with pytest.raises(ApplyError, match=r"KUBERNETES_SERVICE_PORT must both be set"):
        load(missing, None, environ={"KUBERNETES_SERVICE_HOST": "10.0.0.1"}, serviceaccount_dir=str(tmp_path / "sa"))


# ---------------------------------------------------------------------------------------------- errors


def test_missing_files_and_unknown_context_keep_their_messages(tmp_path):
    spec = os.pathsep.join([str(tmp_path / "a"), str(tmp_path / "b")])
    with pytest.raises(ApplyError) as err:
        load(spec, None, environ=NO_ENV)
    assert str(err.value) == f"kubeconfig {spec}: file not found (pass --kubeconfig or set KUBECONFIG)"
    path = write(tmp_path / "kc", config(clusters={"c": {"server": "https://x"}},
                                         contexts={"a": {"cluster": "c"}, "b": {"cluster": "c"}}, current=None))
    with pytest.raises(ApplyError) as err:
        load(path, "prod", environ=NO_ENV)
    assert str(err.value) == f"kubeconfig {path}: context 'prod' not found (available: a, b)"
    with pytest.raises(ApplyError) as err:
        load(path, None, environ=NO_ENV)
    assert str(err.value) == f"kubeconfig {path}: no current-context set (pass --context)"


SECRET_USER = {"token": TOKEN, "username": "admin", "password": PASSWORD}
BAD = [
    ("not-yaml", "clusters: [unterminated\n" + TOKEN, "not valid YAML (line "),
    ("not-a-mapping", f"- {TOKEN}\n", "not a mapping"),
    ("clusters-not-list", {"clusters": {"c": TOKEN}}, "clusters: not a list"),
    ("entry-without-name", {"users": [{"user": SECRET_USER}]}, "users[0]: not a mapping with a name"),
    ("user-not-mapping", {"users": [{"name": "u", "user": TOKEN}]}, "users[0].user: not a mapping"),
    ("missing-server", simple({"server": ""}, SECRET_USER), "server: missing"),
    ("bad-server", simple({"server": "ftp://x"}, SECRET_USER), "server: not an http(s) URL with a host"),
    ("bad-port", simple({"server": "https://x:port"}, SECRET_USER), "server: not a URL"),
    ("bad-ca-base64", simple({"certificate-authority-data": "%%%" + TOKEN}, SECRET_USER),
     "certificate-authority-data: not valid base64"),
    ("ca-not-pem", simple({"certificate-authority-data": b64(TOKEN)}, SECRET_USER),
     "certificate-authority: not PEM (BEGIN CERTIFICATE expected)"),
    ("ca-file-missing", simple({"certificate-authority": "no-ca.pem"}, SECRET_USER), "certificate-authority: file not found"),
    ("insecure-not-bool", simple({"insecure-skip-tls-verify": "yes"}, SECRET_USER), "insecure-skip-tls-verify: not true or false"),
    ("socks-proxy", simple({"proxy-url": "socks5://p:1080"}, SECRET_USER), "proxy-url: only http and https proxies"),
    ("key-base64", simple(user={**SECRET_USER, "client-certificate-data": b64("-----BEGIN CERTIFICATE-----"),
                                "client-key-data": TOKEN + "!"}), "client-key-data: not valid base64"),
    ("key-not-pem", simple(user={**SECRET_USER, "client-certificate-data": b64("-----BEGIN CERTIFICATE-----"),
                                 "client-key-data": b64(TOKEN)}), "client-key: not PEM"),
    ("cert-without-key", simple(user={**SECRET_USER, "client-certificate-data": b64("-----BEGIN CERTIFICATE-----")}),
     "client-certificate without client-key"),
    ("key-without-cert", simple(user={**SECRET_USER, "client-key-data": b64("-----BEGIN PRIVATE KEY-----")}),
     "client-key without client-certificate"),
    ("token-file-missing", simple(user={"tokenFile": "no-token"}), "tokenFile: file not found"),
    ("token-control-chars", simple(user={"token": TOKEN + "\r\nX-Evil: 1"}), "token: contains control characters"),
    ("token-not-string", simple(user={"token": 12345}), "token: not a string"),
    ("unknown-cluster", config(clusters={}, users={"u": SECRET_USER}, contexts={"ctx": {"cluster": "gone", "user": "u"}}),
     "context 'ctx': cluster 'gone' not found"),
    ("unknown-user", config(clusters={"c": {"server": "https://x"}}, contexts={"ctx": {"cluster": "c", "user": "gone"}}),
     "context 'ctx': user 'gone' not found"),
]


@pytest.mark.parametrize("doc,cause", [pytest.param(doc, cause, id=name) for name, doc, cause in BAD])
def test_malformed_input_is_one_line_naming_file_and_field_never_a_value(tmp_path, doc, cause):
    path = write(tmp_path / "kc", doc)
    with pytest.raises(ApplyError) as err:
        load(path, None, environ=NO_ENV)
    message = str(err.value)
    assert message.startswith(f"kubeconfig {path}: ") and cause in message, message
    assert "\n" not in message
    for secret in (TOKEN, PASSWORD, "Evil"):
        assert secret not in message


# ----------------------------------------------------------------------------------- credential plugins


def test_credential_plugins_are_read_from_the_selected_user(tmp_path):
    exec_block = {"apiVersion": "client.authentication.k8s.io/v1", "command": "bin/plugin", "args": ["token"],
                  "env": [{"name": "REGION", "value": "eu"}], "interactiveMode": "Never", "provideClusterInfo": True}
    doc = config(clusters={"c": {"server": "https://x", "extensions": [
                     {"name": "client.authentication.k8s.io/exec", "extension": {"audience": "a"}}]}},
                 users={"u": {"exec": exec_block}, "p": {"auth-provider": {"name": "oidc", "config": {}}},
                        "plain": {"token": TOKEN}},
                 contexts={"ctx": {"cluster": "c", "user": "u"}, "oidc": {"cluster": "c", "user": "p"},
                           "other": {"cluster": "c", "user": "plain"}}, current=None)
    path = write(tmp_path / "kc", doc)
    plugin = load(path, "ctx", environ=NO_ENV).exec
    assert plugin is not None and plugin.command == str(tmp_path / "bin" / "plugin")  # relative to the kubeconfig
    assert plugin.args == ("token",) and plugin.env == (("REGION", "eu"),) and plugin.interactive_mode == "Never"
    assert plugin.cluster_info == {"server": "https://x", "config": {"audience": "a"}}
    assert load(path, "oidc", environ=NO_ENV).auth_provider == "oidc"
    assert auth(load(path, "other", environ=NO_ENV)) == {"Authorization": f"Bearer {TOKEN}"}


@pytest.mark.parametrize("block,cause", [
    ({"command": "x"}, "exec.apiVersion: missing"),
    ({"apiVersion": "client.authentication.k8s.io/v1alpha1", "command": "x"}, "is not supported"),
    ({"apiVersion": "client.authentication.k8s.io/v1", "command": "x"}, "exec.interactiveMode: must be set"),
    ({"apiVersion": "client.authentication.k8s.io/v1beta1", "command": "x", "interactiveMode": "Sometimes"},
     "'Sometimes' is not one of"),
    ({"apiVersion": "client.authentication.k8s.io/v1beta1"}, "exec.command: missing"),
    ({"apiVersion": "client.authentication.k8s.io/v1beta1", "command": "x", "env": [{"name": "A"}]}, "exec.env:"),
])
def test_bad_exec_blocks_are_one_line_naming_the_field(tmp_path, block, cause):
    path = write(tmp_path / "kc", simple(user={"exec": block}))
    with pytest.raises(ApplyError) as err:
        load(path, None, environ=NO_ENV)
    assert str(err.value).startswith(f"kubeconfig {path}: user 'u': ") and cause in str(err.value)


def test_v1beta1_defaults_to_interactive_if_available(tmp_path):
    path = write(tmp_path / "kc", simple(user={"exec": {"apiVersion": "client.authentication.k8s.io/v1beta1",
                                                        "command": "x"}}))
    assert load(path, None, environ=NO_ENV).exec.interactive_mode == "IfAvailable"


# ------------------------------------------------------------------------------------------ TLS, proxies


def test_ssl_context_loads_the_client_pair_from_memory(tmp_path, pki):
    conn = Connection(server="https://x", source="kubeconfig K context C", ca_data=pki["cert"],
                      client_cert_data=pki["cert"], client_key_data=Sensitive(pki["key"]))
    before = set(os.listdir(tmp_path.parent))
    ctx = ssl_context(conn)
    assert ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname
    assert len(ctx.get_ca_certs()) == 1
    assert set(os.listdir(tmp_path.parent)) == before


@pytest.mark.parametrize("key,cause", [("other_key", "client-certificate/client-key: not usable"),
                                       ("encrypted_key", "client-key: encrypted private keys are not supported")])
def test_ssl_context_rejects_unusable_keys_without_showing_them(pki, key, cause):
    conn = Connection(server="https://x", source="kubeconfig K context C", client_cert_data=pki["cert"],
                      client_key_data=Sensitive(pki[key]))
    with pytest.raises(ApplyError) as err:
        ssl_context(conn)
    assert str(err.value).startswith("kubeconfig K context C: " + cause)
    assert "PRIVATE" not in str(err.value)


def test_environment_proxy_is_chosen_as_kubernetes_36_did():
    assert env_proxy("https://x", {}) is None
    assert env_proxy("https://x", {"HTTPS_PROXY": "http://a", "https_proxy": "http://b"}) == "http://b"
    assert env_proxy("https://x", {"HTTPS_PROXY": "http://a", "HTTP_PROXY": "http://c"}) == "http://c"
    assert env_proxy("https://x.corp:6443", {"HTTPS_PROXY": "http://a", "NO_PROXY": ".corp"}) is None
    assert env_proxy("https://x.corp:6443", {"HTTPS_PROXY": "http://a", "NO_PROXY": ".corp", "no_proxy": "other"}) == "http://a"


@pytest.mark.parametrize("url,no_proxy,bypass", [
    ("https://10.1.2.3:6443", "10.0.0.0/8", True),
    ("https://10.1.2.3:6443", "192.168.0.0/16,10.1.2.3", True),
    ("https://10.1.2.3:6443", "192.168.0.0/16", False),
    ("https://api.corp.example:6443", "corp.example", True),
    ("https://api.corp.example:6443", ".corp.example", True),
    ("https://api.corp.example:6443", "api.corp.example:6443", True),
    ("https://api.corp.example:6443", "api.corp.example:443", False),
    ("https://api.corp.example", "other.example, *", True),
    ("https://api.corp.example", "", False),
])
def test_no_proxy_rules(url, no_proxy, bypass):
    assert bypasses_proxy(url, no_proxy) is bypass
