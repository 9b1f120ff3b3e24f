"""The Helm stage, writing half: the releases `plan_releases` resolved, installed with the real helm before the
phases, as the engine's Helm controller would install them, so that it adopts each with an upgrade later.

    prepare (read-only, before the first write): values from the rendered set, every chart pulled
        (a chart that cannot be pulled: exit 3, nothing written), the CRDs of every chart read with helm;
    install (after install-key, before apply): `helm: crds` applies the release namespaces the set holds and
        every chart's CRDs (server-side apply, then Established); `helm: install` runs `helm upgrade --install`
        for each release in order, failing fast with Helm's message (exit 6).

With --dry-run the charts are pulled and checked, and the releases only listed: nothing is installed.
In: the `HelmInstall`s, the plan's manifests (valuesFrom objects, Namespaces), a `helmcli.Helm`, a temp dir for
the chart packages (charts are not secret; values never touch it).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from bootstrap import helmcli
from bootstrap.errors import UsageError
from bootstrap.manifests import parse_documents, ref_of
from bootstrap.model import Manifest, ObjectRef
from bootstrap.stages.helm_values import values_json

if TYPE_CHECKING:
    from bootstrap.engines.base import HelmInstall
    from bootstrap.kube import Cluster
    from bootstrap.report.run import Run

CRD_KIND = ("apiextensions.k8s.io", "CustomResourceDefinition")
# what the wait engine watches while helm waits: a failed one (CrashLoopBackOff, ...) stops the install at once
WORKLOADS = frozenset({("apps/v1", "Deployment"), ("apps/v1", "StatefulSet"), ("apps/v1", "DaemonSet"),
                       ("batch/v1", "Job")})
PARALLEL_PULLS = 4  # helm processes pulling and reading charts at once


@dataclass
class Pulled:
    release: HelmInstall
    package: Path
    values: bytes = field(repr=False)  # JSON for helm's stdin; may hold decrypted secrets
    limit: float = 0.0  # seconds helm may run: its own --timeout bounds the install, this catches a hang
    workloads: list[ObjectRef] = field(default_factory=list)  # rendered Deployments, ...: watched while helm waits


@dataclass
class Prepared:
    helm: helmcli.Helm
    pulled: list[Pulled]
    crds: list[Manifest]  # every chart's CRDs, each once (a later chart's replaces an earlier one's)
    namespaces: list[Manifest]  # the set's Namespace objects of the releases' namespaces
    create_namespaces: frozenset[str]  # release namespaces the set does not hold: helm creates them

    def writes(self) -> list[ObjectRef]:
        """What installing them writes before the phases (for the target check)."""
        return [m.ref for m in (*self.namespaces, *self.crds)]


def check_storage(releases: Iterable[HelmInstall]) -> None:
    """The helm CLI stores a release in its own namespace: a release the controller keeps elsewhere
    (spec.storageNamespace, or a targetNamespace without one) could not be adopted. UsageError before anything."""
    for r in releases:
        if r.storage_namespace != r.target_namespace:
            raise UsageError(
                f"HelmRelease {r.key}: installs into namespace {r.target_namespace} but stores the release in "
                f"{r.storage_namespace}; the helm CLI keeps a release in the namespace it installs into, so "
                "helm-controller could not adopt it", hint="leave it out of --helm, or set spec.storageNamespace "
                f"to {r.target_namespace}")


def prepare(releases: Sequence[HelmInstall], manifests: Sequence[Manifest], helm: helmcli.Helm, run: Run,
            workdir: Path, *, timeout: float) -> Prepared:
    """The `helm: pull` phase: read-only, before the first write."""
    from bootstrap.stages.playbook import parse_duration  # deferred: clone (loaded by the render before this)

    check_storage(releases)
    pulled: list[Pulled] = []
    crds: dict[str, Manifest] = {}
    with run.phase("helm: pull"):
        for release in releases:  # every value computed (exit 4) before any chart is asked for
            values = values_json(release.namespace, release.name, release.values, release.values_from, manifests)
            limit = parse_duration(release.timeout, f"HelmRelease {release.key}: timeout") * 2 + 60
            pulled.append(Pulled(release, Path(), values, limit))

        def fetch(index: int) -> str:  # the chart pulled, its CRDs read: each release on its own, in parallel
            item = pulled[index]
            item.package = helmcli.pull(helm, item.release, workdir / str(index), timeout=timeout)
            return helmcli.chart_crds(helm, item.release, item.package, item.values, timeout=timeout)

        with ThreadPoolExecutor(max_workers=PARALLEL_PULLS, thread_name_prefix="helm-pull") as pool:
            futures = [pool.submit(fetch, index) for index in range(len(pulled))]
            texts = [future.result() for future in futures]  # the first failure in install order is raised
        for item, text in zip(pulled, texts):
            run.progress.note(f"helm: pulled {item.package.name} for {item.release.key} ({item.release.source})")
            where = f"chart {item.package.name} (HelmRelease {item.release.key})"
            for body in parse_documents(text.encode(), where):
                if isinstance(body, dict) and (ref_of(body).api_version, ref_of(body).kind) in WORKLOADS:
                    ref = ref_of(body)
                    item.workloads.append(ObjectRef(ref.api_version, ref.kind,
                                                    ref.namespace or item.release.target_namespace, ref.name))
                if isinstance(body, dict) and ref_of(body).kind == CRD_KIND[1] and \
                        str(body.get("apiVersion", "")).startswith(CRD_KIND[0] + "/"):
                    crds[ref_of(body).name] = Manifest(ref_of(body), body, source=where, origin="helm")
    wanted = {r.target_namespace for r in releases}
    namespaces = {m.ref.name: m for m in manifests if m.ref.kind == "Namespace" and m.ref.api_version == "v1"
                  and m.ref.name in wanted}
    creates = frozenset(r.target_namespace for r in releases if r.create_namespace or
                        r.target_namespace not in namespaces)
    return Prepared(helm, pulled, list(crds.values()), list(namespaces.values()), creates)


def install(cluster: Cluster, run: Run, prepared: Prepared, *, dry_run: bool, timeout: float) -> None:
    """`helm: crds` then `helm: install`, each release in order; the report's records say what was done."""
    from bootstrap import kube  # deferred: clone (a plan loads the kube client after its clone)
    from bootstrap.stages.apply import wait_gates  # deferred: clone (the apply stage loads with the kube client)
    from bootstrap.stages.verify import verify_rollouts  # deferred: heavy (plans never verify)

    records = {h.release.key: h for h in run.report.helm_releases}
    if dry_run:
        with run.phase("helm: install"):
            for item in prepared.pulled:
                r = item.release
                run.progress.note(f"dry run: would install {r.key} as {r.target_namespace}/{r.release_name} "
                                  f"from {item.package.name} with helm {prepared.helm.version}")
                _mark(records, r, "pulled")
        return
    with run.phase("helm: crds"):
        writes = [*prepared.namespaces, *prepared.crds]
        if writes:
            kube.apply_wave(cluster.resources, writes, on_result=lambda m, o: run.applied("helm: crds", o))
            wait_gates(cluster, writes, timeout=timeout, on_wait=run.progress.note, waiting=run.progress.waiting)
    with run.phase("helm: install"):
        for item in prepared.pulled:
            r = item.release
            run.progress.waiting(f"helm {prepared.helm.version}: installing {r.key} ({item.package.name})")

            def watch(helm_done, refs=item.workloads, limit=item.limit) -> None:
                verify_rollouts(cluster, refs, timeout=limit, stop=helm_done)  # Failed: RolloutError, helm stopped

            try:
                helmcli.install(prepared.helm, r, item.package, item.values, timeout=item.limit,
                                create_namespace=r.target_namespace in prepared.create_namespaces,
                                watch=watch if r.wait and item.workloads else None)
            except BaseException:
                _mark(records, r, "failed")
                raise
            finally:
                run.progress.waiting(None)
            _mark(records, r, "installed")
            run.progress.note(f"helm: installed {r.key} as {r.target_namespace}/{r.release_name} "
                              f"({item.package.name})")


def _mark(records: dict, release: HelmInstall, status: str) -> None:
    record = records.get(release.key)
    if record is not None:
        record.status = status
