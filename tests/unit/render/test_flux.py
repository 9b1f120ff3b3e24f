"""render.flux: Flux Kustomizations as found in a rendered set, the source choice, selection and order."""

from __future__ import annotations

import pytest

from bootstrap.errors import ExitCode, UsageError, ValidationError
from bootstrap.engines.flux.kustomizations import (
    Key,
    SourceRef,
    choose_source,
    find,
    is_flux_kustomization,
    normalize_path,
    ordered,
    parse,
    parse_selection,
)


def ks(name: str, path: str = "./apps", *, ns: str = "flux-system", depends=(), source="flux-system",
       kind="GitRepository", **spec) -> dict:
    body = {"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
            "metadata": {"name": name, "namespace": ns},
            "spec": {"path": path, "sourceRef": {"kind": kind, "name": source}, **spec}}
    if depends:
        body["spec"]["dependsOn"] = [{"name": d} if "/" not in d else {"namespace": d.split("/")[0], "name": d.split("/")[1]}
                                     for d in depends]
    return body


def known(*bodies) -> dict:
    out = {}
    for body in bodies:
        k = parse(body, "clusters/prod/ks.yaml")
        out[k.key] = k
    return out


def test_parse_reads_path_source_dependencies_and_decryption():
    k = parse(ks("apps", "./apps/prod/", depends=["infra", "other/db"],
                 decryption={"provider": "sops", "secretRef": {"name": "sops-age"}}), "f.yaml")
    assert k.key == Key("flux-system", "apps") and k.path == "apps/prod"
    assert k.source == SourceRef("GitRepository", "flux-system", "flux-system")
    assert k.depends_on == (Key("flux-system", "infra"), Key("other", "db"))
    assert k.decrypts and k.decryption_secret == "sops-age"
    assert not parse(ks("x", decryption={"provider": "vault"}), "f").decrypts


@pytest.mark.parametrize("raw, path", [("./", ""), ("", ""), (None, ""), (".", ""), ("./a/../b", "b"),
                                       ("../../etc", "etc"), ("/clusters/prod", "clusters/prod")])
def test_spec_path_never_leaves_the_repository(raw, path):
    assert normalize_path(raw, "x") == path


def test_is_flux_kustomization_tells_it_from_kustomize_s_own():
    assert is_flux_kustomization(ks("a"))
    assert not is_flux_kustomization({"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization"})


def test_source_choice():
    entry = [parse(ks("a", source="home-kubernetes"), "f"), parse(ks("b", source="home-kubernetes"), "f")]
    assert choose_source(None, entry).ref == SourceRef("GitRepository", "flux-system", "home-kubernetes")
    assert choose_source("git/repo", entry).ref == SourceRef("GitRepository", "git", "repo")
    two = entry + [parse(ks("c", source="other"), "f")]
    assert choose_source(None, two).ref.name == "flux-system"
    assert "2 GitRepositories" in choose_source(None, two).why
    assert choose_source(None, []).ref.name == "flux-system"
    with pytest.raises(UsageError):
        choose_source("a/b/c", entry)


def test_selection_syntax():
    assert parse_selection(["apps,infra", "flux-system/db"]) == (False, [(None, "apps"), (None, "infra"),
                                                                         ("flux-system", "db")])
    assert parse_selection(["all"])[0] is True
    with pytest.raises(UsageError) as exc:
        parse_selection(["a/b/c"])
    assert exc.value.exit_code == ExitCode.USAGE


def test_find_is_ambiguous_across_namespaces():
    both = known(ks("apps"), ks("apps", ns="team"))
    assert find(both, "team", "apps").key == Key("team", "apps")
    with pytest.raises(UsageError, match="ambiguous"):
        find(both, None, "apps")


def test_ordered_follows_depends_on_and_brings_the_closure():
    tree = known(ks("apps", depends=["infra-configs"]), ks("infra-configs", depends=["infra-controllers"]),
                 ks("infra-controllers"), ks("unrelated"))
    assert [k.key.name for k in ordered([Key("flux-system", "apps")], tree)] == [
        "infra-controllers", "infra-configs", "apps"]


def test_ordered_keeps_discovery_order_where_free():
    tree = known(ks("b"), ks("a"), ks("c", depends=["a"]))
    assert [k.key.name for k in ordered(list(tree), tree)] == ["b", "a", "c"]


def test_a_cycle_is_named():
    tree = known(ks("a", depends=["b"]), ks("b", depends=["c"]), ks("c", depends=["a"]))
    with pytest.raises(ValidationError, match=r"dependsOn cycle: flux-system/a -> flux-system/b -> "
                                              r"flux-system/c -> flux-system/a"):
        ordered([Key("flux-system", "a")], tree)


def test_an_unknown_dependency_is_named():
    tree = known(ks("apps", depends=["nowhere"]))
    with pytest.raises(ValidationError, match="flux-system/apps .* depends on flux-system/nowhere"):
        ordered([Key("flux-system", "apps")], tree)


def test_a_child_comes_after_the_kustomization_that_renders_it():
    # Discovery can meet the child first (a parallel build); its parent must still be applied before it,
    # and selecting the child alone brings the parent (Flux cannot reconcile an object nobody created).
    parent = parse(ks("cluster-apps", "./kubernetes/apps"), "clusters/main/ks.yaml")
    child = parse(ks("cert-manager", "./kubernetes/apps/cert-manager/app"), "kubernetes/apps/cert-manager/ks.yaml",
                  parent.key)
    tree = {child.key: child, parent.key: parent}
    assert [k.key.name for k in ordered([child.key], tree)] == ["cluster-apps", "cert-manager"]
    assert child.after == (parent.key,)
    assert parse(ks("self"), "f", Key("flux-system", "self")).after == ()
