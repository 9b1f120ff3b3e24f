"""The key Secret Flux reads: the age key installed as `NAMESPACE/NAME`, `data[KEY]`."""

from __future__ import annotations

import base64

from bootstrap.errors import UsageError
from bootstrap.kube.apply import ResourceManager
from bootstrap.kube.gates import wait_namespaces_active
from bootstrap.kube.objects import FIELD_MANAGER, ApplyOutcome, ref_of
from bootstrap.kube.reads import get
from bootstrap.model import ObjectRef
from bootstrap.redact import Sensitive


def install_key_secret(manager: ResourceManager, namespace: str, name: str, key: str, material: Sensitive, *,
                       dry_run: bool = False, allow_any_key: bool = False, timeout: float = 60.0) -> ApplyOutcome:
    """Install the age key as Secret `namespace/name` (type Opaque, `data[key]`), creating the namespace.

    Flux's kustomize-controller only imports Secret entries whose key ends in `.agekey`; any other key
    is refused (UsageError) unless `allow_any_key`. A re-run reports the Secret `unchanged`.
    """
    if not key.endswith(".agekey") and not allow_any_key:
        raise UsageError(f"key Secret data key {key!r} does not end in '.agekey': Flux only reads age keys "
                         "from entries named *.agekey (e.g. age.agekey)")
    raw = material.reveal()
    encoded = base64.b64encode(raw.encode() if isinstance(raw, str) else bytes(raw)).decode()
    secret = {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
              "metadata": {"name": name, "namespace": namespace,
                           "labels": {"app.kubernetes.io/managed-by": FIELD_MANAGER}},
              "data": {key: encoded}}
    client = manager.client
    if dry_run:
        started = client.now()
        if client.run(get(client, manager.discovery, ObjectRef("v1", "Namespace", None, namespace))) is None:
            manager.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}, dry_run=True)
            return ApplyOutcome(ref_of(secret), "dry-run", client.now() - started,
                                f"namespace {namespace} would be created")
        return manager.apply(secret, dry_run=True, sensitive=True)
    wait_namespaces_active(manager, [namespace], timeout)
    prior = manager.read_versions([ref_of(secret)])
    return manager.apply(secret, prior_rv=prior.get(ref_of(secret)), sensitive=True)
