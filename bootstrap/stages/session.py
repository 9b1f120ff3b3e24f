"""Opening a run: the key, the clone (in the background while the modules load), the connection made only
when first needed, and the read-only half (`prepare`) — everything up to the first write.

Errors come in the order an operator fixes them: flags and the key file, the clone and `--path`, rendering
and decryption, and only then the kubeconfig and the API server.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from bootstrap.errors import BootstrapError
from bootstrap.commands.options import RestoreOptions
from bootstrap.stages.prepare import Prepared, prepare

if TYPE_CHECKING:
    from bootstrap.clock import WaitClock
    from bootstrap.stages.keys import KeyRing
    from bootstrap.kube import Cluster
    from bootstrap.report.progress import Progress
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


def load_key(opts: RestoreOptions, progress: Progress) -> KeyRing:
    """The age identities, from --age-key-file or the sops environment variables; warnings shown."""
    from bootstrap.stages.keys import load_keyring

    keyring = load_keyring(opts.age_key_file)
    for warning in keyring.warnings:
        progress.warning(warning)
    return keyring


def connect(cluster: Cluster) -> str:
    """The server's version, with discovery fetched and cached (validation needs it next).

    Transient API failures (a restarting API server, a webhook not answering yet) are retried for as long
    as the run may wait at all: the cluster's retry deadline is --timeout, not a fixed window.
    """
    version = cluster.server_version()
    cluster.is_namespaced("v1", "Namespace")
    return version


@contextmanager
def prepared_run(opts: RestoreOptions, run: Run, keyring: KeyRing, *,
                 offline: bool = False) -> Iterator[tuple[Prepared, Cluster | None]]:
    """Clone, render and decrypt, connect, validate and plan; yields (prepared, cluster). Nothing is written.

    `offline` (plan without --server-dry-run): no cluster at all; the cluster yielded is None."""
    from bootstrap.stages import provenance

    if opts.verify_signatures:
        provenance.check_allowed_signers(opts.verify_signatures)
    # The checkout lives only until the plan is made (nothing reads it later); removing its files runs in the
    # background while the restore goes on, and is waited for before the run ends.
    removals: list[Future[None]] = []

    def remove_later(path: Path) -> None:
        from bootstrap.stages.source import remove_tree

        removals.append(in_background(lambda: remove_tree(path), name="remove-checkout"))

    try:
        yield from _prepared(opts, run, keyring, remove_later, offline=offline)
    finally:
        for removal in removals:
            removal.result()


def _prepared(opts: RestoreOptions, run: Run, keyring: KeyRing, remove_later: Callable[[Path], None], *,
              offline: bool) -> Iterator[tuple[Prepared, Cluster | None]]:
    from bootstrap.stages import provenance

    with ExitStack() as clone:
        with run.phase("clone"):
            checkout, cluster = _clone_while_loading(opts, clone, remove_later, run.report.clock, offline=offline)
        run.report.commit = checkout.commit
        run.report.repo = checkout.url
        run.progress.note(f"cloned {checkout.url} at {checkout.commit[:12]}")
        if opts.verify_signatures:
            with run.phase("verify-signature"):
                signer = provenance.verify_commit(checkout.root, checkout.commit, opts.verify_signatures)
            run.report.signer = signer.to_dict()
            run.progress.note(f"commit {checkout.commit[:12]} signed by {signer}")

        @functools.cache
        def live() -> Cluster:
            """The cluster, connected on first use: rendering and decryption come first, so a bad --path or
            key is reported before a kubeconfig problem."""
            if isinstance(cluster, BootstrapError):
                raise cluster
            run.report.server_version = connect(cluster)
            return cluster

        prepared = prepare(opts, run, checkout, keyring, None if offline else live)
    if offline:
        yield prepared, None
        return
    with live() as connected:
        yield prepared, connected.with_scrub(run.report.scrubber)  # errors about objects are scrubbed from here on


def _clone_while_loading(opts: RestoreOptions, stack: ExitStack, remove_later: Callable[[Path], None],
                         clock: WaitClock, *, offline: bool = False) -> tuple[Checkout, Cluster | BootstrapError | None]:
    """(checkout, cluster client or the error making it, or None offline): git clones in a background thread
    while this one loads the modules the rest of the run needs and reads the kubeconfig. Nothing here talks to
    the cluster, so nothing keeps a failed clone waiting; the thread is always joined. Errors keep the order
    of the steps: a failed clone first, a kubeconfig problem only where connecting begins (after rendering)."""
    from bootstrap.stages import source

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
    cluster: Cluster | BootstrapError | None = None
    try:
        from bootstrap import manifests, sops  # noqa: F401  (loaded while git works)
        from bootstrap.stages import plan, playbook
        from bootstrap.engines.flux import render as repository  # noqa: F401

        if not offline:
            from bootstrap import kube  # noqa: F401
            from bootstrap.stages import verify as rollout

            try:
                cluster = kube.Cluster(opts.kubeconfig, opts.context, clock=clock,
                                       max_connections=max(16, opts.concurrency), retry_deadline=opts.timeout,
                                       concurrency=opts.concurrency)
            except BootstrapError as exc:
                cluster = exc
    except BaseException:
        cloning.result()
        raise
    return cloning.result(), cluster
