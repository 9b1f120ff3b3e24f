"""The source stage, and the run's way to the cluster: the clone (in the background while the modules the
run needs load), the signature check, and the cluster client, made at once but connected only when first
needed. Everything here is read-only.

Errors come in the order an operator fixes them: flags and the key file, the clone and `--path`, rendering
and decryption, and only then the kubeconfig and the API server (`Opened.connect`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from bootstrap.stages import provenance, source
from bootstrap.stages.source import remove_tree
from bootstrap.model import ObjectRef

if TYPE_CHECKING:
    from bootstrap.commands.options import RestoreOptions
    from bootstrap.engines.base import ClusterLookup
    from bootstrap.kube import Cluster
    from bootstrap.report.run import Run
    from bootstrap.stages.source import Checkout

T = TypeVar("T")


def in_background(fn: Callable[[], T], *, name: str) -> Future[T]:
    """`fn()` in its own thread. Callers always take `.result()` before the run ends: a thread still inside
    C code when the interpreter exits can abort it."""
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
    try:
        return pool.submit(fn)
    finally:
        pool.shutdown(wait=False)


def connect(cluster: Cluster) -> str:
    """The server's version, with discovery fetched and cached (validation needs it next).

    Transient API failures (a restarting API server, a webhook not answering yet) are retried for as long
    as the run may wait at all: the cluster's retry deadline is --timeout, not a fixed window.
    """
    version = cluster.server_version()
    cluster.is_namespaced("v1", "Namespace")
    return version


@dataclass(frozen=True)
class SourceOptions:
    """What the source stage and the cluster client take from the command line."""

    repo_url: str
    ref: str | None = None
    token_env: str = "GIT_TOKEN"
    ssh_key_file: str | None = None
    known_hosts_file: str | None = None
    verify_signatures: str | None = None
    kubeconfig: str | None = None
    context: str | None = None
    concurrency: int = 32
    timeout: float = 600.0  # the cluster's retry deadline

    @classmethod
    def of(cls, opts: RestoreOptions) -> SourceOptions:
        return cls(opts.repo_url, opts.ref, opts.token_env, opts.ssh_key_file, opts.known_hosts_file,
                   opts.verify_signatures, opts.kubeconfig, opts.context, opts.concurrency, opts.timeout)


@dataclass
class Opened:
    """The checkout (until `release_checkout`) and the cluster: its client made and connected on first use,
    so that a kubeconfig problem is reported after the rendering, as the operator fixes things."""

    checkout: Checkout
    run: Run
    options: SourceOptions
    offline: bool
    _release: Callable[[], None]
    _connected: Cluster | None = field(default=None, init=False)

    def connect(self) -> Cluster:
        """The cluster (connected on first call); its errors about objects are scrubbed."""
        if self.offline:
            raise RuntimeError("an offline run has no cluster")
        if self._connected is None:
            opts = self.options
            client = self.run.make_cluster(opts.kubeconfig, opts.context, clock=self.run.report.clock,
                                           max_connections=max(16, opts.concurrency), retry_deadline=opts.timeout,
                                           concurrency=opts.concurrency)
            try:
                self.run.report.server_version = connect(client)
            except BaseException:
                client.close()
                raise
            self._connected = client.with_scrub(self.run.report.scrubber)
        return self._connected

    def lookup(self) -> ClusterLookup | None:
        """substituteFrom data read from the cluster, connecting only if a value is found nowhere else."""
        return cluster_lookup(None if self.offline else (lambda ref: self.connect().get(ref)))

    def release_checkout(self) -> None:
        """Nothing reads the checkout after the plan is made: its files are removed in the background."""
        self._release()

    def close(self) -> None:
        if self._connected is not None:
            self._connected.close()


@contextmanager
def opened(opts: SourceOptions, run: Run, *, offline: bool = False) -> Iterator[Opened]:
    """Clone (and verify the commit's signature) while the run's modules load and the cluster client is
    made. On exit: the checkout removed (waited for), the cluster closed."""
    if opts.verify_signatures:
        provenance.check_allowed_signers(opts.verify_signatures)
    removals: list[Future[None]] = []

    def remove_later(path: Path) -> None:
        removals.append(in_background(lambda: remove_tree(path), name="remove-checkout"))

    try:
        with ExitStack() as clone:
            with run.phase("clone"):
                checkout = _clone_while_loading(opts, clone, remove_later, offline=offline)
            run.report.commit = checkout.commit
            run.report.repo = checkout.url
            run.progress.note(f"cloned {checkout.url} at {checkout.commit[:12]}")
            if opts.verify_signatures:
                with run.phase("verify-signature"):
                    signer = provenance.verify_commit(checkout.root, checkout.commit, opts.verify_signatures)
                run.report.signer = signer.to_dict()
                run.progress.note(f"commit {checkout.commit[:12]} signed by {signer}")
            opening = Opened(checkout, run, opts, offline, clone.close)
            try:
                yield opening
            finally:
                opening.close()
    finally:
        for removal in removals:
            removal.result()


def _clone_while_loading(opts: SourceOptions, stack: ExitStack, remove_later: Callable[[Path], None], *,
                         offline: bool = False) -> Checkout:
    """The checkout: git clones in a background thread while this one loads the modules the rest of the run
    needs. Nothing here talks to the cluster, so nothing keeps a failed clone waiting; the thread is always
    joined."""
    cloning = in_background(
        lambda: stack.enter_context(
            source.checkout(
                opts.repo_url,
                opts.ref,
                token_env=opts.token_env,
                ssh_key_file=opts.ssh_key_file,
                known_hosts_file=opts.known_hosts_file,
                remove=remove_later,
            )
        ),
        name="clone",
    )
    try:
        # deferred: clone (what the rest of the run needs, loaded while git clones)
        from bootstrap import sops  # noqa: F401
        from bootstrap.kustomize import builder  # noqa: F401
        from bootstrap.stages import order  # noqa: F401

        if not offline:
            # deferred: clone (and the kube client, for a run that connects, with its HTTP library: 0.2 s)
            import aiohttp  # noqa: F401

            from bootstrap import kube  # noqa: F401
            from bootstrap.stages import verify  # noqa: F401
    except BaseException:
        cloning.result()
        raise
    return cloning.result()


def cluster_lookup(get_object: Callable[[ObjectRef], Mapping | None] | None) -> ClusterLookup | None:
    """substituteFrom data read from the cluster (None offline: nothing is there to read)."""
    if get_object is None:
        return None
    from bootstrap.engines.flux.postbuild import data_of  # deferred: clone (loaded with Flux's render)

    def lookup(kind: str, namespace: str, name: str):
        live = get_object(ObjectRef("v1", kind, namespace, name))
        return data_of(live) if live is not None else None

    return lookup
