"""A Flux repository for the hand-over tests and `bench gitops`, served by a real Git server and chart repository.

gotk-components from the built Flux CLI, gotk-sync pointing at the Git server, a flux-system Kustomization with
`decryption`, children `infra` and `apps` (apps dependsOn infra) holding SOPS Secrets, a postBuild substitution
from a SOPS Secret the bootstrap restores, and a HelmRelease from the chart repository. With `chain=N`, also a
dependsOn chain of N Kustomizations after `infra` (`chain-1` dependsOn infra, `chain-2` dependsOn chain-1, …), each
applying one ConfigMap: the case where Flux alone waits `--requeue-dependency` (30 s) per level. With
`after_hello`, a second HelmRelease `hello-2` that dependsOn `hello`.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.support import fluxrepos
from tests.support.charts import ChartRepo, serve_chart_repo
from tests.support.gitserver import GitHttpServer, publish
from tests.support.sops import AgeKey, encrypt_file

DOMAIN = "handover.example.org"
DB_PASSWORD = "db-pw-" + "7f3a9c21"
CHART = ("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-cm\n"
         "data:\n  greeting: {{ .Values.greeting | quote }}\n")


@dataclass(frozen=True)
class Served:
    git: GitHttpServer
    charts: ChartRepo
    root: Path  # where the bare repositories are


@contextmanager
def serving(work: Path) -> Iterator[Served]:
    """The Git server and the chart repository (chart `hello` 0.1.0) for the length of the block."""
    with GitHttpServer(work / "srv") as git, \
            serve_chart_repo(work / "charts", {"hello": {"0.1.0": {"configmap.yaml": CHART}}}) as charts:
        yield Served(git, charts, work / "srv")


def chain_names(levels: int) -> list[str]:
    return [f"chain-{i}" for i in range(1, levels + 1)]


def chain_files(levels: int) -> dict[str, str]:
    """`levels` Kustomizations in a dependsOn chain after `infra`, each with a ConfigMap of its own in `shop`."""
    files: dict[str, str] = {}
    before = "infra"
    for name in chain_names(levels):
        files[f"clusters/local/{name}.yaml"] = fluxrepos.dump(fluxrepos.flux_ks(
            name, f"./chain/{name}", dependsOn=[{"name": before}], targetNamespace="shop"))
        files[f"chain/{name}/level.yaml"] = fluxrepos.dump(fluxrepos.configmap(f"{name}-level", {"after": before}))
        before = name
    return files


def repo_files(gotk: str, git_url: str, chart_url: str, *, apps_path: str = "./apps",
               chart: str = "hello", chain: int = 0, after_hello: bool = False) -> dict[str, str]:
    decryption = {"provider": "sops", "secretRef": {"name": "sops-age"}}
    release = fluxrepos.helm_release("hello", "shop", chart, "charts", {"greeting": "hi from helm"})
    release["spec"]["chart"]["spec"]["version"] = "0.1.0"
    releases = [release]
    if after_hello:  # a second release that dependsOn the first
        second = fluxrepos.helm_release("hello-2", "shop", chart, "charts", {"greeting": "after hello"})
        second["spec"]["chart"]["spec"]["version"] = "0.1.0"
        second["spec"]["dependsOn"] = [{"name": "hello"}]
        releases.append(second)
    sync = fluxrepos.dump(
        fluxrepos.git_repository(url=git_url, interval="1m", ref={"branch": "main"}),
        fluxrepos.flux_ks("flux-system", "./clusters/local", decryption=decryption),
    )
    return {
        "clusters/local/flux-system/gotk-components.yaml": gotk,
        "clusters/local/flux-system/gotk-sync.yaml": sync,
        "clusters/local/flux-system/kustomization.yaml": fluxrepos.kustomization(
            resources=["gotk-components.yaml", "gotk-sync.yaml"]),
        # restored by the bootstrap (decrypted by dr-bootstrap), read by `apps` through substituteFrom
        "clusters/local/cluster-secrets.sops.yaml": fluxrepos.dump(
            fluxrepos.secret("cluster-secrets", {"DOMAIN": DOMAIN}, "flux-system")),
        "clusters/local/infra.yaml": fluxrepos.dump(fluxrepos.flux_ks(
            "infra", "./infra", decryption=decryption, wait=True, timeout="3m")),
        "clusters/local/apps.yaml": fluxrepos.dump(fluxrepos.flux_ks(
            "apps", apps_path, decryption=decryption, dependsOn=[{"name": "infra"}], targetNamespace="shop",
            postBuild={"substituteFrom": [{"kind": "Secret", "name": "cluster-secrets"}]})),
        "infra/namespace.yaml": fluxrepos.dump(fluxrepos.namespace("shop")),
        "infra/db.sops.yaml": fluxrepos.dump(fluxrepos.secret("db", {"password": DB_PASSWORD}, "shop")),
        "infra/charts.yaml": fluxrepos.dump(fluxrepos.helm_repository("charts", chart_url, "shop"), *releases),
        "apps/web.yaml": fluxrepos.dump(fluxrepos.configmap("web-config", {"host": "web.${DOMAIN}"})),
        "apps/token.sops.yaml": fluxrepos.dump(fluxrepos.secret("api-token", {"token": "tok-${DOMAIN}"})),
        **chain_files(chain),
    }


def published(tmp_path: Path, served: Served, key: tuple[AgeKey, Path], gotk: str, **changes) -> str:
    """The repository committed in tmp_path/work, pushed to the Git server; returns its URL (which gotk-sync
    points at)."""
    age, _ = key
    name = f"{tmp_path.name}.git"
    url = served.git.url(name)
    repo = fluxrepos.write_repo(tmp_path / "work", repo_files(gotk, url, served.charts.url, **changes),
                                lambda rel: [age.recipient])
    publish(repo.path, served.root, name)
    return url



def reencrypt_bootstrap(tmp_path: Path, served: Served, url: str, key) -> None:
    """The bootstrap file re-encrypted for `key` and pushed (the children stay for whatever key they had)."""
    work = tmp_path / "work"
    target = work / "clusters/local/cluster-secrets.sops.yaml"
    target.write_text(fluxrepos.dump(fluxrepos.secret("cluster-secrets", {"DOMAIN": DOMAIN}, "flux-system")))
    encrypt_file(target, [key[0].recipient], encrypted_regex=fluxrepos.MANIFEST_RULE)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid"]
    subprocess.run([*git, "commit", "-qam", "bootstrap file for the operator's key"], cwd=work, check=True)
    subprocess.run(["git", "push", "-q", str(served.root / url.rsplit("/", 1)[1]), "HEAD:main", "--force"],
                   cwd=work, check=True, capture_output=True)
