"""The exec credential plugin protocol (`client.authentication.k8s.io` v1 and v1beta1), as client-go runs it.

A kubeconfig user with an `exec` block (EKS `aws eks get-token`, GKE `gke-gcloud-auth-plugin`, AKS
`kubelogin`, …) names a command whose stdout is an `ExecCredential` holding a bearer token or a client
certificate and key. As in client-go (`plugin/pkg/client/auth/exec`):

- the command gets the kubeconfig's `env` on top of ours, and `KUBERNETES_EXEC_INFO`: an ExecCredential
  whose `spec` says whether it may talk to the user (`interactive`) and, with `provideClusterInfo`, the
  cluster it is for;
- `interactiveMode` (required in v1; v1beta1 defaults to IfAvailable): `Never` never hands it standard
  input, `IfAvailable` does when standard input is a terminal, `Always` refuses to run without one;
- the answer must have the requested apiVersion and a status with a token or both certificate and key;
- the credential is cached until its `expirationTimestamp` (forever without one), and run again after
  the server refuses it (401).

Unlike client-go, the plugin's standard error is captured unless it runs interactively, so that a failure
is the run's one error line: `kubeconfig PATH: user NAME: exec plugin CMD failed (exit N): <its last
line>`, exit code 5. Tokens and keys stay `Sensitive` and never appear in an error.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from bootstrap.errors import ApplyError
from bootstrap.redact import Sensitive

API_VERSIONS = ("client.authentication.k8s.io/v1", "client.authentication.k8s.io/v1beta1")
INTERACTIVE_MODES = ("Never", "IfAvailable", "Always")


@dataclass(frozen=True)
class ExecConfig:
    """A user's `exec` block, checked; `where` names it in errors ("kubeconfig PATH: user NAME")."""

    where: str
    command: str
    api_version: str
    args: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    install_hint: str | None = None
    interactive_mode: str = "IfAvailable"
    cluster_info: Mapping[str, Any] | None = None  # given when provideClusterInfo is true


@dataclass(frozen=True)
class ExecResult:
    """What one run of the plugin returned. The secrets stay wrapped."""

    token: Sensitive | None = None  # str
    client_pair: Sensitive | None = None  # (certificate PEM bytes, key PEM bytes)
    expires: datetime | None = None


def parse_config(where: str, data: Mapping[str, Any], cluster_info: Mapping[str, Any] | None) -> ExecConfig:
    """The `exec` block of a kubeconfig user, checked as client-go checks it."""
    def string(key: str, required: bool = False) -> str | None:
        value = data.get(key)
        if value in (None, "") and not required:
            return None
        if not isinstance(value, str) or not value:
            raise ApplyError(f"{where}: exec.{key}: {'missing' if value in (None, '') else 'not a string'}")
        return value

    api_version = string("apiVersion", required=True)
    if api_version not in API_VERSIONS:
        raise ApplyError(f"{where}: exec.apiVersion: {api_version!r} is not supported (expected one of "
                         f"{', '.join(API_VERSIONS)})")
    mode = string("interactiveMode")
    if mode is None:
        if api_version.endswith("/v1"):
            raise ApplyError(f"{where}: exec.interactiveMode: must be set for {api_version}")
        mode = "IfAvailable"
    if mode not in INTERACTIVE_MODES:
        raise ApplyError(f"{where}: exec.interactiveMode: {mode!r} is not one of {', '.join(INTERACTIVE_MODES)}")
    args = data.get("args") or []
    if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
        raise ApplyError(f"{where}: exec.args: not a list of strings")
    env = []
    for item in data.get("env") or []:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str) or not isinstance(item.get("value"), str):
            raise ApplyError(f"{where}: exec.env: every entry needs a name and a value (strings)")
        env.append((item["name"], item["value"]))
    provide = data.get("provideClusterInfo", False)
    if not isinstance(provide, bool):
        raise ApplyError(f"{where}: exec.provideClusterInfo: not true or false")
    return ExecConfig(where=where, command=string("command", required=True) or "", api_version=api_version,
                      args=tuple(args), env=tuple(env), install_hint=string("installHint"), interactive_mode=mode,
                      cluster_info=cluster_info if provide else None)


def exec_info(config: ExecConfig, *, interactive: bool) -> str:
    """The KUBERNETES_EXEC_INFO value handed to the plugin."""
    spec: dict[str, Any] = {"interactive": interactive}
    if config.cluster_info is not None:
        spec["cluster"] = dict(config.cluster_info)
    return json.dumps({"apiVersion": config.api_version, "kind": "ExecCredential", "spec": spec})


def parse_output(config: ExecConfig, stdout: bytes) -> ExecResult:
    """The ExecCredential the plugin printed, checked as client-go checks it."""
    fail = f"{config.where}: exec plugin {config.command}"
    try:
        doc = json.loads(stdout)
    except ValueError:
        raise ApplyError(f"{fail}: its output is not an ExecCredential (not JSON)") from None
    if not isinstance(doc, dict) or doc.get("kind") != "ExecCredential":
        raise ApplyError(f"{fail}: its output is not an ExecCredential")
    if doc.get("apiVersion") != config.api_version:
        raise ApplyError(f"{fail}: returned apiVersion {doc.get('apiVersion')!r}, {config.api_version} was asked for")
    status = doc.get("status")
    if not isinstance(status, dict):
        raise ApplyError(f"{fail}: returned no status")
    token = status.get("token") or None
    cert, key = status.get("clientCertificateData") or None, status.get("clientKeyData") or None
    if (cert is None) != (key is None):
        raise ApplyError(f"{fail}: returned only one of clientCertificateData and clientKeyData")
    if token is None and cert is None:
        raise ApplyError(f"{fail}: returned neither a token nor a client certificate and key")
    if not all(isinstance(v, str) for v in (token, cert, key) if v is not None):
        raise ApplyError(f"{fail}: returned a token, certificate or key that is not a string")
    expires = None
    if status.get("expirationTimestamp"):
        try:
            expires = datetime.fromisoformat(str(status["expirationTimestamp"]).replace("Z", "+00:00"))
        except ValueError:
            raise ApplyError(f"{fail}: expirationTimestamp is not an RFC 3339 time") from None
        if expires.tzinfo is None:
            expires = expires.replace(tzinfo=timezone.utc)
    pair = Sensitive((cert.encode(), key.encode())) if cert is not None and key is not None else None
    return ExecResult(token=Sensitive(token) if token else None, client_pair=pair, expires=expires)


Runner = Callable[[list[str], Mapping[str, str], bool], "tuple[int, bytes, bytes]"]


def run_process(argv: list[str], env: Mapping[str, str], interactive: bool) -> tuple[int, bytes, bytes]:
    """Run the plugin: (exit code, stdout, stderr). Interactive: our stdin and stderr are its own."""
    proc = subprocess.run(argv, env=dict(env), stdout=subprocess.PIPE, check=False,
                          stdin=None if interactive else subprocess.DEVNULL,
                          stderr=None if interactive else subprocess.PIPE)
    return proc.returncode, proc.stdout, proc.stderr or b""


@dataclass
class ExecCredentials:
    """Credentials from an exec plugin, cached until they expire or the server refuses them.

    `on_client_pair(cert, key)` is called when a run returns a client certificate other than the one
    before (the transport then makes new connections with it). `now` and `run` are for tests.
    """

    config: ExecConfig
    stdin_is_terminal: Callable[[], bool] = field(default=lambda: sys.stdin is not None and sys.stdin.isatty())
    now: Callable[[], datetime] = field(default=lambda: datetime.now(timezone.utc))
    run: Runner = run_process
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    on_client_pair: Callable[[bytes, bytes], None] | None = None
    runs: int = 0  # how many times the plugin ran
    _cached: ExecResult | None = None
    _lock: asyncio.Lock | None = None

    def current(self) -> ExecResult:
        """The credential, running the plugin when there is none or it has expired (blocking)."""
        cached = self._cached
        if cached is not None and (cached.expires is None or self.now() < cached.expires):
            return cached
        fresh = self._fetch()
        previous, self._cached = cached, fresh
        if fresh.client_pair is not None and self.on_client_pair is not None and previous is not None:
            if previous.client_pair is None or previous.client_pair.reveal() != fresh.client_pair.reveal():
                self.on_client_pair(*fresh.client_pair.reveal())
        return fresh

    async def headers(self) -> Mapping[str, str]:
        cached = self._cached
        if cached is None or (cached.expires is not None and self.now() >= cached.expires):
            if self._lock is None:
                self._lock = asyncio.Lock()
            async with self._lock:  # one run at a time, however many requests wait for it
                cached = await asyncio.to_thread(self.current)
        return {"Authorization": f"Bearer {cached.token.reveal()}"} if cached.token is not None else {}

    def expire(self) -> None:
        self._cached = None

    def _fetch(self) -> ExecResult:
        config = self.config
        interactive = self._interactive()
        env = {**self.environ, **dict(config.env), "KUBERNETES_EXEC_INFO": exec_info(config, interactive=interactive)}
        fail = f"{config.where}: exec plugin {config.command}"
        self.runs += 1
        try:
            code, out, err = self.run([config.command, *config.args], env, interactive)
        except FileNotFoundError:
            raise ApplyError(f"{fail}: not found", hint=config.install_hint) from None
        except OSError as exc:
            raise ApplyError(f"{fail}: cannot run ({(exc.strerror or type(exc).__name__).lower()})") from None
        if code != 0:
            last = _last_line(err)
            raise ApplyError(f"{fail} failed (exit {code})" + (f": {last}" if last else ""))
        return parse_output(config, out)

    def _interactive(self) -> bool:
        mode = self.config.interactive_mode
        if mode == "Never":
            return False
        terminal = self.stdin_is_terminal()
        if mode == "Always" and not terminal:
            raise ApplyError(f"{self.config.where}: exec plugin {self.config.command}: interactiveMode is Always "
                             "but standard input is not a terminal")
        return terminal


def _last_line(stderr: bytes, limit: int = 200) -> str:
    lines = [line.strip() for line in stderr.decode("utf-8", "replace").splitlines() if line.strip()]
    if not lines:
        return ""
    text = " ".join(lines[-1].split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def cluster_info(server: str, *, ca_data: bytes | None, insecure: bool, tls_server_name: str | None,
                 proxy_url: str | None, extension: Any = None) -> dict[str, Any]:
    """The `spec.cluster` a plugin with provideClusterInfo gets (client-go's field names)."""
    info: dict[str, Any] = {"server": server}
    if ca_data:
        info["certificate-authority-data"] = base64.b64encode(ca_data).decode()
    if insecure:
        info["insecure-skip-tls-verify"] = True
    if tls_server_name:
        info["tls-server-name"] = tls_server_name
    if proxy_url:
        info["proxy-url"] = proxy_url
    if extension is not None:
        info["config"] = extension
    return info
