"""How each request proves who it is: the Authorization header a kubeconfig user calls for.

- `StaticCredentials`: a token or username/password from the kubeconfig.
- `TokenFileCredentials`: `tokenFile` (and the in-cluster service account token), read again once the
  last read is a minute old, as client-go does (`NewCachedFileTokenSource`), so rotated tokens are
  picked up; if a re-read fails, the last token read is kept. A 401 makes the next request read it again.
- `ExecCredentials` (`bootstrap.kube.exec_credential`): a credential plugin.
- `AuthProviderCredentials`: the legacy `auth-provider` (oidc, and the gcp/azure providers kubectl
  dropped in 1.26), through the `kubernetes` package, the one place that package is still imported.

Each has `async headers()`, called for every request (cheap unless a credential must be fetched), and
`expire()`, called when the server answered 401.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from typing import Protocol

from bootstrap.errors import ApplyError
from bootstrap.redact import Sensitive

TOKEN_FILE_PERIOD = 60.0  # client-go re-reads a token file once its last read is this old
_TOKEN_FILE_LEEWAY = 10.0  # … less its caching token source's leeway


class Credentials(Protocol):
    async def headers(self) -> Mapping[str, str]: ...

    def expire(self) -> None: ...


class StaticCredentials:
    """A header fixed in the kubeconfig (or none)."""

    def __init__(self, authorization: Sensitive | None = None):
        self._headers = {"Authorization": authorization.reveal()} if authorization is not None else {}

    async def headers(self) -> Mapping[str, str]:
        return self._headers

    def expire(self) -> None:
        pass


def read_token(path: str, where: str) -> str:
    """A token file's token as an HTTP header value; ApplyError (naming `where`) if unreadable or bad."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
    except OSError as exc:
        cause = "file not found" if isinstance(exc, FileNotFoundError) else f"cannot read ({exc.strerror})"
        raise ApplyError(f"{where}: {cause}") from None
    return token_text(raw, where)


def token_text(raw: bytes, where: str) -> str:
    """A token as an HTTP header value: surrounding whitespace dropped, no control characters inside."""
    try:
        text = raw.decode().strip()
    except UnicodeDecodeError:
        raise ApplyError(f"{where}: not UTF-8 text") from None
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in text):
        raise ApplyError(f"{where}: contains control characters")
    if not text:
        raise ApplyError(f"{where}: file is empty")
    return text


class TokenFileCredentials:
    """A bearer token read from `path`, read again when the last read is TOKEN_FILE_PERIOD old (less leeway)."""

    def __init__(self, path: str, where: str, *, now: Callable[[], float] = time.monotonic):
        self.path = path
        self.where = where
        self._now = now
        self._token = read_token(path, where)  # the first read must work: a run never starts unauthenticated
        self._read_at = now()
        self.reads = 1

    async def headers(self) -> Mapping[str, str]:
        if self._now() - self._read_at >= TOKEN_FILE_PERIOD - _TOKEN_FILE_LEEWAY:
            self._reread()
        return {"Authorization": f"Bearer {self._token}"}

    def _reread(self) -> None:
        self._read_at = self._now()
        self.reads += 1
        try:
            self._token = read_token(self.path, self.where)
        except ApplyError:
            pass  # as client-go: keep the last token read; the server will say if it no longer works

    def expire(self) -> None:
        self._read_at = float("-inf")


class AuthProviderCredentials:
    """The legacy `auth-provider`, through the `kubernetes` package: it fetches and refreshes the token."""

    def __init__(self, kubeconfig: str, context: str, where: str):
        from kubernetes import client, config  # deferred: optional (slow to import: only this path needs it)

        cfg = client.Configuration()
        try:
            config.load_kube_config(config_file=kubeconfig, context=context, client_configuration=cfg,
                                    persist_config=False)
        except Exception as exc:  # ConfigException, a failing provider
            text = " ".join((str(exc) or type(exc).__name__).split())[:200]
            raise ApplyError(f"{where}: auth-provider: {text}") from None
        self._cfg = cfg

    async def headers(self) -> Mapping[str, str]:
        settings = await asyncio.to_thread(self._cfg.auth_settings)  # may refresh the token over the network
        return {auth["key"]: auth["value"] for auth in settings.values() if auth["in"] == "header" and auth["value"]}

    def expire(self) -> None:
        pass
