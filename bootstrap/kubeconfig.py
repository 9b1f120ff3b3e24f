"""Kubeconfig loading without the `kubernetes` package: kubectl's merge rules, one `Connection`, one TLS pool.

`load` covers what real kubeconfigs use day to day — server, CA (file or data), insecure-skip-tls-verify,
tls-server-name, proxy-url, client certificate and key (file or data), token, tokenFile, basic auth — and
the in-cluster service account.  A user that authenticates through a credential plugin (`exec`,
`auth-provider`) raises `NeedsClientLibrary`: the caller then loads that kubeconfig with the `kubernetes`
package, which runs the plugin and refreshes its credentials.

Secrets hygiene: private keys, tokens and passwords stay wrapped in `Sensitive`; the client key is handed
to OpenSSL through an in-memory file (`memfd`) on Linux, never through the file system.  Errors are one
line, `kubeconfig PATH: FIELD: cause`, and never quote a value.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import os
import ssl
import tempfile
from dataclasses import dataclass
from typing import Any, Mapping
from urllib.parse import urlsplit

from bootstrap.errors import ApplyError
from bootstrap.redact import Sensitive

SERVICEACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
CREDENTIAL_PLUGINS = ("exec", "auth-provider")


@dataclass(frozen=True, kw_only=True)
class Connection:
    """Everything needed to reach and authenticate to one API server. Secrets are `Sensitive`."""

    server: str  # scheme://host[:port][/path], no trailing slash
    source: str  # "kubeconfig PATH context NAME" or "in-cluster"
    ca_data: bytes | None = None  # PEM; None → the system's trust store
    insecure: bool = False
    tls_server_name: str | None = None
    proxy_url: str | None = None
    client_cert_data: bytes | None = None  # PEM (a certificate is public)
    client_key_data: Sensitive | None = None  # PEM bytes
    token: Sensitive | None = None  # str
    basic: Sensitive | None = None  # the whole `Basic ...` header value
    namespace: str | None = None

    def auth_headers(self) -> dict[str, str]:
        """The Authorization header this connection sends (a token wins over basic auth, as in kubectl)."""
        if self.token is not None:
            return {"Authorization": f"Bearer {self.token.reveal()}"}
        if self.basic is not None:
            return {"Authorization": self.basic.reveal()}
        return {}


class NeedsClientLibrary(Exception):
    """The selected user authenticates through a credential plugin (exec / auth-provider).

    `context` is the context `load` selected: hand it to the client library, whose own choice of
    current-context among several files differs from kubectl's.
    """

    def __init__(self, message: str, *, context: str):
        super().__init__(message)
        self.context = context


# --------------------------------------------------------------------------------------------------
# Public entry points


def default_path(environ: Mapping[str, str] = os.environ) -> str:
    """$KUBECONFIG, else ~/.kube/config (kubectl's default)."""
    return environ.get("KUBECONFIG") or os.path.expanduser("~/.kube/config")


def load(kubeconfig: str | None, context: str | None, *, environ: Mapping[str, str] = os.environ,
         serviceaccount_dir: str = SERVICEACCOUNT_DIR) -> Connection:
    """The connection `kubectl --kubeconfig KUBECONFIG --context CONTEXT` would use.

    Raises ApplyError for anything missing or malformed, NeedsClientLibrary for credential plugins.
    """
    spec = kubeconfig or default_path(environ)
    selected = _select(spec, context, environ)
    if selected is None:
        return _in_cluster(environ, serviceaccount_dir)
    name, ctx, cluster, user = selected
    if user is not None and any(key in user.data for key in CREDENTIAL_PLUGINS):
        raise NeedsClientLibrary(f"kubeconfig {user.path}: user of context {name!r} uses a credential plugin",
                                 context=name)
    server = _server(cluster)
    https = server.startswith("https://")
    conn: dict[str, Any] = {
        "server": server,
        "source": f"kubeconfig {spec} context {name}",
        "namespace": _string(ctx, "namespace"),
        "insecure": _bool(cluster, "insecure-skip-tls-verify"),
        "tls_server_name": _string(cluster, "tls-server-name"),
        "proxy_url": _proxy_url(cluster),
    }
    if https:
        conn["ca_data"] = _pem(cluster, "certificate-authority", b"-----BEGIN CERTIFICATE-----")
    if user is not None:
        conn.update(_credentials(user, tls=https))
    return Connection(**conn)


def ssl_context(conn: Connection) -> ssl.SSLContext:
    """A client TLS context for `conn`: its CA (or the system's), its client certificate, no key on disk."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        if conn.insecure:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        elif conn.ca_data:
            ctx.load_verify_locations(cadata=conn.ca_data.decode("ascii", "replace"))
        else:
            ctx.load_default_certs()
    except ssl.SSLError as exc:
        raise ApplyError(f"{conn.source}: certificate-authority: not usable ({_ssl_reason(exc)})") from None
    if conn.client_cert_data is not None and conn.client_key_data is not None:
        _load_client_pair(ctx, conn.client_cert_data, conn.client_key_data.reveal(), conn.source)
    return ctx


def pool_manager(conn: Connection, *, maxsize: int, environ: Mapping[str, str] = os.environ):
    """A urllib3 PoolManager (ProxyManager behind a proxy) for `conn`.

    The proxy is the kubeconfig's `proxy-url`, else the environment's, exactly as the `kubernetes` 36 client
    chose it: the last set of HTTPS_PROXY, https_proxy, HTTP_PROXY, http_proxy, unless NO_PROXY/no_proxy
    matches the server.
    """
    import urllib3  # the caller imports it anyway; kept local so this module's import stays light

    kwargs: dict[str, Any] = {"num_pools": 4, "maxsize": maxsize}
    if conn.server.startswith("https://"):
        kwargs["ssl_context"] = ssl_context(conn)
        kwargs["cert_reqs"] = "CERT_NONE" if conn.insecure else "CERT_REQUIRED"
        if conn.tls_server_name:
            kwargs["server_hostname"] = conn.tls_server_name
    proxy = conn.proxy_url or env_proxy(conn.server, environ)
    if proxy:
        return urllib3.ProxyManager(proxy, **kwargs)
    return urllib3.PoolManager(**kwargs)


def env_proxy(server: str, environ: Mapping[str, str] = os.environ) -> str | None:
    """The proxy the `kubernetes` 36 client took from the environment for `server`, or None."""
    proxy = None
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):  # later ones win, as in the client
        proxy = environ.get(name) or proxy
    if not proxy:
        return None
    no_proxy = environ.get("no_proxy") or environ.get("NO_PROXY") or ""
    return None if bypasses_proxy(server, no_proxy) else proxy


def bypasses_proxy(url: str, no_proxy: str) -> bool:
    """Whether NO_PROXY exempts `url`: `*`, an IPv4 address or CIDR, or a host (or host:port) suffix."""
    entries = [entry.strip().lower() for entry in no_proxy.split(",") if entry.strip()]
    if "*" in entries:
        return True
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if not host:
        return True
    host_port = f"{host}:{parts.port}" if parts.port else host
    try:
        address = ipaddress.IPv4Address(host)
    except ValueError:
        address = None
    for entry in entries:
        if address is not None and "/" in entry:
            try:
                if address in ipaddress.IPv4Network(entry, strict=False):
                    return True
            except ValueError:
                pass
            continue
        bare = entry.lstrip(".")
        if host in (entry, bare) or host_port in (entry, bare):
            return True
        if address is None and (host.endswith(entry) or host_port.endswith(entry)):
            return True
    return False


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
    import yaml  # already loaded by the time a run connects; kept local for cheap imports of this module

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


def _file_or_data(entry: _Entry, key: str, *, base64_data: bool = True) -> bytes | None:
    """`KEY-data` (base64) if set, else the file `KEY` (relative to the defining kubeconfig), else None."""
    data_key = f"{key}-data" if base64_data else key
    data = entry.data.get(data_key)
    if data:
        if not isinstance(data, str):
            raise ApplyError(f"kubeconfig {entry.path}: {data_key}: not a string")
        if not base64_data:
            return data.encode()
        try:
            return base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            raise ApplyError(f"kubeconfig {entry.path}: {data_key}: not valid base64") from None
    file_key = key if base64_data else f"{key}File"
    name = _string(entry, file_key)
    if name is None:
        return None
    path = os.path.join(entry.base, os.path.expanduser(name))
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except OSError as exc:
        cause = "file not found" if isinstance(exc, FileNotFoundError) else f"cannot read ({exc.strerror})"
        raise ApplyError(f"kubeconfig {entry.path}: {file_key}: {cause}") from None


def _pem(entry: _Entry, key: str, marker: bytes) -> bytes | None:
    value = _file_or_data(entry, key)
    if value is not None and marker not in value:
        raise ApplyError(f"kubeconfig {entry.path}: {key}: not PEM ({marker.decode().strip('-')} expected)")
    return value


def _credentials(user: _Entry, *, tls: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if tls:
        cert = _pem(user, "client-certificate", b"-----BEGIN CERTIFICATE-----")
        key = _pem(user, "client-key", b"PRIVATE KEY-----")
        if (cert is None) != (key is None):
            have, missing = ("client-certificate", "client-key") if key is None else ("client-key", "client-certificate")
            raise ApplyError(f"kubeconfig {user.path}: {have} without {missing}")
        if cert is not None:
            out["client_cert_data"], out["client_key_data"] = cert, Sensitive(key)
    token = _file_or_data(user, "token", base64_data=False)
    if token is not None:
        field = "token" if user.data.get("token") else "tokenFile"
        text = _token_text(token, f"kubeconfig {user.path}", field)
        if text:
            out["token"] = Sensitive(text)
    username, password = user.data.get("username"), user.data.get("password")
    if username is not None and password is not None:
        if not isinstance(username, str) or not isinstance(password, str):
            raise ApplyError(f"kubeconfig {user.path}: username/password: not strings")
        pair = base64.b64encode(f"{username}:{password}".encode()).decode()
        out["basic"] = Sensitive(f"Basic {pair}")
    return out


def _token_text(raw: bytes, where: str, field: str) -> str:
    """A token as an HTTP header value: surrounding whitespace dropped, no control characters inside."""
    try:
        text = raw.decode().strip()
    except UnicodeDecodeError:
        raise ApplyError(f"{where}: {field}: not UTF-8 text") from None
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in text):
        raise ApplyError(f"{where}: {field}: contains control characters")
    return text


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

    token = _token_text(read("token", True) or b"", where, "token")
    if not token:
        raise ApplyError(f"{where}: token: file is empty")
    ca = read("ca.crt", True)
    if b"-----BEGIN CERTIFICATE-----" not in (ca or b""):
        raise ApplyError(f"{where}: ca.crt: not PEM (BEGIN CERTIFICATE expected)")
    namespace = (read("namespace", False) or b"").decode(errors="replace").strip() or None
    return Connection(server=f"https://{host}:{port}", source="in-cluster", ca_data=ca, token=Sensitive(token),
                      namespace=namespace)


# --------------------------------------------------------------------------------------------------
# TLS material


class _EncryptedKey(Exception):
    pass


def _refuse_password() -> bytes:
    raise _EncryptedKey


def _load_client_pair(ctx: ssl.SSLContext, cert: bytes, key: bytes, source: str) -> None:
    """load_cert_chain from memory: a memfd on Linux, else a 0600 temp file removed right after loading."""
    pem = cert.rstrip(b"\n") + b"\n" + key
    try:
        if hasattr(os, "memfd_create") and os.path.isdir("/proc/self/fd"):
            fd = os.memfd_create("dr-bootstrap-client-cert", os.MFD_CLOEXEC)
            try:
                _write_all(fd, pem)
                ctx.load_cert_chain(f"/proc/self/fd/{fd}", password=_refuse_password)
            finally:
                os.close(fd)
        else:  # pragma: no cover - non-Linux
            fd, path = tempfile.mkstemp(prefix="dr-bootstrap-", suffix=".pem")  # mode 0600
            try:
                _write_all(fd, pem)
                os.close(fd)
                fd = -1
                ctx.load_cert_chain(path, password=_refuse_password)
            finally:
                if fd >= 0:
                    os.close(fd)
                os.unlink(path)
    except _EncryptedKey:
        raise ApplyError(f"{source}: client-key: encrypted private keys are not supported") from None
    except ssl.SSLError as exc:
        raise ApplyError(f"{source}: client-certificate/client-key: not usable ({_ssl_reason(exc)})") from None


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _ssl_reason(exc: ssl.SSLError) -> str:
    return str(exc.reason or exc.strerror or type(exc).__name__).lower().replace("_", " ")
