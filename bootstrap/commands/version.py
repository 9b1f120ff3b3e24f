"""`dr-bootstrap version`: this tool's version and, when a cluster is configured and answers, the API server's.

Like `kubectl version`: `Client Version:` and `Server Version:` lines, or with `-o json|yaml` the document
`{"clientVersion": ..., "serverVersion": ...}`.  A server that cannot be asked (no kubeconfig, unreachable,
refused) leaves `serverVersion` null and one warning with the reason on stderr; `--client` does not ask and
leaves the key out.  The exit code is 0 either way: the versions are information, not a check.
"""

from __future__ import annotations

import os
import sys

from bootstrap import __version__
from bootstrap.report.output import render, warn

TYPE_CHECKING = False  # typing costs start-up; annotations are strings (from __future__)
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import IO


def server_version(kubeconfig: str | None, context: str | None) -> str:
    """gitVersion of the API server the kubeconfig selects; raises a BootstrapError saying why not."""
    from bootstrap.kube import Cluster  # deferred: start-up (only when a kubeconfig exists)

    with Cluster(kubeconfig, context, request_timeout=5.0) as cluster:
        return cluster.server_version()


def no_cluster(kubeconfig: str | None, context: str | None, environ: Mapping[str, str]) -> str | None:
    """Why there is surely no cluster to ask, found without loading the client (it costs a start-up); else None.

    The same test the kubeconfig loader makes first: none of the files exists and this is not a pod.
    """
    spec = kubeconfig or environ.get("KUBECONFIG") or os.path.expanduser("~/.kube/config")
    if any(os.path.isfile(os.path.expanduser(p)) for p in spec.split(os.pathsep) if p):
        return None
    if "KUBERNETES_SERVICE_HOST" in environ and context is None:
        return None
    return f"kubeconfig {spec}: file not found (pass --kubeconfig or set KUBECONFIG)"


def run_version(output: str = "human", kubeconfig: str | None = None, context: str | None = None,
                client: bool = False, *, stdout: IO[str] | None = None, stderr: IO[str] | None = None,
                environ: Mapping[str, str] = os.environ) -> int:
    stdout, stderr = stdout or sys.stdout, stderr or sys.stderr
    doc: dict[str, str | None] = {"clientVersion": __version__}
    if not client:
        server, reason = None, no_cluster(kubeconfig, context, environ)
        if reason is None:
            from bootstrap.errors import BootstrapError  # deferred: start-up (only with a kubeconfig)

            try:
                server = server_version(kubeconfig, context)
            except BootstrapError as err:
                reason = str(err)
        if reason:
            warn(f"server version unknown: {reason}", stderr)
        doc["serverVersion"] = server
    if output == "human":
        text = f"Client Version: {__version__}"
        if doc.get("serverVersion"):
            text += f"\nServer Version: {doc['serverVersion']}"
    else:
        text = render(doc, output)
    stdout.write(text + "\n")
    stdout.flush()
    return 0
