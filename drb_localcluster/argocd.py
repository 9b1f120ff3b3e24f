"""The real Argo CD controllers (application-controller, applicationset-controller, repo-server) and a redis as host processes of a
local cluster, built by data/argocd.sh (`make argocd`). See docs/local-cluster.md.

`start_argocd(cluster)` prepares what Argo CD's install would: the Application, ApplicationSet and AppProject
CRDs of the pinned release (from its module, copied into the build's bin dir), the `argocd` namespace, the
argocd-cm / argocd-rbac-cm ConfigMaps and the argocd-secret Secret (labelled part-of=argocd: Argo CD's
settings informers see only labelled objects) and the `default` AppProject. Then it starts redis (Debian's
redis-server), repo-server (plaintext gRPC on a loopback port, its clones under DIR/argocd),
application-controller and applicationset-controller. Argo CD's "in-cluster" destination (https://kubernetes.default.svc) normally uses
the pod's service account; ARGOCD_FAKE_IN_CLUSTER=true makes the controller use $KUBECONFIG instead, the
cluster's admin kubeconfig. Pods of the Deployments an Application syncs stay simulated by kwok.

The processes are components of the cluster (DIR/pids, DIR/logs/<name>.log): `LocalCluster.stop()` stops
them first. Each runs under a per-cluster symlink DIR/argocd/bin/<component> -> the one `argocd` binary,
which picks its component from that name and puts the cluster dir on its command line (the pid-reuse guard).
"""

from __future__ import annotations

import atexit
import base64
import json
import os
import secrets
import shutil
import socket
import tempfile
import time
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from .flux import FluxBuildError, find_flux_bin_dir
from .helmtools import HelmBuildError, helm_path
from .procs import build_script_path

BUILD_SCRIPT = Path(__file__).resolve().parent / "data" / "argocd.sh"
NAMESPACE = "argocd"
REDIS_SERVER = Path("/usr/bin/redis-server")
#: start order (stop goes in reverse: the controller before the repo-server before redis)
COMPONENTS = ("argocd-redis", "argocd-repo-server", "argocd-application-controller", "argocd-applicationset-controller")
CRDS = ("applications.argoproj.io", "applicationsets.argoproj.io", "appprojects.argoproj.io")
PART_OF = {"app.kubernetes.io/part-of": "argocd"}
BUILD_HINT = ("build them once with `make argocd` (drb_localcluster/data/argocd.sh; Go modules only, about "
              "25 minutes on a busy 2-core machine the first time) and install redis-server (`make redis`)")


class ArgoCDError(RuntimeError):
    """argocd.sh failed, a binary is missing, or a component did not come up; the message says which."""


def find_argocd_bin_dir(*, build: bool = False) -> Path:
    """argocd.sh's versioned bin dir ($DRB_ARGOCD_BIN overrides); with `build`, run the script first.
    Raises ArgoCDError when the build is not complete."""
    bin_dir = build_script_path(BUILD_SCRIPT, [] if build else ["--print-bin-dir"], ArgoCDError)
    if not (bin_dir / ".complete").exists():
        raise ArgoCDError(f"Argo CD is not built in {bin_dir}: {BUILD_HINT}")
    return bin_dir


@dataclass(frozen=True)
class ArgoCDPorts:
    """Loopback ports: redis, repo-server's gRPC and metrics (/healthz), the application controller's metrics
    (/healthz), the applicationset controller's metrics, health probe and webhook listeners."""

    redis: int
    repo_server: int
    repo_server_metrics: int
    controller_metrics: int
    appset_metrics: int
    appset_probe: int
    appset_webhook: int

    @classmethod
    def pick(cls, free_port: Callable[[], int]) -> ArgoCDPorts:
        ports: list[int] = []
        while len(ports) < 7:
            port = free_port()
            if port not in ports:
                ports.append(port)
        return cls(*ports)

    @property
    def repo_server_address(self) -> str:
        return f"127.0.0.1:{self.repo_server}"


def settings_objects() -> list[dict]:
    """The namespace, the minimal settings the controllers read, and the `default` AppProject."""
    meta = {"namespace": NAMESPACE, "labels": dict(PART_OF)}
    secret_key = base64.b64encode(secrets.token_bytes(32)).decode()
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "argocd-cm", **meta},
         # no status badge, no UI: only what the controllers use; kustomize/helm from $PATH when present
         "data": {"timeout.reconciliation": "30s"}},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "argocd-rbac-cm", **meta}, "data": {}},
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "argocd-secret", **meta}, "type": "Opaque",
         "data": {"server.secretkey": base64.b64encode(secret_key.encode()).decode()}},
        {"apiVersion": "argoproj.io/v1alpha1", "kind": "AppProject", "metadata": {"name": "default", "namespace": NAMESPACE},
         "spec": {"sourceRepos": ["*"], "destinations": [{"server": "*", "namespace": "*"}],
                  "clusterResourceWhitelist": [{"group": "*", "kind": "*"}]}},
    ]


def object_path(obj: Mapping) -> str:
    """The REST path of `obj` (only the kinds start_argocd applies: CRDs, Namespace, ConfigMap, Secret, AppProject)."""
    kind, name = obj["kind"], obj["metadata"]["name"]
    ns = obj["metadata"].get("namespace")
    paths = {
        "CustomResourceDefinition": f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}",
        "Namespace": f"/api/v1/namespaces/{name}",
        "ConfigMap": f"/api/v1/namespaces/{ns}/configmaps/{name}",
        "Secret": f"/api/v1/namespaces/{ns}/secrets/{name}",
        "AppProject": f"/apis/argoproj.io/v1alpha1/namespaces/{ns}/appprojects/{name}",
    }
    if kind not in paths:
        raise ArgoCDError(f"cannot apply {kind}/{name}: not one of {sorted(paths)}")
    return paths[kind]


def controller_argv(exe: Path, kubeconfig: Path, ports: ArgoCDPorts) -> list[str]:
    """application-controller: one replica, the `argocd` namespace, the loopback repo-server (plaintext)
    and redis, few processors (2 cores), a 30 s resync so tests see Git changes soon."""
    return [str(exe), f"--kubeconfig={kubeconfig}", f"--namespace={NAMESPACE}",
            f"--repo-server={ports.repo_server_address}", "--repo-server-plaintext",
            f"--redis=127.0.0.1:{ports.redis}", f"--metrics-port={ports.controller_metrics}",
            "--status-processors=2", "--operation-processors=2", "--kubectl-parallelism-limit=4",
            "--app-resync=30", "--logformat=json", "--loglevel=info"]


def appset_controller_argv(exe: Path, kubeconfig: Path, ports: ArgoCDPorts) -> list[str]:
    """applicationset-controller: the `argocd` namespace, every listener on loopback, the plaintext
    repo-server, no SCM providers (they would call out to GitHub and the like)."""
    return [str(exe), f"--kubeconfig={kubeconfig}", f"--namespace={NAMESPACE}",
            f"--argocd-repo-server={ports.repo_server_address}", "--repo-server-plaintext",
            f"--metrics-addr=127.0.0.1:{ports.appset_metrics}", f"--probe-addr=127.0.0.1:{ports.appset_probe}",
            f"--webhook-addr=127.0.0.1:{ports.appset_webhook}", "--enable-scm-providers=false",
            "--concurrent-reconciliations=2", "--logformat=json", "--loglevel=info"]


def repo_server_argv(exe: Path, ports: ArgoCDPorts) -> list[str]:
    return [str(exe), "--address=127.0.0.1", f"--port={ports.repo_server}", "--disable-tls",
            "--metrics-address=127.0.0.1", f"--metrics-port={ports.repo_server_metrics}",
            f"--redis=127.0.0.1:{ports.redis}", "--parallelismlimit=2", "--logformat=json", "--loglevel=info"]


def redis_argv(state: Path, ports: ArgoCDPorts) -> list[str]:
    """A cache only: no persistence, loopback, the cluster dir on the command line (--dir)."""
    return [str(REDIS_SERVER), "--port", str(ports.redis), "--bind", "127.0.0.1", "--save", "",
            "--appendonly", "no", "--dir", str(state / "redis"), "--protected-mode", "no", "--loglevel", "warning"]


def component_env(name: str, kubeconfig: Path, state: Path, askpass_sock: Path,
                  base: Mapping[str, str] = os.environ, bin_dirs: Sequence[Path] = ()) -> dict[str, str]:
    """The environment of an Argo CD component: the admin kubeconfig as the in-cluster destination, scratch
    directories (temp, home, ssh/tls/gpg data) under the cluster's `state`, no GnuPG, a socket of its own
    for the git ask-pass server (upstream's default /tmp path would be shared by clusters side by side), and
    `bin_dirs` first on PATH: the repo-server has git run `argocd` as GIT_ASKPASS (with
    ARGOCD_BINARY_NAME=argocd-git-ask-pass) to hand a repository Secret's username and password to git, and
    runs `helm` for Helm sources (the project's helm build, when there is one)."""
    scratch = state / name
    env = {k: v for k, v in base.items() if not k.startswith(("KUBECONFIG", "ARGOCD_", "HELM_", "GIT_"))}
    env.update(
        KUBECONFIG=str(kubeconfig), ARGOCD_FAKE_IN_CLUSTER="true", ARGOCD_CONTROLLER_REPLICAS="1",
        ARGOCD_GPG_ENABLED="false", ARGOCD_ASK_PASS_SOCK=str(askpass_sock), TMPDIR=str(scratch / "tmp"),
        HOME=str(scratch / "home"), ARGOCD_SSH_DATA_PATH=str(scratch / "ssh"),
        ARGOCD_TLS_DATA_PATH=str(scratch / "tls"), ARGOCD_GNUPGHOME=str(scratch / "gnupg"),
    )
    if bin_dirs:
        env["PATH"] = os.pathsep.join([*(str(d) for d in bin_dirs), *([base["PATH"]] if base.get("PATH") else [])])
    return env


def apply_objects(api, objects: list[Mapping]) -> None:
    """Server-side apply `objects` with a kubernetes ApiClient (field manager drb-localcluster, forced)."""
    for obj in objects:
        url = f"{api.configuration.host}{object_path(obj)}?fieldManager=drb-localcluster&force=true"
        response = api.call_api("PATCH", url, body=json.dumps(obj), _request_timeout=30,
                                header_params={"Content-Type": "application/apply-patch+yaml", "Accept": "application/json"})
        response.read()
        if response.status >= 300:
            raise ArgoCDError(f"applying {obj['kind']}/{obj['metadata']['name']}: HTTP {response.status} "
                              f"{response.data.decode(errors='replace')[:300]}")


def crd_objects(bin_dir: Path) -> list[dict]:
    import yaml  # deferred: heavy (PyYAML's loader, only when Argo CD starts)

    docs = [d for p in sorted((bin_dir / "crds").glob("*.yaml")) for d in yaml.safe_load_all(p.read_text()) if d]
    if sorted(d["metadata"]["name"] for d in docs) != sorted(CRDS):
        raise ArgoCDError(f"{bin_dir / 'crds'} does not hold exactly {', '.join(CRDS)}: rebuild with `make argocd`")
    return docs


def _crds_established(api) -> bool:
    from kubernetes import client  # deferred: heavy (the generated client)

    ext = client.ApiextensionsV1Api(api)
    for name in CRDS:
        crd = json.loads(ext.read_custom_resource_definition(name, _preload_content=False).data)
        if not any(c["type"] == "Established" and c["status"] == "True" for c in crd.get("status", {}).get("conditions", [])):
            return False
    return True


def _healthz(port: int, path: str = "/healthz") -> bool:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as response:
        return response.status == 200


def _redis_pong(port: int) -> bool:
    with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
        sock.sendall(b"PING\r\n")
        return sock.recv(16).startswith(b"+PONG")


def _askpass_socket(state: Path) -> Path:
    """The git ask-pass server's unix socket, in the cluster dir; a socket path must stay under 108 bytes, so
    for a deep cluster dir (pytest's under xdist) in a short directory of its own in the temp dir, or in /tmp
    when $TMPDIR is deep too (a test's own), removed when this process exits."""
    path = state / "askpass.sock"
    if len(str(path)) < 100:
        return path
    for parent in dict.fromkeys((tempfile.gettempdir(), "/tmp")):
        if len(str(Path(parent) / "drb-argocd-XXXXXXXX" / "askpass.sock")) < 100 and Path(parent).is_dir():
            short = Path(tempfile.mkdtemp(prefix="drb-argocd-", dir=parent))
            atexit.register(shutil.rmtree, short, True)
            return short / "askpass.sock"
    raise ArgoCDError(f"cluster dir {state.parent} and the temp dir are too long for a unix socket path")


def _helm_dir() -> list[Path]:
    """The directory of the project's helm build (`make helm`), if built: Argo CD's repo-server runs `helm`."""
    try:
        return [helm_path().parent]
    except HelmBuildError:
        return []


def _link_kustomize(links: Path) -> list[Path]:
    """`links` (put on PATH) with a `kustomize` link to the Flux build's kustomize (`make flux`), if built: Argo
    CD's repo-server runs `kustomize` for kustomize sources. Only that one program, not the Flux controllers."""
    try:
        kustomize = find_flux_bin_dir(what="cli") / "kustomize"
    except FluxBuildError:
        return []
    (links / "kustomize").symlink_to(kustomize)
    return [links]


def start_argocd(cluster, bin_dir: Path | None = None, timeout: float = 120.0,
                 extra_args: Mapping[str, Sequence[str]] | None = None) -> ArgoCDPorts:
    """Apply the CRDs and settings, start redis, repo-server, application-controller and
    applicationset-controller as components of the started LocalCluster `cluster`, and return once each
    answers (redis PING, /healthz). `extra_args`: more flags per component, e.g.
    {"argocd-application-controller": ["--persist-resource-health"]}."""
    from .cluster import free_port  # deferred: start-up (cluster imports this module)

    extra = dict(extra_args or {})
    if set(extra) - set(COMPONENTS[1:]):
        raise ArgoCDError(f"extra_args: {sorted(extra)} must name only {', '.join(COMPONENTS[1:])}")
    bin_dir = bin_dir or find_argocd_bin_dir()
    if not REDIS_SERVER.is_file():
        raise ArgoCDError(f"{REDIS_SERVER} is missing: {BUILD_HINT}")
    state = cluster.dir / "argocd"
    links = state / "bin"
    links.mkdir(parents=True, exist_ok=True)
    (state / "redis").mkdir(exist_ok=True)
    for name in COMPONENTS[1:]:
        (links / name).symlink_to(bin_dir / "argocd")
        for sub in ("tmp", "home", "ssh", "tls", "gnupg"):
            (state / name / sub).mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + timeout
    with cluster.api() as api:
        apply_objects(api, crd_objects(bin_dir))
        cluster._wait("Argo CD CRDs Established", deadline, lambda: _crds_established(api))
        apply_objects(api, settings_objects())
    ports = ArgoCDPorts.pick(free_port)
    sock = _askpass_socket(state)
    path_dirs = [bin_dir, *_helm_dir(), *_link_kustomize(links)]
    cluster._spawn("argocd-redis", redis_argv(state, ports))
    cluster._wait("argocd redis PING", deadline, lambda: _redis_pong(ports.redis))
    kc = cluster.kubeconfig
    # component -> (command line, the endpoint that answers once it runs); started in this order
    plan = {
        "argocd-repo-server": (repo_server_argv(links / "argocd-repo-server", ports),
                               (ports.repo_server_metrics, "/healthz")),
        "argocd-application-controller": (controller_argv(links / "argocd-application-controller", kc, ports),
                                          (ports.controller_metrics, "/healthz")),
        # its health probe listener registers no check (no /healthz); metrics answer once the manager runs
        "argocd-applicationset-controller": (appset_controller_argv(links / "argocd-applicationset-controller", kc, ports),
                                             (ports.appset_metrics, "/metrics")),
    }
    for name, (argv, (port, path)) in plan.items():
        cluster._spawn(name, [*argv, *extra.get(name, ())], env=component_env(name, kc, state, sock, bin_dirs=path_dirs))
        cluster._wait(f"{name} {path}", deadline, lambda port=port, path=path: _healthz(port, path))
    return ports

