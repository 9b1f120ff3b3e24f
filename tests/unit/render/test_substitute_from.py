"""engines.flux.substitute_from: where substituteFrom finds its objects (supplied, restored set, cluster), which
ExternalSecret would make a missing one, and what the run says about each supplied object."""

from __future__ import annotations

import pytest

from bootstrap.engines.base import Supplied
from bootstrap.engines.flux import substitute_from as sources
from bootstrap.engines.flux.postbuild import variables
from bootstrap.errors import ValidationError
from bootstrap.manifests import ref_of
from bootstrap.model import Manifest


def external_secret(name="cluster-secrets", namespace="flux-system", api="external-secrets.io/v1", **spec):
    meta = {"name": name, **({"namespace": namespace} if namespace else {})}
    return {"apiVersion": api, "kind": "ExternalSecret", "metadata": meta, "spec": spec}


def secret(name, namespace, **string_data):
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": namespace},
            "stringData": string_data}


def manifest(body):
    return Manifest(ref=ref_of(body), body=body, source="x.yaml")


STORE = {"secretStoreRef": {"kind": "ClusterSecretStore", "name": "onepassword"}}


def test_the_target_defaults_to_the_external_secret_s_own_name():
    made = sources.producers([external_secret(**STORE)])
    assert made("Secret", "flux-system", "cluster-secrets") == \
        "ExternalSecret flux-system/cluster-secrets (store onepassword)"
    assert made("ConfigMap", "flux-system", "cluster-secrets") is None  # External Secrets makes Secrets
    assert made("Secret", "apps", "cluster-secrets") is None  # same namespace only


def test_a_target_name_and_a_store_named_per_data_source():
    body = external_secret("from-bitwarden", target={"name": "cluster-secrets"},
                           data=[{"secretKey": "a", "remoteRef": {"key": "a"},
                                  "sourceRef": {"storeRef": {"name": "bitwarden"}}}])
    made = sources.producers([body])
    assert made("Secret", "flux-system", "cluster-secrets") == \
        "ExternalSecret flux-system/from-bitwarden (store bitwarden)"
    assert made("Secret", "flux-system", "from-bitwarden") is None


def test_other_kinds_and_groups_make_nothing_and_no_namespace_is_default():
    made = sources.producers([external_secret(api="example.com/v1", **STORE),
                              {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "x"}},
                              external_secret("plain", namespace=None)])
    assert made("Secret", "flux-system", "cluster-secrets") is None
    assert made("Secret", "default", "plain") == "ExternalSecret default/plain"


def test_variables_name_the_producer_and_skip_an_optional_source():
    spec = {"postBuild": {"substituteFrom": [{"kind": "ConfigMap", "name": "gone", "optional": True},
                                             {"kind": "Secret", "name": "cluster-secrets"}]}}
    made = sources.producers([external_secret(**STORE)])
    with pytest.raises(ValidationError) as exc:
        variables(spec, "flux-system", lambda *a: None, "Kustomization flux-system/apps", made)
    assert str(exc.value) == (
        "Kustomization flux-system/apps: substitute from 'Secret/cluster-secrets': Secret "
        "flux-system/cluster-secrets comes from ExternalSecret flux-system/cluster-secrets (store onepassword); "
        "supply it with --substitute-from FILE")


def test_supplied_comes_first_then_the_latest_phase_then_the_cluster():
    given = Supplied("Secret", "flux-system", "s", "f.yaml", secret("s", "flux-system", V="supplied"))
    phases = [[manifest(secret("s", "flux-system", V="first")), manifest(secret("t", "flux-system", V="first"))],
              [manifest(secret("t", "flux-system", V="second"))]]
    asked, learned, used = [], [], []

    def cluster(kind, namespace, name):
        asked.append(name)
        return {"V": "cluster"}

    read = sources.lookup(phases, cluster, [given], learned.extend, used.append)
    assert read("Secret", "flux-system", "s") == {"V": "supplied"} and used == [given]
    assert read("Secret", "flux-system", "t") == {"V": "second"}
    assert asked == [] and read("Secret", "flux-system", "u") == {"V": "cluster"} and learned == ["cluster"]
    assert read("ConfigMap", "flux-system", "s") == {"V": "cluster"}  # kind matters


def test_notes_say_what_became_of_each_supplied_object():
    read = Supplied("Secret", "flux-system", "s", "a.yaml", secret("s", "flux-system"))
    unread = Supplied("ConfigMap", "apps", "c", "b.yaml", {"apiVersion": "v1", "kind": "ConfigMap"})
    phases = [[manifest(secret("s", "flux-system", V="repo"))]]
    assert sources.supplied_notes([read, unread], {read}, phases) == [
        "Secret flux-system/s from --substitute-from a.yaml: read by substituteFrom, not applied; the restored "
        "set holds it too and applies the repository's copy",
        "ConfigMap apps/c from --substitute-from b.yaml: no restored Kustomization reads it",
    ]
