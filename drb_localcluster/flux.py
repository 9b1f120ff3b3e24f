"""The real Flux controllers (source-controller, kustomize-controller, helm-controller) as host processes
of a local cluster, built by data/flux.sh (`make flux`). See docs/local-cluster.md.

A restore applies Flux's own manifests (gotk-components: CRDs, the flux-system namespace, Deployments). The
Deployments' pods stay simulated by kwok; these host processes do the reconciling, against the cluster's
API server with the admin kubeconfig. A controller exits when the CRDs it watches are missing (it gives up
after controller-runtime's cache-sync timeout, or at once when it indexes a kind the API does not serve),
and they appear only when the restore applies them. So each controller runs under a small supervisor
(`python -m drb_localcluster flux-controller`): it waits until the controller's CRDs are Established,
starts the controller, and when the controller exits on its own, waits for the CRDs again and restarts it
(backoff 1 s doubling to 30 s). The supervisor is the cluster's component (pid file, log); it stops its
controller on SIGTERM, and the kernel kills the controller if the supervisor dies (PR_SET_PDEATHSIG).
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from .procs import build_script_path

BUILD_SCRIPT = Path(__file__).resolve().parent / "data" / "flux.sh"
#: the Flux namespace the controllers consider their own (RUNTIME_NAMESPACE in Flux's Deployments)
NAMESPACE = "flux-system"

_SOURCE_CRDS = tuple(
    f"{plural}.source.toolkit.fluxcd.io"
    for plural in ("gitrepositories", "helmrepositories", "helmcharts", "buckets", "ocirepositories", "externalartifacts")
)
#: controller -> the CRDs it watches (its own kinds and the source kinds it reads artifacts from)
CONTROLLER_CRDS: Mapping[str, tuple[str, ...]] = {
    "source-controller": _SOURCE_CRDS,
    "kustomize-controller": ("kustomizations.kustomize.toolkit.fluxcd.io", *_SOURCE_CRDS),
    "helm-controller": ("helmreleases.helm.toolkit.fluxcd.io", *_SOURCE_CRDS),
}
CONTROLLERS = tuple(CONTROLLER_CRDS)

log = logging.getLogger(__name__)


class FluxBuildError(RuntimeError):
    """flux.sh failed or its binaries are missing."""


def find_flux_bin_dir(*, build: bool = False, what: str = "all") -> Path:
    """flux.sh's versioned bin dir ($DRB_FLUX_BIN overrides). With `build`, run the script first
    (`what`: "all", or "cli" for only flux and kustomize). Raises FluxBuildError when binaries are missing."""
    args = ([] if what == "all" else [what]) if build else ["--print-bin-dir"]
    bin_dir = build_script_path(BUILD_SCRIPT, args, FluxBuildError)
    wanted = ("flux", "kustomize") if what == "cli" else ("flux", "kustomize", *CONTROLLERS)
    missing = [b for b in wanted if not (bin_dir / b).is_file()]
    if missing:
        raise FluxBuildError(f"Flux binaries not built in {bin_dir} ({', '.join(missing)}): run `make flux`")
    return bin_dir


@dataclass(frozen=True)
class FluxPorts:
    """Loopback ports of the controllers: source-controller's artifact server, and each health endpoint."""

    storage: int
    health: Mapping[str, int]

    @classmethod
    def pick(cls, free_port: Callable[[], int]) -> FluxPorts:
        ports: list[int] = []
        while len(ports) < 1 + len(CONTROLLERS):
            port = free_port()
            if port not in ports:
                ports.append(port)
        return cls(storage=ports[0], health=dict(zip(CONTROLLERS, ports[1:])))


def controllers_ready(ports: FluxPorts) -> bool:
    """True when every controller's health endpoint answers /readyz with 200."""
    for port in ports.health.values():
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as response:
            if response.status != 200:
                return False
    return True


def controller_argv(name: str, bin_dir: Path, state_dir: Path, ports: FluxPorts, extra: Sequence[str] = ()) -> list[str]:
    """The command line of one controller: no leader election (one replica), no metrics, health on its
    loopback port, no events address (there is no notification-controller), all namespaces watched, and
    for source-controller the artifact storage under `state_dir` served (and advertised) on 127.0.0.1."""
    argv = [
        str(bin_dir / name), "--watch-all-namespaces=true", "--log-level=info", "--log-encoding=json",
        "--enable-leader-election=false", "--metrics-addr=0", f"--health-addr=127.0.0.1:{ports.health[name]}",
        "--events-addr=",
    ]
    if name == "source-controller":
        addr = f"127.0.0.1:{ports.storage}"
        argv += [f"--storage-path={state_dir / 'source-controller' / 'storage'}", f"--storage-addr={addr}",
                 f"--storage-adv-addr={addr}"]
    return argv + list(extra)


def controller_env(name: str, kubeconfig: Path, state_dir: Path, base: Mapping[str, str] = os.environ) -> dict[str, str]:
    """The controller's environment: the cluster's kubeconfig, Flux's namespace, and every scratch and
    cache directory (temp files, Helm's homes, sigstore's TUF root) under the cluster's `state_dir`."""
    scratch = state_dir / name
    env = {k: v for k, v in base.items() if not k.startswith(("KUBECONFIG", "HELM_"))}
    env.update(
        KUBECONFIG=str(kubeconfig), RUNTIME_NAMESPACE=NAMESPACE, TMPDIR=str(scratch / "tmp"),
        HOME=str(scratch / "home"), HELM_CACHE_HOME=str(scratch / "helm" / "cache"),
        HELM_CONFIG_HOME=str(scratch / "helm" / "config"), HELM_DATA_HOME=str(scratch / "helm" / "data"),
        TUF_ROOT=str(scratch / "sigstore"),
    )
    return env


def supervisor_argv(name: str, kubeconfig: Path, controller: Sequence[str]) -> list[str]:
    """The supervisor's command line (its `--kubeconfig` names the cluster dir, which `stop` checks)."""
    crds = ",".join(CONTROLLER_CRDS[name])
    return [sys.executable, "-m", "drb_localcluster", "flux-controller", f"--name={name}",
            f"--kubeconfig={kubeconfig}", f"--crds={crds}", "--", *controller]


def missing_crds(wanted: Iterable[str], crds: Iterable[Mapping]) -> list[str]:
    """Names in `wanted` without an Established=True CRD among `crds` (CustomResourceDefinition dicts)."""
    established = {
        crd.get("metadata", {}).get("name")
        for crd in crds
        if any(c.get("type") == "Established" and c.get("status") == "True"
               for c in (crd.get("status") or {}).get("conditions") or [])
    }
    return [name for name in wanted if name not in established]


def next_backoff(previous: float, ran_for: float, *, initial: float = 1.0, ceiling: float = 30.0,
                 healthy_after: float = 60.0) -> float:
    """Delay before a restart: doubles after each quick exit, starts over after a run of `healthy_after` s."""
    if ran_for >= healthy_after or previous <= 0:
        return initial
    return min(previous * 2, ceiling)


@dataclass
class Supervisor:
    """Runs one controller whenever its CRDs are Established, until told to stop (see the module doc)."""

    name: str
    argv: Sequence[str]
    crds: Sequence[str]
    list_crds: Callable[[], list[Mapping]]
    env: Mapping[str, str]
    poll: float = 0.5
    grace: float = 4.0
    initial_backoff: float = 1.0
    stopping: bool = False
    child: subprocess.Popen | None = None

    def stop(self, *_: object) -> None:
        self.stopping = True
        if self.child is not None and self.child.poll() is None:
            self.child.send_signal(signal.SIGTERM)

    def run(self) -> int:
        backoff = 0.0
        while not self.stopping:
            if not self._wait_for_crds() or self.stopping:  # told to stop while listing: start nothing
                break
            started = time.monotonic()
            for scratch in (self.env["TMPDIR"], self.env["HOME"]):
                Path(scratch).mkdir(parents=True, exist_ok=True)
            log.info("%s: CRDs established, starting %s", self.name, self.argv[0])
            self.child = subprocess.Popen(self.argv, env=dict(self.env), stdin=subprocess.DEVNULL,
                                          preexec_fn=_die_with_parent)
            if self.stopping:  # a TERM between the check and the start
                self.stop()
            code = self._wait_child()
            if self.stopping:
                break
            backoff = next_backoff(backoff, time.monotonic() - started, initial=self.initial_backoff)
            log.warning("%s exited with code %s; restarting once its CRDs are established (in %.0fs)",
                        self.name, code, backoff)
            self._sleep(backoff)
        log.info("%s: stopped", self.name)
        return 0

    def _wait_for_crds(self) -> bool:
        said = False
        while not self.stopping:
            try:
                missing = missing_crds(self.crds, self.list_crds())
            except Exception as exc:  # API server not reachable yet or restarting: try again
                missing = [f"(cannot list CRDs: {str(exc).splitlines()[0][:120]})"]
            if not missing:
                return True
            if not said:
                log.info("%s: waiting for CRDs %s", self.name, ", ".join(missing))
                said = True
            self._sleep(self.poll)
        return False

    def _wait_child(self) -> int:
        assert self.child is not None
        deadline = None
        while True:
            try:
                return self.child.wait(timeout=0.2)
            except subprocess.TimeoutExpired:
                if self.stopping:
                    deadline = deadline or time.monotonic() + self.grace
                    if time.monotonic() > deadline:
                        self.child.kill()

    def _sleep(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not self.stopping and time.monotonic() < deadline:
            time.sleep(min(0.1, seconds))


def run_supervisor(name: str, kubeconfig: str, crds: Sequence[str], argv: Sequence[str]) -> int:
    """The `flux-controller` command: supervise `argv` until SIGTERM/SIGINT."""
    from kubernetes import client, config

    api = config.new_client_from_config(config_file=kubeconfig)
    ext = client.ApiextensionsV1Api(api)

    def list_crds() -> list[Mapping]:
        response = ext.list_custom_resource_definition(_preload_content=False, _request_timeout=10)
        return json.loads(response.data)["items"]

    state_dir = Path(kubeconfig).resolve().parent / "flux"
    supervisor = Supervisor(name, argv, crds, list_crds, controller_env(name, Path(kubeconfig), state_dir))
    signal.signal(signal.SIGTERM, supervisor.stop)
    signal.signal(signal.SIGINT, supervisor.stop)
    try:
        return supervisor.run()
    finally:
        api.close()


def _die_with_parent() -> None:
    from .cluster import _die_with_parent as die

    die()
