"""Kubeconfig loading without the `kubernetes` package: kubectl's merge rules, one `Connection`.

`load` covers what real kubeconfigs use — server, CA (file or data), insecure-skip-tls-verify,
tls-server-name, proxy-url, client certificate and key (file or data), token, tokenFile, basic auth, exec
credential plugins, the legacy auth-provider — and the in-cluster service account. It only reads and
checks: `bootstrap.kube.client.connect` turns the `Connection` into a TLS context, credentials and a
transport.

Secrets hygiene: private keys, tokens and passwords stay wrapped in `Sensitive`. Errors are one line,
`kubeconfig PATH: FIELD: cause`, and never quote a value.
"""

from __future__ import annotations

import base64
import binascii
import os
from dataclasses import dataclass
from typing import Any, Mapping
from urllib.parse import urlsplit

import yaml

from bootstrap.errors import ApplyError
from bootstrap.kube.credentials import read_token, token_text
from bootstrap.kube.exec_credential import ExecConfig, cluster_info, parse_config
from bootstrap.redact import Sensitive

SERVICEACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"


@dataclass(frozen=True, kw_only=True)
class Connection:
    """Everything needed to reach and authenticate to one API server. Secrets are `Sensitive`.

    At most one of `token`, `token_file`, `basic`, `exec`, `auth_provider` is the credential used; a
    client certificate may come with any of them.
    """

    server: str  # scheme://host[:port][/path], no trailing slash
    source: str  # "kubeconfig PATH context NAME" or "in-cluster"
    ca_data: bytes | None = None  # PEM; None → the system's trust store
    insecure: bool = False
    tls_server_name: str | None = None
    proxy_url: str | None = None
    client_cert_data: bytes | None = None  # PEM (a certificate is public)
    client_key_data: Sensitive | None = None  # PEM bytes
    token: Sensitive | None = None  # str
    token_file: str | None = None  # read again as it rotates; wins over `token`, as in client-go
    basic: Sensitive | None = None  # the whole `Basic ...` header value
    exec: ExecConfig | None = None
    auth_provider: str | None = None  # its name; loaded by the `kubernetes` package
    kubeconfig: str | None = None  # the file list and context the connection came from
    context: str | None = None
    namespace: str | None = None

    @property
    def client_pair(self) -> tuple[bytes, bytes] | None:
        if self.client_cert_data is None or self.client_key_data is None:
            return None
        return self.client_cert_data, self.client_key_data.reveal()


# --------------------------------------------------------------------------------------------------
# Public entry points


def default_path(environ: Mapping[str, str] = os.environ) -> str:
    """$KUBECONFIG, else ~/.kube/config (kubectl's default)."""
    return environ.get("KUBECONFIG") or os.path.expanduser("~/.kube/config")


def load(kubeconfig: str | None, context: str | None, *, environ: Mapping[str, str] = os.environ,
         serviceaccount_dir: str = SERVICEACCOUNT_DIR) -> Connection:
    """The connection `kubectl --kubeconfig KUBECONFIG --context CONTEXT` would use.

    Raises ApplyError for anything missing or malformed.
    """
    spec = kubeconfig or default_path(environ)
    selected = _select(spec, context, environ)
    if selected is None:
        return _in_cluster(environ, serviceaccount_dir)
    name, ctx, cluster, user = selected
    server = _server(cluster)
    https = server.startswith("https://")
    conn: dict[str, Any] = {
        "server": server,
        "source": f"kubeconfig {spec} context {name}",
        "kubeconfig": spec,
        "context": name,
        "namespace": _string(ctx, "namespace"),
        "insecure": _bool(cluster, "insecure-skip-tls-verify"),
        "tls_server_name": _string(cluster, "tls-server-name"),
        "proxy_url": _proxy_url(cluster),
    }
    if https:
        conn["ca_data"] = _pem(cluster, "certificate-authority", b"-----BEGIN CERTIFICATE-----")
    if user is not None:
        conn.update(_credentials(user, tls=https, user_name=_string(ctx, "user") or ""))
        if "exec" in user.data:
            info = cluster_info(server, ca_data=conn.get("ca_data"), insecure=conn["insecure"],
                                tls_server_name=conn["tls_server_name"], proxy_url=conn["proxy_url"],
                                extension=_exec_extension(cluster))
            conn["exec"] = _exec(user, _string(ctx, "user") or "", info)
    return Connection(**conn)


# --------------------------------------------------------------------------------------------------
# Reading and merging files


@dataclass(frozen=True)
class _Entry:
    """One named cluster/user/context body and the file that defined it (relative paths resolve there)."""

    data: Mapping[str, Any]
    path: str

    @property
    def base(self) -> str:
        return os.path.dirname(os.path.abspath(self.path))


_KINDS = (("clusters", "cluster"), ("users", "user"), ("contexts", "context"))


def _select(spec: str, context: str | None, environ: Mapping[str, str]) -> tuple[str, _Entry, _Entry, _Entry | None] | None:
    """(context name, context, cluster, user) from the merged files; None means "use in-cluster config"."""
    paths = [os.path.expanduser(p) for p in spec.split(os.pathsep) if p]
    existing = [p for p in paths if os.path.isfile(p)]
    if not existing:
        if "KUBERNETES_SERVICE_HOST" in environ and context is None:
            return None
        raise ApplyError(f"kubeconfig {spec}: file not found (pass --kubeconfig or set KUBECONFIG)")
    merged: dict[str, dict[str, _Entry]] = {kind: {} for kind, _ in _KINDS}
    current: str | None = None
    for path in existing:
        doc = _read(path)
        for kind, body in _KINDS:
            for name, entry in _entries(doc, kind, body, path):
                merged[kind].setdefault(name, entry)  # the first file to define a name wins
        if current is None and doc.get("current-context"):
            current = str(doc["current-context"])
    name = context if context is not None else current
    if name is None:
        raise ApplyError(f"kubeconfig {spec}: no current-context set (pass --context)")
    ctx = merged["contexts"].get(name)
    if ctx is None:
        available = ", ".join(merged["contexts"]) or "none"
        raise ApplyError(f"kubeconfig {spec}: context {name!r} not found (available: {available})")
    cluster_name = _string(ctx, "cluster")
    if not cluster_name:
        raise ApplyError(f"kubeconfig {ctx.path}: context {name!r}: cluster: missing")
    cluster = merged["clusters"].get(cluster_name)
    if cluster is None:
        raise ApplyError(f"kubeconfig {ctx.path}: context {name!r}: cluster {cluster_name!r} not found")
    user_name = _string(ctx, "user")
    user = merged["users"].get(user_name) if user_name else None
    if user_name and user is None:
        raise ApplyError(f"kubeconfig {ctx.path}: context {name!r}: user {user_name!r} not found")
    return name, ctx, cluster, user


def _read(path: str) -> Mapping[str, Any]:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        with open(path, "rb") as fh:
            doc = yaml.load(fh, Loader=loader)  # noqa: S506 - a safe loader
    except OSError as exc:
        raise ApplyError(f"kubeconfig {path}: cannot read ({exc.strerror or type(exc).__name__})") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise ApplyError(f"kubeconfig {path}: not valid YAML{where}") from None
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise ApplyError(f"kubeconfig {path}: not a mapping")
    return doc


def _entries(doc: Mapping[str, Any], kind: str, body: str, path: str) -> list[tuple[str, _Entry]]:
    items = doc.get(kind) or []
    if not isinstance(items, list):
        raise ApplyError(f"kubeconfig {path}: {kind}: not a list")
    out = []
    for index, item in enumerate(items):
        if not isinstance(item, dict) or not isinstance(item.get("name"), str) or not item["name"]:
            raise ApplyError(f"kubeconfig {path}: {kind}[{index}]: not a mapping with a name")
        data = item.get(body) or {}
        if not isinstance(data, dict):
            raise ApplyError(f"kubeconfig {path}: {kind}[{index}].{body}: not a mapping")
        out.append((item["name"], _Entry(data, path)))
    return out


# --------------------------------------------------------------------------------------------------
# Fields


def _string(entry: _Entry, key: str) -> str | None:
    value = entry.data.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ApplyError(f"kubeconfig {entry.path}: {key}: not a string")
    return value


def _bool(entry: _Entry, key: str) -> bool:
    value = entry.data.get(key, False)
    if not isinstance(value, bool):
        raise ApplyError(f"kubeconfig {entry.path}: {key}: not true or false")
    return value


def _server(cluster: _Entry) -> str:
    server = _string(cluster, "server")
    if not server:
        raise ApplyError(f"kubeconfig {cluster.path}: server: missing")
    if "://" not in server:
        server = "https://" + server  # kubectl assumes https for a bare host:port
    try:
        parts = urlsplit(server)
        parts.port  # noqa: B018 - validates the port
    except ValueError:
        raise ApplyError(f"kubeconfig {cluster.path}: server: not a URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ApplyError(f"kubeconfig {cluster.path}: server: not an http(s) URL with a host")
    return server.rstrip("/")


def _proxy_url(cluster: _Entry) -> str | None:
    proxy = _string(cluster, "proxy-url")
    if proxy is not None and urlsplit(proxy).scheme not in ("http", "https"):
        raise ApplyError(f"kubeconfig {cluster.path}: proxy-url: only http and https proxies are supported")
    return proxy


def _file_or_data(entry: _Entry, key: str) -> bytes | None:
    """`KEY-data` (base64) if set, else the file `KEY` (relative to the defining kubeconfig), else None."""
    data_key = f"{key}-data"
    data = entry.data.get(data_key)
    if data:
        if not isinstance(data, str):
            raise ApplyError(f"kubeconfig {entry.path}: {data_key}: not a string")
        try:
            return base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            raise ApplyError(f"kubeconfig {entry.path}: {data_key}: not valid base64") from None
    name = _string(entry, key)
    if name is None:
        return None
    path = os.path.join(entry.base, os.path.expanduser(name))
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except OSError as exc:
        cause = "file not found" if isinstance(exc, FileNotFoundError) else f"cannot read ({exc.strerror})"
        raise ApplyError(f"kubeconfig {entry.path}: {key}: {cause}") from None


def _pem(entry: _Entry, key: str, marker: bytes) -> bytes | None:
    value = _file_or_data(entry, key)
    if value is not None and marker not in value:
        raise ApplyError(f"kubeconfig {entry.path}: {key}: not PEM ({marker.decode().strip('-')} expected)")
    return value


def _credentials(user: _Entry, *, tls: bool, user_name: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if tls:
        cert = _pem(user, "client-certificate", b"-----BEGIN CERTIFICATE-----")
        key = _pem(user, "client-key", b"PRIVATE KEY-----")
        if (cert is None) != (key is None):
            have, missing = ("client-certificate", "client-key") if key is None else ("client-key", "client-certificate")
            raise ApplyError(f"kubeconfig {user.path}: {have} without {missing}")
        if cert is not None:
            out["client_cert_data"], out["client_key_data"] = cert, Sensitive(key)
    token_file = _string(user, "tokenFile")
    if token_file is not None:
        out["token_file"] = os.path.join(user.base, os.path.expanduser(token_file))
        read_token(out["token_file"], f"kubeconfig {user.path}: tokenFile")  # checked now; read again as it rotates
    elif user.data.get("token"):
        token = user.data["token"]
        if not isinstance(token, str):
            raise ApplyError(f"kubeconfig {user.path}: token: not a string")
        text = token_text(token.encode(), f"kubeconfig {user.path}: token")
        out["token"] = Sensitive(text)
    username, password = user.data.get("username"), user.data.get("password")
    if username is not None and password is not None:
        if not isinstance(username, str) or not isinstance(password, str):
            raise ApplyError(f"kubeconfig {user.path}: username/password: not strings")
        pair = base64.b64encode(f"{username}:{password}".encode()).decode()
        out["basic"] = Sensitive(f"Basic {pair}")
    provider = user.data.get("auth-provider")
    if provider is not None:
        if not isinstance(provider, dict) or not isinstance(provider.get("name"), str):
            raise ApplyError(f"kubeconfig {user.path}: auth-provider: not a mapping with a name")
        out["auth_provider"] = provider["name"]
    return out


def _exec_extension(cluster: _Entry) -> Any:
    """The cluster's `client.authentication.k8s.io/exec` extension, handed to plugins as `config`."""
    for item in cluster.data.get("extensions") or ():
        if isinstance(item, dict) and item.get("name") == "client.authentication.k8s.io/exec":
            return item.get("extension")
    return None


def _exec(user: _Entry, user_name: str, info: dict[str, Any]) -> ExecConfig:
    data = user.data.get("exec")
    if not isinstance(data, dict):
        raise ApplyError(f"kubeconfig {user.path}: user {user_name!r}: exec: not a mapping")
    config = parse_config(f"kubeconfig {user.path}: user {user_name!r}", data, info)
    command = config.command
    if os.sep in command and not os.path.isabs(command):  # a relative path: relative to the kubeconfig, as client-go
        command = os.path.join(user.base, command)
    return ExecConfig(where=config.where, command=command, api_version=config.api_version, args=config.args,
                      env=config.env, install_hint=config.install_hint, interactive_mode=config.interactive_mode,
                      cluster_info=config.cluster_info)


# --------------------------------------------------------------------------------------------------
# In-cluster


def _in_cluster(environ: Mapping[str, str], sa_dir: str) -> Connection:
    where = f"in-cluster config ({sa_dir})"
    host, port = environ.get("KUBERNETES_SERVICE_HOST", ""), environ.get("KUBERNETES_SERVICE_PORT", "")
    if not host or not port:
        raise ApplyError(f"{where}: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must both be set")
    if ":" in host:
        host = f"[{host}]"

    def read(name: str, required: bool) -> bytes | None:
        try:
            with open(os.path.join(sa_dir, name), "rb") as fh:
                return fh.read()
        except FileNotFoundError:
            if required:
                raise ApplyError(f"{where}: {name}: file not found") from None
            return None
        except OSError as exc:
            raise ApplyError(f"{where}: {name}: cannot read ({exc.strerror})") from None

    token_path = os.path.join(sa_dir, "token")
    token_text(read("token", True) or b"", f"{where}: token")  # checked now; read again as it rotates
    ca = read("ca.crt", True)
    if b"-----BEGIN CERTIFICATE-----" not in (ca or b""):
        raise ApplyError(f"{where}: ca.crt: not PEM (BEGIN CERTIFICATE expected)")
    namespace = (read("namespace", False) or b"").decode(errors="replace").strip() or None
    return Connection(server=f"https://{host}:{port}", source="in-cluster", ca_data=ca, token_file=token_path,
                      namespace=namespace)
