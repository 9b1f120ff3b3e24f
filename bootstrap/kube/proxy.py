"""Which proxy, if any, a request to the API server goes through (pure).

The kubeconfig's `proxy-url` wins; else the environment's, chosen as the `kubernetes` 36 client chose it:
the last set of HTTPS_PROXY, https_proxy, HTTP_PROXY, http_proxy, unless NO_PROXY/no_proxy matches the
server.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from urllib.parse import urlsplit


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
