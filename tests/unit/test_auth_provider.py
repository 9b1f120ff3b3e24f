"""The legacy kubeconfig `auth-provider` (AuthProviderCredentials), the one path that runs the `kubernetes`
package: its oidc provider sends the id-token, and refreshes an expired one at the issuer (a real HTTP
server on 127.0.0.1 playing the identity provider). These pin what pyproject's kubernetes range promises."""

from __future__ import annotations

import asyncio
import base64
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from bootstrap.kube.credentials import AuthProviderCredentials


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def id_token(expires_in: int, subject: str) -> str:
    """An (unsigned) JWT: the client reads only its `exp`; the API server would check the signature."""
    return ".".join([_b64({"alg": "RS256", "typ": "JWT"}), _b64({"exp": int(time.time()) + expires_in, "sub": subject}),
                     "c2lnbmF0dXJl"])


def kubeconfig(tmp_path: Path, provider_config: dict) -> Path:
    path = tmp_path / "kubeconfig"
    path.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "c",
        "clusters": [{"name": "k", "cluster": {"server": "https://127.0.0.1:1"}}],
        "users": [{"name": "u", "user": {"auth-provider": {"name": "oidc", "config": provider_config}}}],
        "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u"}}],
    }))
    return path


class Issuer:
    """An OpenID provider: the discovery document and a token endpoint answering refresh grants."""

    def __init__(self, new_token: str):
        self.new_token = new_token
        self.requests: list[tuple[str, str, str]] = []  # (method, path, body)
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _answer(self, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                issuer.requests.append(("GET", self.path, ""))
                self._answer({"issuer": issuer.url, "token_endpoint": f"{issuer.url}/token"})

            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"])).decode()
                issuer.requests.append(("POST", self.path, body))
                self._answer({"access_token": "unused", "token_type": "Bearer", "expires_in": 3600,
                              "id_token": issuer.new_token, "refresh_token": "refresh-2"})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"


@pytest.fixture
def issuer(monkeypatch) -> Iterator[Issuer]:
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")  # oauthlib refuses plain HTTP token endpoints otherwise
    server = Issuer(id_token(3600, "refreshed"))
    thread = threading.Thread(target=server.server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.server.shutdown()
    server.server.server_close()


def headers(creds: AuthProviderCredentials) -> dict[str, str]:
    return {k.lower(): v for k, v in asyncio.run(creds.headers()).items()}


def test_a_valid_oidc_id_token_is_sent_as_it_is(tmp_path):
    token = id_token(3600, "me")
    path = kubeconfig(tmp_path, {"client-id": "cli", "id-token": token, "idp-issuer-url": "http://127.0.0.1:1"})
    assert headers(AuthProviderCredentials(str(path), "c", "kubeconfig K: user 'u'")) == {
        "authorization": f"Bearer {token}"
    }


def test_an_expired_oidc_id_token_is_refreshed_at_the_issuer(tmp_path, issuer):
    old = id_token(-60, "me")
    path = kubeconfig(tmp_path, {"client-id": "cli", "client-secret": "s3cret", "refresh-token": "refresh-1",
                                 "id-token": old, "idp-issuer-url": issuer.url})
    before = path.read_text()
    creds = AuthProviderCredentials(str(path), "c", "kubeconfig K: user 'u'")
    assert headers(creds) == {"authorization": f"Bearer {issuer.new_token}"}
    assert [(m, p) for m, p, _ in issuer.requests] == [("GET", "/.well-known/openid-configuration"), ("POST", "/token")]
    assert "grant_type=refresh_token" in issuer.requests[1][2] and "refresh_token=refresh-1" in issuer.requests[1][2]
    assert path.read_text() == before  # persist_config=False: the kubeconfig is never rewritten

