"""The client's TLS context: the kubeconfig's CA (or the system's), its client certificate, no key on disk.

The client key reaches OpenSSL through an in-memory file (`memfd`) on Linux, never the file system;
elsewhere through a 0600 temporary file removed right after loading.  Errors are one line naming the
kubeconfig source and never quote key material.
"""

from __future__ import annotations

import os
import ssl
import tempfile

from bootstrap.errors import ApplyError


def client_context(*, source: str, ca_data: bytes | None, insecure: bool,
                   client_pair: tuple[bytes, bytes] | None) -> ssl.SSLContext:
    """A TLS 1.2+ client context: `ca_data` (PEM) or the system's trust store, and the client pair if any."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        if insecure:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        elif ca_data:
            ctx.load_verify_locations(cadata=ca_data.decode("ascii", "replace"))
        else:
            ctx.load_default_certs()
    except ssl.SSLError as exc:
        raise ApplyError(f"{source}: certificate-authority: not usable ({_ssl_reason(exc)})") from None
    if client_pair is not None:
        _load_client_pair(ctx, *client_pair, source)
    return ctx


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
