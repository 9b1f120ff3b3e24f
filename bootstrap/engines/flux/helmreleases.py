"""Flux HelmReleases to install with Helm before Flux runs (`--helm`, a playbook's `helmReleases`): found in
the rendered set, each resolved to its chart from the set alone, in dependsOn order (pure: no cluster, no chart
pulled). The releases are the repository's own HelmRelease objects, as cluster-template's helmfile reads them.

helm-controller's rules, as its API and reconciler state them (api/v2 HelmRelease GetReleaseName,
GetReleaseNamespace, GetStorageNamespace; internal/release ShortenName; the source lookup of the reconciler):
- the release name is spec.releaseName, else `<targetNamespace>-<name>` when a targetNamespace is set, else the
  name; Helm gets it shortened when it is longer than 53 characters (its first 40, a dash, and the first 12
  hex digits of the SHA-256 of the whole name);
- the release's namespace is spec.targetNamespace, else the HelmRelease's; its storage spec.storageNamespace,
  else the HelmRelease's;
- the chart comes from exactly one of spec.chartRef (OCIRepository, HelmChart, ExternalArtifact) and spec.chart
  (a template whose sourceRef is a HelmRepository, GitRepository or Bucket); a reference without a namespace
  is in the HelmRelease's namespace; so is a dependsOn entry without one.
source-controller's: an OCIRepository's ref is its digest, else its semver, else its tag, else `latest`; a
chart template's version defaults to `*`. Only OCIRepository and HelmRepository (`oci://` or https) charts
are supported here; the others are refused, naming the object.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

from bootstrap import toposort
from bootstrap.engines.base import HelmInstall, Rendered, ValuesFrom
from bootstrap.errors import UsageError, ValidationError
from bootstrap.model import Manifest

HELM_GROUP = "helm.toolkit.fluxcd.io"
SOURCE_GROUP = "source.toolkit.fluxcd.io"
SUPPORTED_SOURCES = ("OCIRepository", "HelmRepository")
MAX_RELEASE_NAME = 53  # Helm's limit; helm-controller shortens a longer one
SHOWN_FOUND = 20


def release_name(name: str, namespace: str, spec: Mapping[str, Any]) -> str:
    """The name Helm stores the release under (helm-controller's default and shortening)."""
    wanted = spec.get("releaseName") or (f"{spec['targetNamespace']}-{name}" if spec.get("targetNamespace") else name)
    wanted = str(wanted)
    if len(wanted) <= MAX_RELEASE_NAME:
        return wanted
    digest = hashlib.sha256(wanted.encode()).hexdigest()[:12]
    return f"{wanted[:MAX_RELEASE_NAME - len(digest) - 1]}-{digest}"


def key_of(m: Manifest) -> str:
    return f"{m.ref.namespace or 'default'}/{m.ref.name}"


def helm_releases(rendered: Rendered, names: Sequence[str]) -> list[HelmInstall]:
    """The HelmReleases `names` (`namespace/name`) of the rendered set, resolved and in install order."""
    releases: dict[str, Manifest] = {}
    sources: dict[tuple[str, str], Manifest] = {}
    for m in rendered.manifests:  # a later phase's object replaces an earlier one, as its apply would
        if m.ref.group == HELM_GROUP and m.ref.kind == "HelmRelease":
            releases[key_of(m)] = m
        elif m.ref.group == SOURCE_GROUP:
            sources[(m.ref.kind, key_of(m))] = m
    wanted = list(dict.fromkeys(names))
    for name in wanted:
        if name not in releases:
            found = sorted(releases)
            listed = ", ".join(found[:SHOWN_FOUND]) + (f" and {len(found) - SHOWN_FOUND} more"
                                                        if len(found) > SHOWN_FOUND else "")
            raise UsageError(
                f"HelmRelease {name} (to install before the phases) is not in what this restore renders "
                f"(HelmReleases found: {listed or 'none'})",
                hint="restore the --path or --kustomization that holds it, or name one of those found")
    installs = {name: install(releases[name], sources) for name in wanted}
    try:
        order = toposort.order(wanted, lambda name: [d for d in installs[name].depends_on if d in installs])
    except toposort.Cycle as cycle:
        raise ValidationError(f"HelmRelease dependsOn cycle among the releases to install: {cycle.render()}") from None
    return [installs[name] for name in order]


def install(m: Manifest, sources: Mapping[tuple[str, str], Manifest]) -> HelmInstall:
    """One HelmRelease as Helm would install it; ValidationError naming its file for what cannot be told."""
    namespace, name = m.ref.namespace or "default", m.ref.name
    where = f"{m.source}: HelmRelease {namespace}/{name}"
    spec = _mapping(m.body.get("spec"), f"{where}: spec")
    chart_ref, template = spec.get("chartRef"), spec.get("chart")
    if bool(chart_ref) == bool(template):
        raise ValidationError(f"{where}: needs exactly one of spec.chartRef and spec.chart (helm-controller "
                              "refuses it otherwise)")
    if chart_ref:
        chart, repository, version, kind, source, insecure = _from_chart_ref(
            _mapping(chart_ref, f"{where}: spec.chartRef"), namespace, where, sources)
    else:
        chart, repository, version, kind, source, insecure = _from_template(
            _mapping(template, f"{where}: spec.chart"), namespace, where, sources)
    values = spec.get("values")
    if values is not None and not isinstance(values, dict):
        raise ValidationError(f"{where}: spec.values must be a mapping")
    return HelmInstall(
        namespace=namespace, name=name, chart=chart, repository=repository, version=version, version_kind=kind,
        release_name=release_name(name, namespace, spec),
        target_namespace=str(spec.get("targetNamespace") or namespace),
        storage_namespace=str(spec.get("storageNamespace") or namespace),
        source=source, found_in=m.source, values=values or {},
        values_from=_values_from(spec.get("valuesFrom"), where),
        depends_on=_depends_on(spec.get("dependsOn"), namespace, where),
        insecure=insecure, **_install_settings(spec, where),
    )


def _install_settings(spec: Mapping[str, Any], where: str) -> dict[str, Any]:
    """How helm-controller's install action runs (internal/action/install.go): the CRD policy (default
    Create), the timeout (spec.install.timeout, else spec.timeout, else 5m), waiting unless disableWait (Jobs
    too unless disableWaitForJobs), hooks unless disableHooks, the target namespace created only when
    targetNamespace is set and install.createNamespace."""
    install_spec = spec.get("install") or {}
    if not isinstance(install_spec, dict):
        raise ValidationError(f"{where}: spec.install must be a mapping")
    crds = str(install_spec.get("crds") or "Create")
    if crds not in ("Skip", "Create", "CreateReplace"):
        raise ValidationError(f"{where}: spec.install.crds {crds!r} is not one of Skip, Create, CreateReplace")
    return {
        "crds": crds,
        "timeout": str(install_spec.get("timeout") or spec.get("timeout") or "5m0s"),
        "wait": not install_spec.get("disableWait", False),
        "wait_for_jobs": not install_spec.get("disableWaitForJobs", False),
        "hooks": not install_spec.get("disableHooks", False),
        "create_namespace": bool(spec.get("targetNamespace")) and bool(install_spec.get("createNamespace", False)),
    }


def _from_chart_ref(ref: Mapping[str, Any], namespace: str, where: str,
                    sources: Mapping[tuple[str, str], Manifest]) -> tuple[str, str, str, str, str, bool]:
    kind = str(ref.get("kind") or "")
    if kind != "OCIRepository":
        raise ValidationError(
            f"{where}: spec.chartRef kind {kind or '(none)'} is not supported for an install before the GitOps "
            "engine (supported: a chartRef to an OCIRepository, or spec.chart from a HelmRepository)")
    spec, source = _source(kind, ref, namespace, where, "spec.chartRef", sources)
    url = spec.get("url")
    if not isinstance(url, str) or not url.startswith("oci://") or "/" not in url[len("oci://"):].strip("/"):
        raise ValidationError(f"{where}: {source} has no spec.url of the form oci://HOST/PATH/CHART")
    repository, _, chart = url.rstrip("/").rpartition("/")
    oci_ref = spec.get("ref") if isinstance(spec.get("ref"), dict) else {}
    insecure = bool(spec.get("insecure", False))
    for field, version_kind in (("digest", "digest"), ("semver", "semver"), ("tag", "tag")):
        if oci_ref.get(field):
            return chart, repository, str(oci_ref[field]), version_kind, source, insecure
    return chart, repository, "latest", "tag", source, insecure


def _from_template(template: Mapping[str, Any], namespace: str, where: str,
                   sources: Mapping[tuple[str, str], Manifest]) -> tuple[str, str, str, str, str, bool]:
    chart_spec = _mapping(template.get("spec"), f"{where}: spec.chart.spec")
    ref = _mapping(chart_spec.get("sourceRef"), f"{where}: spec.chart.spec.sourceRef")
    kind = str(ref.get("kind") or "")
    if kind != "HelmRepository":
        raise ValidationError(
            f"{where}: spec.chart.spec.sourceRef kind {kind or '(none)'} is not supported for an install before "
            "the GitOps engine (supported: a HelmRepository, or a spec.chartRef to an OCIRepository)")
    chart = chart_spec.get("chart")
    if not isinstance(chart, str) or not chart:
        raise ValidationError(f"{where}: spec.chart.spec.chart must name the chart")
    spec, source = _source(kind, ref, namespace, where, "spec.chart.spec.sourceRef", sources)
    url = spec.get("url")
    if not isinstance(url, str) or not url.startswith(("oci://", "https://", "http://")):
        raise ValidationError(f"{where}: {source} has no spec.url (oci://, https:// or http://)")
    if (spec.get("type") == "oci") != url.startswith("oci://"):
        raise ValidationError(f"{where}: {source}: spec.type {spec.get('type') or 'default'} does not go with "
                              f"the url {url} (an oci:// url needs type: oci)")
    return (chart, url.rstrip("/"), str(chart_spec.get("version") or "*"), "semver", source,
            bool(spec.get("insecure", False)))


def _source(kind: str, ref: Mapping[str, Any], namespace: str, where: str, field: str,
            sources: Mapping[tuple[str, str], Manifest]) -> tuple[Mapping[str, Any], str]:
    name = ref.get("name")
    if not isinstance(name, str) or not name:
        raise ValidationError(f"{where}: {field} needs a name")
    key = f"{ref.get('namespace') or namespace}/{name}"
    found = sources.get((kind, key))
    if found is None:
        raise UsageError(f"{where}: its {field} {kind} {key} is not in what this restore renders",
                         hint="restore the --path or --kustomization that holds it too")
    return _mapping(found.body.get("spec"), f"{found.source}: {kind} {key}: spec"), f"{kind} {key}"


def _values_from(raw: Any, where: str) -> tuple[ValuesFrom, ...]:
    out = []
    for index, item in enumerate(raw or []):
        here = f"{where}: spec.valuesFrom[{index}]"
        item = _mapping(item, here)
        if item.get("kind") not in ("ConfigMap", "Secret") or not isinstance(item.get("name"), str):
            raise ValidationError(f"{here}: needs kind ConfigMap or Secret and a name")
        out.append(ValuesFrom(item["kind"], item["name"], str(item.get("valuesKey") or "values.yaml"),
                              str(item["targetPath"]) if item.get("targetPath") else None,
                              bool(item.get("optional", False))))
    return tuple(out)


def _depends_on(raw: Any, namespace: str, where: str) -> tuple[str, ...]:
    out = []
    for index, dep in enumerate(raw or []):
        if not isinstance(dep, dict) or not isinstance(dep.get("name"), str) or not dep["name"]:
            raise ValidationError(f"{where}: spec.dependsOn[{index}] needs a name")
        out.append(f"{dep.get('namespace') or namespace}/{dep['name']}")
    return tuple(out)


def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise ValidationError(f"{where} must be a mapping")
    return value
