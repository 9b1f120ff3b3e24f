"""The restore pipeline: source → keys → sops → manifests → plan → kube → rollout → report.

Each stage is a function of the previous stage's output; this module only sequences them, times them as
report phases, and guarantees the one promise that spans stages: everything that can be found wrong is
found before the first write to the cluster.
"""

from __future__ import annotations

import base64
import os
import re
import stat
import threading
import time
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

from bootstrap import __version__
from bootstrap.errors import BootstrapError, UsageError, ValidationError
from bootstrap.model import Manifest, ObjectRef
from bootstrap.progress import Progress
from bootstrap.report import ObjectRecord, PhaseRecord, RunReport, Scrubber

COMMITTED_KEY = re.compile(rb"AGE-SECRET-KEY-1[0-9A-Z]{20,}")
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"  # the API server sets it on every Namespace


@dataclass
class RestoreOptions:
    """Everything `restore` and `plan` take from the command line."""

    repo_url: str
    age_key_file: str | None = None
    ref: str | None = None
    path: str = "."
    playbook: str | None = None
    kubeconfig: str | None = None
    context: str | None = None
    key_secret: str = "flux-system/sops-age"
    key_secret_key: str = "age.agekey"
    allow_any_key_name: bool = False
    timeout: float = 600.0
    dry_run: bool = False
    server_dry_run: bool = False
    recreate: bool = False
    restart_consumers: bool = False
    ignore_mac: bool = False
    allow_committed_keys: bool = False
    concurrency: int = 32
    token_env: str = "GIT_TOKEN"
    ssh_key_file: str | None = None
    known_hosts_file: str | None = None
    verify_signatures: str | None = None  # allowed signers file: the commit must carry a signature from it

    def key_secret_ref(self) -> tuple[str, str]:
        namespace, sep, name = self.key_secret.partition("/")
        if not sep or not namespace or not name or "/" in name:
            raise UsageError(f"--key-secret {self.key_secret!r}: expected NAMESPACE/NAME")
        return namespace, name


@dataclass
class Prepared:
    """What the read-only half of the pipeline produced: a validated plan, and the values to scrub."""

    plan: object  # bootstrap.plan.Plan
    scrubber: Scrubber


class Run:
    """Times the phases of one run into a RunReport and reports them to a Progress."""

    def __init__(self, report: RunReport, progress: Progress):
        self.report = report
        self.progress = progress
        self.records: dict[tuple[str, str, str, str], ObjectRecord] = {}  # (phase, kind, namespace, name)
        self.phase_t0 = time.monotonic()

    @contextmanager
    def phase(self, name: str) -> Iterator[PhaseRecord]:
        record = PhaseRecord(name=name, started=_now(), finished=None, seconds=0.0, result="running")
        self.report.phases.append(record)
        self.progress.phase_started(name)
        t0 = self.phase_t0 = time.monotonic()
        waited = self.report.clock.seconds()
        try:
            yield record
        except BaseException:
            record.result = "failed"
            raise
        else:
            record.result = "succeeded"
        finally:
            record.finished = _now()
            record.seconds = round(time.monotonic() - t0, 3)
            record.cluster_wait_seconds = round(min(self.report.clock.seconds() - waited, record.seconds), 3)
            self.progress.phase_finished(record)

    def record(self, rec: ObjectRecord) -> None:
        self.report.objects.append(rec)
        self.records[(rec.phase, rec.kind, rec.namespace, rec.name)] = rec


def _now() -> datetime:
    return datetime.now(timezone.utc)


# ---------------------------------------------------------------------------------------------- prepare


def secret_values(manifests: list[Manifest]) -> set[str]:
    """Plaintext values of every Secret in the set, for scrubbing anything we print or write."""
    values: set[str] = set()
    for m in manifests:
        if m.ref.kind != "Secret":
            continue
        for k, v in (m.body.get("stringData") or {}).items():
            if isinstance(v, str):
                values.add(v)
        for k, v in (m.body.get("data") or {}).items():
            if isinstance(v, str):
                values.add(v)
                try:
                    values.add(base64.b64decode(v, validate=True).decode("utf-8"))
                except Exception:
                    pass
    return values


def with_namespace_name_label(manifests: list[Manifest]) -> list[Manifest]:
    """Namespaces as applied: with the `kubernetes.io/metadata.name` label the API server sets anyway.

    A bare Namespace gives server-side apply no field to own, so the server keeps no managedFields entry
    for us: the next apply writes a `before-first-apply` entry and no re-run can report `unchanged`.
    """
    out = []
    for m in manifests:
        labels = m.labels
        if m.ref.kind == "Namespace" and m.ref.api_version == "v1" and NAMESPACE_NAME_LABEL not in labels:
            metadata = {**m.body["metadata"], "labels": {**labels, NAMESPACE_NAME_LABEL: m.ref.name}}
            m = Manifest(ref=m.ref, body={**m.body, "metadata": metadata}, source=m.source, encrypted=m.encrypted)
        out.append(m)
    return out


def find_committed_keys(root: Path) -> list[str]:
    """Repo-relative files holding age private key text (never followed through symlinks), in path order."""
    hits = []
    for dirpath, dirnames, filenames in os.walk(root):  # symlinked directories are listed, never entered
        dirnames[:] = [d for d in dirnames if d != ".git"]
        for name in filenames:
            path = os.path.join(dirpath, name)
            try:
                st = os.lstat(path)
                if not stat.S_ISREG(st.st_mode) or st.st_size > 16 * 1024 * 1024:
                    continue
                with open(path, "rb") as f:
                    data = f.read()
            except OSError:
                continue
            if COMMITTED_KEY.search(data):
                hits.append(os.path.relpath(path, root))
    return sorted(hits, key=lambda rel: rel.split(os.sep))


def prepare(opts: RestoreOptions, run: Run, checkout, keyring, cluster) -> Prepared:
    """Decrypt, parse, validate and plan: every check that needs no write. Raises before anything is applied."""
    from bootstrap import manifests as mf
    from bootstrap import plan as planning
    from bootstrap import playbook as pb
    from bootstrap import sops

    root = checkout.resolve(opts.path)
    if opts.ignore_mac:
        run.progress.note("warning: --ignore-mac: SOPS MACs are NOT verified; an edited file would be applied")
    with run.phase("decrypt"):
        if not opts.allow_committed_keys:
            committed = find_committed_keys(checkout.root)
            if committed:
                raise ValidationError(
                    f"{committed[0]}: the repository contains an age private key (AGE-SECRET-KEY-…)"
                    + (f" and {len(committed) - 1} more file(s)" if len(committed) > 1 else ""),
                    hint="rotate that key; pass --allow-committed-keys to restore anyway",
                )

        def decrypt(rel: str, data: bytes, fmt: str) -> list[dict]:
            return sops.decrypt(data, keyring, fmt=fmt, name=rel, ignore_mac=opts.ignore_mac).documents

        loaded = mf.load_manifests(root, decrypt=decrypt, is_encrypted=sops.is_encrypted)
        loaded.manifests = with_namespace_name_label(loaded.manifests)
        run.progress.note(
            f"loaded {len(loaded.manifests)} objects from {root.relative_to(checkout.root) or '.'} "
            f"({len(loaded.encrypted_files)} encrypted file(s) decrypted, {len(loaded.skipped)} skipped)"
        )
        for skipped in loaded.skipped:
            run.progress.note(f"skipped {skipped.path}: {skipped.reason}")
    scrubber = Scrubber(secret_values(loaded.manifests))
    with run.phase("validate"):
        mf.validate_manifests(
            loaded.manifests,
            known_kind=(lambda av, kind: cluster.resource(av, kind) is not None) if cluster else None,
        )
        found = Path(opts.playbook) if opts.playbook else pb.find_playbook(root)
        playbook = pb.load_playbook(found, base=opts.path) if found else None
        plan = planning.build_plan(
            loaded.manifests,
            playbook,
            is_namespaced=cluster.is_namespaced if cluster else (lambda api_version, kind: None),
        )
    return Prepared(plan=plan, scrubber=scrubber)


# ---------------------------------------------------------------------------------------------- restore


_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_SECRET_KEY = re.compile(r"^[-._a-zA-Z0-9]{1,253}$")


def check_key_secret_options(opts: RestoreOptions) -> tuple[str, str]:
    """Flag checks that must fail before anything is cloned or written."""
    key_ns, key_name = opts.key_secret_ref()
    if not _DNS_LABEL.match(key_ns):
        raise UsageError(f"--key-secret {opts.key_secret!r}: namespace {key_ns!r} is not a DNS label (lowercase, digits, '-')")
    if not _DNS_SUBDOMAIN.match(key_name):
        raise UsageError(f"--key-secret {opts.key_secret!r}: name {key_name!r} is not a DNS subdomain (lowercase, digits, '-', '.')")
    if not _SECRET_KEY.match(opts.key_secret_key):
        raise UsageError(f"--key-secret-key {opts.key_secret_key!r}: not a valid Secret key (letters, digits, '-', '_', '.')")
    if opts.concurrency < 1:
        raise UsageError(f"--concurrency {opts.concurrency}: must be at least 1")
    if not opts.timeout > 0:
        raise UsageError(f"--timeout {opts.timeout:g}: must be a positive number of seconds")
    if not opts.allow_any_key_name and not opts.key_secret_key.endswith(".agekey"):
        raise UsageError(
            f"--key-secret-key {opts.key_secret_key!r}: Flux only reads age keys from entries ending in .agekey",
            hint="use e.g. age.agekey, or pass --allow-any-key-name",
        )
    return key_ns, key_name


@contextmanager
def prepared_run(opts: RestoreOptions, run: Run, keyring) -> Iterator[tuple[Prepared, object]]:
    """Clone, connect, decrypt, validate and plan; yields (prepared, cluster). Nothing is written."""
    from bootstrap import provenance

    if opts.verify_signatures:
        provenance.check_allowed_signers(opts.verify_signatures)
    # The checkout lives only until the plan is made (nothing reads it later); removing its files runs in the
    # background while the restore goes on, and is waited for before the run ends.
    removals: list[InBackground] = []

    def remove_later(path: Path) -> None:
        from bootstrap.source import remove_tree

        removals.append(InBackground(lambda: remove_tree(path), name="remove-checkout"))

    try:
        yield from _prepared(opts, run, keyring, remove_later)
    finally:
        for removal in removals:
            removal.result()


def _prepared(opts: RestoreOptions, run: Run, keyring, remove_later) -> Iterator[tuple[Prepared, object]]:
    from bootstrap import provenance

    with ExitStack() as clone:
        with run.phase("clone"):
            checkout, cluster = _clone_while_loading(opts, clone, remove_later)
        run.report.commit = checkout.commit
        run.report.repo = checkout.url
        run.progress.note(f"cloned {checkout.url} at {checkout.commit[:12]}")
        if opts.verify_signatures:
            with run.phase("verify-signature"):
                signer = provenance.verify_commit(checkout.root, checkout.commit, opts.verify_signatures)
            run.report.signer = signer.to_dict()
            run.progress.note(f"commit {checkout.commit[:12]} signed by {signer}")
        if isinstance(cluster, BootstrapError):
            raise cluster
        cluster.clock = run.report.clock
        run.report.server_version = connect(cluster)
        prepared = prepare(opts, run, checkout, keyring, cluster)
    with cluster:
        cluster.scrub = prepared.scrubber
        run.report.scrubber = prepared.scrubber
        run.progress.scrubber = prepared.scrubber
        yield prepared, cluster


def _clone_while_loading(opts: RestoreOptions, stack: ExitStack, remove_later):
    """(checkout, cluster client or the error making it): git clones in a background thread while this one
    loads the modules the rest of the run needs and reads the kubeconfig. Nothing here talks to the cluster,
    so nothing keeps a failed clone waiting; the thread is always joined. Errors keep the order of the steps
    run one after the other: a failed clone first, a kubeconfig problem only where connecting begins (after
    the signature check)."""
    from bootstrap import source

    cloning = InBackground(
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
        from bootstrap import kube, manifests, plan, playbook, rollout, sops  # noqa: F401  (loaded while git works)

        try:
            cluster = kube.Cluster(opts.kubeconfig, opts.context, max_connections=max(16, opts.concurrency),
                                   retry_deadline=opts.timeout)
        except BootstrapError as exc:
            cluster = exc
    except BaseException:
        cloning.result()
        raise
    return cloning.result(), cluster


def connect(cluster) -> str:
    """The server's version, with discovery fetched and cached (validation needs it next).

    Transient API failures (a restarting API server, a webhook not answering yet) are retried for as long
    as the run may wait at all: the cluster's retry deadline is --timeout, not a fixed window.
    """
    version = cluster.server_version()
    cluster.is_namespaced("v1", "Namespace")
    return version


class InBackground:
    """`fn()` in a thread; `result()` waits for its value or re-raises its exception.

    Callers always call `result()` before the run ends: a thread still inside C code when the interpreter
    exits can abort it.
    """

    def __init__(self, fn, *, name: str):
        self._fn = fn
        self._value = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=name)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._value = self._fn()
        except BaseException as exc:  # handed to the caller of result()
            self._error = exc

    def result(self):
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._value


def load_key(opts: RestoreOptions, progress: Progress):
    """The age identities, from --age-key-file or the sops environment variables; warnings shown."""
    from bootstrap.keys import load_keyring

    keyring = load_keyring(opts.age_key_file)
    for warning in keyring.warnings:
        progress.note(f"warning: {warning}")
    return keyring


def restore(opts: RestoreOptions, progress: Progress, report: RunReport, *, keyring=None) -> RunReport:
    """Run a whole restore. Fills `report` as it goes (also when it raises)."""
    from bootstrap import kube, rollout

    run = Run(report, progress)
    key_ns, key_name = check_key_secret_options(opts)
    keyring = keyring or load_key(opts, progress)
    report.key_recipient = keyring.recipients[0] if keyring.recipients else None

    with prepared_run(opts, run, keyring) as (prepared, cluster):
        plan = prepared.plan
        if opts.dry_run:
            progress.note("dry run: the API server validates every object; nothing is persisted")
        with run.phase("install-key"):
            outcome = kube.install_key_secret(
                cluster,
                key_ns,
                key_name,
                opts.key_secret_key,
                keyring.material,
                dry_run=opts.dry_run,
                allow_any_key=opts.allow_any_key_name,
            )
            _on_applied(run, "install-key", outcome)

        restored_secrets: list[ObjectRef] = []
        for phase in plan.phases:
            with run.phase(f"{phase.name}: apply"):
                for wave in phase.waves:
                    progress.note(f"wave {wave.index} ({wave.label}): {len(wave.manifests)} object(s)")
                    if opts.dry_run:
                        dry_run_wave(cluster, run, f"{phase.name}: apply", wave.manifests,
                                     concurrency=opts.concurrency, recreate=opts.recreate)
                        continue
                    kube.apply_wave(
                        cluster,
                        wave.manifests,
                        concurrency=opts.concurrency,
                        recreate=opts.recreate,
                        on_result=lambda m, o, phase=phase: _on_applied(run, f"{phase.name}: apply", o),
                    )
                    wait_gates(cluster, wave.manifests, timeout=opts.timeout, on_wait=progress.note)
                    restored_secrets += [m.ref for m in wave.manifests if m.ref.kind == "Secret"]
            if opts.dry_run or not phase.verify.rollouts:
                continue
            refs = [m.ref for w in phase.waves for m in w.manifests]
            with run.phase(f"{phase.name}: verify"):
                rollout.verify_rollouts(
                    cluster,
                    refs,
                    timeout=phase.timeout or phase.verify.timeout or opts.timeout,
                    on_status=lambda ref, health, phase=phase: _on_status(run, f"{phase.name}: verify", ref, health),
                )

        if not opts.dry_run and restored_secrets:
            restored = {m.ref for p in plan.phases for w in p.waves for m in w.manifests}
            outside = [c for c in rollout.find_consumers(cluster, restored_secrets) if c not in restored]
            if outside:
                with run.phase("consumers"):
                    progress.note(f"{len(outside)} workload(s) already in the cluster use restored Secrets")
                    if opts.restart_consumers:
                        rollout.restart_consumers(cluster, outside)
                        progress.note(f"restarted {len(outside)} consumer(s)")
                    rollout.verify_rollouts(
                        cluster,
                        outside,
                        timeout=opts.timeout,
                        on_status=lambda ref, health: _on_status(run, "consumers", ref, health),
                    )
    report.result = "succeeded"
    return report


def wait_gates(cluster, manifests: list[Manifest], *, timeout: float, on_wait) -> None:
    """After a wave: its CRDs Established (discovery refreshed) and its Namespaces Active."""
    from bootstrap import kube

    crds = [m.ref.name for m in manifests if m.ref.kind == "CustomResourceDefinition"]
    namespaces = {m.ref.name: m.body for m in manifests if m.ref.kind == "Namespace"}
    if crds:
        kube.wait_established(cluster, crds, timeout)
    if namespaces:
        kube.wait_namespaces_active(
            cluster,
            namespaces,
            timeout,
            manifests=namespaces,
            on_wait=lambda name: on_wait(f"Namespace/{name} is terminating: waiting for it to go, then recreating it"),
        )


def dry_run_wave(cluster, run: Run, phase: str, manifests: list[Manifest], *, concurrency: int,
                 recreate: bool = False) -> None:
    """Server-side dry run of one wave. The server can only check an object whose kind it knows and whose
    namespace exists: the others (custom resources of CRDs this restore installs, members of namespaces it
    creates) are recorded as `skipped` with the reason, never silently dropped."""
    from bootstrap import kube

    exists: dict[str, bool] = {}

    def unchecked(m: Manifest) -> str | None:
        namespaced = cluster.is_namespaced(m.ref.api_version, m.ref.kind)
        if namespaced is None:
            return f"not checked: the server does not know {m.ref.kind} ({m.ref.api_version}) before its CRD is applied"
        if namespaced and m.ref.namespace:
            if m.ref.namespace not in exists:
                exists[m.ref.namespace] = cluster.get(ObjectRef("v1", "Namespace", None, m.ref.namespace)) is not None
            if not exists[m.ref.namespace]:
                return f"not checked: Namespace/{m.ref.namespace} does not exist before the restore creates it"
        return None

    checkable = []
    for m in manifests:
        reason = unchecked(m)
        if reason is None:
            checkable.append(m)
            continue
        rec = ObjectRecord(phase=phase, kind=m.ref.kind, namespace=m.ref.namespace or "", name=m.ref.name,
                           action="skipped", status="", seconds=0.0, message=reason)
        run.record(rec)
        run.progress.object_applied(rec)
    kube.apply_wave(cluster, checkable, concurrency=concurrency, dry_run=True, recreate=recreate,
                    on_result=lambda m, o: _on_applied(run, phase, o))


def _on_applied(run: Run, phase: str, outcome) -> None:
    ref = outcome.ref
    rec = ObjectRecord(
        phase=phase,
        kind=ref.kind,
        namespace=ref.namespace or "",
        name=ref.name,
        action=outcome.action,
        status="applied",
        seconds=round(outcome.seconds, 3),
        message=outcome.message or "",
    )
    run.record(rec)
    run.progress.object_applied(rec)


def _on_status(run: Run, phase: str, ref: ObjectRef, health) -> None:
    """A verify phase's record of one object: its latest status, and how long it took to get there."""
    rec = run.records.get((phase, ref.kind, ref.namespace or "", ref.name))
    if rec is None:
        rec = ObjectRecord(phase=phase, kind=ref.kind, namespace=ref.namespace or "", name=ref.name, action="verified")
        run.record(rec)
    rec.status = health.status.value
    rec.message = health.message
    rec.seconds = round(time.monotonic() - run.phase_t0, 3)
    run.progress.object_status(rec)


def new_report(command: str, opts: RestoreOptions | None = None) -> RunReport:
    report = RunReport(command=command, tool_version=__version__)
    if opts is not None:
        report.repo, report.ref, report.path = opts.repo_url, opts.ref, opts.path
    return report


def finish(report: RunReport, error: BootstrapError | None) -> RunReport:
    report.finish(error=error)
    return report


# ---------------------------------------------------------------------------------------------- plan, verify


def plan_only(opts: RestoreOptions, progress: Progress, report: RunReport) -> list[str]:
    """Everything `restore` does before its first write; optionally a server-side dry run of every object.

    Returns the rendered plan lines.
    """
    from bootstrap.plan import render_plan

    run = Run(report, progress)
    check_key_secret_options(opts)
    keyring = load_key(opts, progress)
    report.key_recipient = keyring.recipients[0] if keyring.recipients else None
    with prepared_run(opts, run, keyring) as (prepared, cluster):
        lines = render_plan(prepared.plan)
        if opts.server_dry_run:
            with run.phase("server-dry-run"):
                for phase in prepared.plan.phases:
                    for wave in phase.waves:
                        dry_run_wave(cluster, run, "server-dry-run", wave.manifests, concurrency=opts.concurrency)
    report.result = "succeeded"
    return lines


def verify_only(
    kubeconfig: str | None,
    context: str | None,
    namespaces: list[str],
    timeout: float,
    progress: Progress,
    report: RunReport,
) -> RunReport:
    """Rollout verification of the workloads already in the cluster (all namespaces unless given)."""
    from bootstrap import kube, rollout

    run = Run(report, progress)
    with kube.Cluster(kubeconfig, context) as cluster:
        cluster.clock = report.clock
        report.server_version = cluster.server_version()
        with run.phase("verify"):
            refs = list_workloads(cluster, namespaces)
            progress.note(f"verifying {len(refs)} workload(s)")
            rollout.verify_rollouts(
                cluster, refs, timeout=timeout, on_status=lambda ref, h: _on_status(run, "verify", ref, h)
            )
    report.result = "succeeded"
    return report


VERIFIED_KINDS = (("apps/v1", "Deployment"), ("apps/v1", "StatefulSet"), ("apps/v1", "DaemonSet"), ("batch/v1", "Job"))


def list_workloads(cluster, namespaces: list[str]) -> list[ObjectRef]:
    """Deployments, StatefulSets, DaemonSets and Jobs in the given namespaces (all when none given)."""
    refs = []
    for namespace in namespaces or [None]:
        for api_version, kind in VERIFIED_KINDS:
            for obj in cluster.list(api_version, kind, namespace):
                meta = obj["metadata"]
                refs.append(ObjectRef(api_version, kind, meta.get("namespace"), meta["name"]))
    return sorted(set(refs))
