"""The Kubernetes edge, in small parts with no run state:

- `client`: `connect()` → `Client` — requests on aiohttp (direct, proxy, credential plugins alike),
  retries (tenacity), credentials (`credentials`, `exec_credential`), TLS (`tls`), proxies (`proxy`);
- `errors`: what can fail and how it is worded;
- `discovery`: which kinds the server serves;
- `objects`: the apply body, query and action rules (pure);
- `apply`: `ResourceManager` — prior versions in, a `ChangeSet` out;
- `wait`: the one wait engine, used by `gates` (CRDs Established, Namespaces Active) and `bootstrap.stages.verify`;
- `keysecret`: the age key Secret Flux reads;
- `cluster`: `Cluster`, the parts built together for one API server.
"""

from bootstrap.kube.apply import ChangeSet, ResourceManager, apply_wave
from bootstrap.kube.client import Client, Response, connect
from bootstrap.kube.cluster import Cluster
from bootstrap.kube.discovery import Discovery
from bootstrap.kube.errors import KubeApiError, TransportError, is_retryable, one_line
from bootstrap.kube.gates import wait_established, wait_namespaces_active
from bootstrap.kube.keysecret import install_key_secret
from bootstrap.kube.objects import FIELD_MANAGER, LAST_APPLIED, ApiResource, ApplyOutcome

__all__ = [
    "FIELD_MANAGER", "LAST_APPLIED", "ApiResource", "ApplyOutcome", "ChangeSet", "Client", "Cluster", "Discovery",
    "KubeApiError", "ResourceManager", "Response", "TransportError", "apply_wave", "connect", "install_key_secret",
    "is_retryable", "one_line", "wait_established", "wait_namespaces_active",
]
