"""Start and stop a real local control plane: etcd, kube-apiserver, kube-controller-manager,
kube-scheduler, kwok (simulated nodes and pods) and the simulated kubelet checks, all on 127.0.0.1.

Everything a cluster owns lives under its directory: pki/, etcd/, logs/<name>.log, pids/<name>.pid,
kwok.yaml, kubeconfig, with `flux` flux/ (see flux.py), with start_argocd() argocd/ (see argocd.py).
Several clusters with different directories run side by side.
"""

from __future__ import annotations

import signal
import ssl
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from . import argocd as argocd_mod, flux as flux_mod, fluxoperator as operator_mod
from .procs import alive as _alive, child_env as _child_env, die_with_parent as _die_with_parent  # noqa: F401
from .procs import build_script_path, free_port, owned as _owned, send as _signal, tail as _tail  # noqa: F401
from .procs import wait_gone as _wait_gone
from . import pki as pki_mod

DATA = Path(__file__).resolve().parent / "data"  # package data: ships in the wheel
#: the directory that holds this package (the repo root in a checkout, site-packages in a wheel install)
from .procs import IMPORT_ROOT  # noqa: E402,F401  (where the sidecars import this package from)
BUILD_SCRIPT = DATA / "control-plane.sh"
STAGES_DIR = DATA / "kwok"
#: what a user without the binaries is told (drill --cluster local, up, the test fixtures)
BUILD_HINT = ("build them once with `python -m drb_localcluster build` (`make control-plane` in a checkout): it needs "
              "Go 1.26 or newer and the Go module proxy, takes about 11 minutes on 2 cores and 5 GB of disk the "
              "first time; later runs reuse the cached binaries")
BINARIES = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")
#: start order; stop goes in reverse
COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok", "kubelet-sim",
              *flux_mod.CONTROLLERS, operator_mod.NAME, *argocd_mod.COMPONENTS)
#: everything a cluster writes into its directory
STATE_ENTRIES = ("etcd", "logs", "pids", "pki", "kubeconfig", "kwok.yaml", "flux", "argocd")


class LocalClusterError(RuntimeError):
    """The local control plane cannot be built, started or stopped; the message names the component."""


class NotBuiltError(LocalClusterError):
    """The control-plane binaries are not in their cache dir; the message says how to build them."""

    def __init__(self, bin_dir: Path):
        self.bin_dir = bin_dir
        super().__init__(f"the control-plane binaries are not built in {bin_dir}: {BUILD_HINT}")


def find_bin_dir(*, build: bool = False, progress: bool = False) -> Path:
    """The directory with the control-plane binaries: $DRB_CONTROL_PLANE_BIN, else control-plane.sh's
    versioned cache dir (~/.cache/dr-bootstrap/control-plane/...). With `build`, run the build script when
    the binaries are missing; `progress` (with `build`) lets its step lines through to stderr."""
    bin_dir = build_script_path(BUILD_SCRIPT, [] if build else ["--print-bin-dir"], LocalClusterError,
                                quiet=not (build and progress))
    if not (bin_dir / ".complete").exists():
        raise NotBuiltError(bin_dir)
    return bin_dir


def versions() -> dict[str, str]:
    """The pins in data/versions.env (KUBE_VERSION, FLUX_VERSION, ...), as the build scripts read them."""
    pins = {}
    for line in (DATA / "versions.env").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            pins[name.strip()] = value.strip().strip('"')
    return pins


def bin_dir_path() -> Path:
    """Where the control-plane binaries are, or would be once built."""
    return build_script_path(BUILD_SCRIPT, ["--print-bin-dir"], LocalClusterError)


@dataclass(frozen=True)
class Ports:
    etcd_client: int
    etcd_peer: int
    apiserver: int
    kwok: int

    @classmethod
    def pick(cls) -> Ports:
        ports: set[int] = set()
        while len(ports) < 4:
            ports.add(free_port())
        return cls(*sorted(ports))


@dataclass
class LocalCluster:
    """A local control plane rooted at `dir`. Use as a context manager, or call start()/stop().

    With `tied_to_parent` (the default) the components die with the thread that started them, so a
    crashed test run leaves nothing behind; call start() from a long-lived thread."""

    dir: Path
    bin_dir: Path | None = None
    nodes: int = 1
    stages_dir: Path = STAGES_DIR
    #: kill the components when the process that started them dies (False for `up`, which detaches)
    tied_to_parent: bool = True
    #: also run source-, kustomize- and helm-controller (flux.sh's build) as host processes
    flux: bool = False
    flux_bin_dir: Path | None = None
    #: extra command-line flags per controller, e.g. {"kustomize-controller": ["--sops-age-secret=sops-age"]}
    flux_args: Mapping[str, Sequence[str]] = field(default_factory=dict)
    #: also run flux-operator (flux-operator.sh's build, fluxoperator.py) as a host process
    flux_operator: bool = False
    ports: Ports | None = field(default=None, init=False)
    flux_ports: flux_mod.FluxPorts | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.dir = Path(self.dir).resolve()

    @property
    def kubeconfig(self) -> Path:
        return self.dir / "kubeconfig"

    @property
    def server(self) -> str:
        if self.ports is None:
            raise LocalClusterError(f"cluster in {self.dir} is not started")
        return f"https://127.0.0.1:{self.ports.apiserver}"

    def __enter__(self) -> LocalCluster:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- start -------------------------------------------------------------------------------------

    def start(self, timeout: float = 60.0) -> LocalCluster:
        """Start every component and return once /readyz answers, the Nodes are Ready and the default
        ServiceAccount exists. On failure, stop what was started and raise LocalClusterError. A port
        taken between picking and binding (another cluster starting) is retried once with new ports."""
        try:
            return self._start(timeout)
        except LocalClusterError as exc:
            if "address already in use" not in str(exc):
                raise
            return self._start(timeout)

    def _start(self, timeout: float) -> LocalCluster:
        bin_dir = self.bin_dir or find_bin_dir()
        if any(_alive(pid) and _owned(pid, self.dir) for _, pid in self._pids()):
            raise LocalClusterError(f"a cluster is already running in {self.dir}: stop it first")
        self._remove_state(keep_logs=False)  # leftovers of a crashed run: start pristine
        deadline = time.monotonic() + timeout
        for sub in ("logs", "pids", "etcd"):
            (self.dir / sub).mkdir(parents=True, exist_ok=True)
        self.ports = Ports.pick()
        pki = pki_mod.generate(self.dir / "pki")
        self._write_kubeconfig(pki)
        self._write_kwok_config()
        try:
            commands = self._commands(bin_dir, pki)
            # Clients start once the API server is ready: kube-controller-manager gives up (exits) when
            # the API server stays unhealthy for a few seconds, which a busy 2-core machine can cause.
            for name in ("etcd", "kube-apiserver"):
                self._spawn(name, commands.pop(name))
            self._wait("kube-apiserver /readyz", deadline, lambda: self._readyz(pki))
            for name, argv in commands.items():
                self._spawn(name, argv)
            if self.flux:
                self._spawn_flux()
            if self.flux_operator:
                self._spawn(operator_mod.NAME, operator_mod.supervisor_argv(self.kubeconfig, free_port))
            self._create_nodes()
            self._wait("Nodes Ready", deadline, self._nodes_ready)
            self._wait("default ServiceAccount", deadline, self._default_sa_exists)
        except BaseException:
            self.stop(keep_logs=True)
            raise
        return self

    def _commands(self, b: Path, pki: pki_mod.Pki) -> dict[str, list[str]]:
        p, d, kc = self.ports, self.dir, str(self.kubeconfig)
        assert p is not None
        etcd_url = f"http://127.0.0.1:{p.etcd_client}"
        peer_url = f"http://127.0.0.1:{p.etcd_peer}"
        return {
            "etcd": [
                f"{b}/etcd", "--name=node0", f"--data-dir={d}/etcd",
                f"--listen-client-urls={etcd_url}", f"--advertise-client-urls={etcd_url}",
                f"--listen-peer-urls={peer_url}", f"--initial-advertise-peer-urls={peer_url}",
                f"--initial-cluster=node0={peer_url}", "--unsafe-no-fsync=true",
                "--auto-compaction-retention=1", "--log-level=warn",
            ],
            "kube-apiserver": [
                f"{b}/kube-apiserver", f"--etcd-servers={etcd_url}", "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1", "--endpoint-reconciler-type=none",
                f"--secure-port={p.apiserver}", f"--tls-cert-file={pki.cert}", f"--tls-private-key-file={pki.key}",
                f"--client-ca-file={pki.ca_cert}", "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                f"--service-account-key-file={pki.key}", f"--service-account-signing-key-file={pki.key}",
                "--service-cluster-ip-range=10.0.0.0/24", "--authorization-mode=Node,RBAC", "--allow-privileged=true",
                f"--cert-dir={d}/pki",
            ],
            "kube-controller-manager": [
                f"{b}/kube-controller-manager", f"--kubeconfig={kc}", "--bind-address=127.0.0.1", "--secure-port=0",
                f"--root-ca-file={pki.ca_cert}", f"--service-account-private-key-file={pki.key}",
                "--leader-elect=false", "--node-monitor-period=1s",  # lifts the not-ready taint sooner
            ],
            "kube-scheduler": [
                f"{b}/kube-scheduler", f"--kubeconfig={kc}", "--bind-address=127.0.0.1", "--secure-port=0",
                "--leader-elect=false",
            ],
            "kwok": [
                f"{b}/kwok", f"--kubeconfig={kc}", f"--config={d}/kwok.yaml", "--manage-all-nodes=true",
                "--node-ip=127.0.0.1", f"--server-address=127.0.0.1:{p.kwok}", "--node-lease-duration-seconds=40",
            ],
            "kubelet-sim": [sys.executable, "-m", "drb_localcluster", "kubelet-sim", f"--kubeconfig={kc}"],
        }

    def _spawn_flux(self) -> None:
        """A supervisor per controller; each starts its controller once the controller's CRDs exist."""
        try:
            bin_dir = self.flux_bin_dir or flux_mod.find_flux_bin_dir()
        except flux_mod.FluxBuildError as exc:
            raise LocalClusterError(str(exc)) from None
        if set(self.flux_args) - set(flux_mod.CONTROLLERS):
            raise LocalClusterError(f"flux_args: {sorted(self.flux_args)} must name only {flux_mod.CONTROLLERS}")
        self.flux_ports = flux_mod.FluxPorts.pick(free_port)
        state = self.dir / "flux"
        (state / "source-controller" / "storage").mkdir(parents=True)  # the controller insists it exists
        for name in flux_mod.CONTROLLERS:
            argv = flux_mod.controller_argv(name, bin_dir, state, self.flux_ports, self.flux_args.get(name, ()))
            self._spawn(name, flux_mod.supervisor_argv(name, self.kubeconfig, argv))

    def wait_flux(self, timeout: float = 60.0) -> None:
        """Return once every Flux controller answers its /readyz (they start only after their CRDs exist,
        so call this after applying Flux's manifests); LocalClusterError on timeout."""
        if self.flux_ports is None:
            raise LocalClusterError(f"cluster in {self.dir} runs no Flux controllers (start it with flux=True)")
        ports = self.flux_ports
        self._wait("Flux controllers /readyz", time.monotonic() + timeout, lambda: flux_mod.controllers_ready(ports))

    def _spawn(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> None:
        log = open(self.dir / "logs" / f"{name}.log", "ab")
        try:
            proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                cwd=self.dir, start_new_session=True, env=env or _child_env(),
                preexec_fn=_die_with_parent if self.tied_to_parent else None,
            )
        finally:
            log.close()
        (self.dir / "pids" / f"{name}.pid").write_text(f"{proc.pid}\n")

    def _write_kubeconfig(self, pki: pki_mod.Pki) -> None:
        self.kubeconfig.write_text(
            "apiVersion: v1\nkind: Config\n"
            f"clusters:\n- name: local\n  cluster:\n    server: {self.server}\n    certificate-authority: {pki.ca_cert}\n"
            f"users:\n- name: admin\n  user:\n    client-certificate: {pki.cert}\n    client-key: {pki.key}\n"
            "contexts:\n- name: local\n  context:\n    cluster: local\n    user: admin\n"
            "current-context: local\n"
        )

    def _write_kwok_config(self) -> None:
        stages = sorted(p for p in self.stages_dir.glob("*.yaml"))
        if not stages:
            raise LocalClusterError(f"no kwok stages in {self.stages_dir}")
        text = "\n---\n".join(p.read_text().strip() for p in stages)
        (self.dir / "kwok.yaml").write_text(text + "\n")

    # -- readiness ---------------------------------------------------------------------------------

    def _wait(self, what: str, deadline: float, check: Callable[[], bool]) -> None:
        while time.monotonic() < deadline:
            self._assert_alive()
            try:
                if check():
                    return
            except Exception:
                pass
            time.sleep(0.2)
        raise LocalClusterError(f"timed out waiting for {what} (logs: {self.dir / 'logs'})")

    def _assert_alive(self) -> None:
        for name, pid in self._pids():
            if not _alive(pid):
                tail = _tail(self.dir / "logs" / f"{name}.log")
                raise LocalClusterError(f"{name} exited during start: {tail}")

    def _readyz(self, pki: pki_mod.Pki) -> bool:
        ctx = ssl.create_default_context(cafile=str(pki.ca_cert))
        ctx.load_cert_chain(str(pki.cert), str(pki.key))
        with urllib.request.urlopen(f"{self.server}/readyz", context=ctx, timeout=2) as r:
            return r.status == 200

    def api(self):  # -> kubernetes.client.ApiClient
        """A kubernetes ApiClient for this cluster."""
        from kubernetes import config

        return config.new_client_from_config(config_file=str(self.kubeconfig))

    def _create_nodes(self) -> None:
        from kubernetes import client

        with self.api() as api:
            core = client.CoreV1Api(api)
            for i in range(self.nodes):
                body = {
                    "apiVersion": "v1", "kind": "Node",
                    "metadata": {
                        "name": f"kwok-node-{i}",
                        "annotations": {"kwok.x-k8s.io/node": "fake"},
                        "labels": {"type": "kwok", "kubernetes.io/hostname": f"kwok-node-{i}", "kubernetes.io/os": "linux"},
                    },
                    "status": {"allocatable": {"cpu": "32", "memory": "256Gi", "pods": "110"},
                               "capacity": {"cpu": "32", "memory": "256Gi", "pods": "110"}},
                }
                core.create_node(body)

    def _nodes_ready(self) -> bool:
        from kubernetes import client

        with self.api() as api:
            nodes = client.CoreV1Api(api).list_node().items
        ready = [
            n for n in nodes
            if any(c.type == "Ready" and c.status == "True" for c in n.status.conditions or [])
            and not any(t.key == "node.kubernetes.io/not-ready" for t in n.spec.taints or [])
        ]
        return len(ready) >= self.nodes

    def _default_sa_exists(self) -> bool:
        from kubernetes import client

        with self.api() as api:
            client.CoreV1Api(api).read_namespaced_service_account("default", "default")
        return True

    # -- stop --------------------------------------------------------------------------------------

    def stop(self, *, keep_logs: bool = False, grace: float = 5.0) -> None:
        """Stop the components one by one in reverse start order (clients before the API server, the API
        server before etcd, so each shuts down at once): TERM, KILL after `grace` seconds, wait. Then
        remove the cluster's state (all of `dir`, or all but logs/ with `keep_logs`)."""
        left = []
        for name, pid in reversed(self._pids()):
            if _alive(pid) and _owned(pid, self.dir):
                _signal(pid, signal.SIGTERM)
                if not _wait_gone(pid, grace):
                    _signal(pid, signal.SIGKILL)
                    if not _wait_gone(pid, 5.0):
                        left.append(f"{name}({pid})")
        if left:
            raise LocalClusterError(f"processes still running in {self.dir}: {', '.join(left)}")
        self._remove_state(keep_logs)
        self.ports = self.flux_ports = None

    def _remove_state(self, keep_logs: bool) -> None:
        """Remove only what a cluster writes (never anything else in `dir`), then `dir` if empty."""
        import shutil

        for entry in STATE_ENTRIES:
            path = self.dir / entry
            if keep_logs and entry == "logs":
                continue
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()
        if self.dir.is_dir() and not any(self.dir.iterdir()):
            self.dir.rmdir()

    def _pid_files(self) -> Iterator[Path]:
        pid_dir = self.dir / "pids"
        return (pid_dir / f"{n}.pid" for n in COMPONENTS if (pid_dir / f"{n}.pid").exists())

    def _pids(self) -> list[tuple[str, int]]:
        return [(f.stem, int(f.read_text().strip())) for f in self._pid_files()]
