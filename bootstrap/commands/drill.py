"""Restore drills: a throwaway cluster, a restore, evidence, and always a teardown.

A drill answers one question an auditor asks: "can this cluster be rebuilt from Git plus one key, and
how long does it take?"  `--inject` runs a negative control: the drill passes only if the restore fails
with the expected cause, proof that a green drill means something.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import statistics
import subprocess
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator

import pyrage

from bootstrap import __version__, helmcli
from bootstrap.errors import ApplyError, BootstrapError, UsageError
from bootstrap.commands import restore as pipeline
from bootstrap.commands.injections import INJECTIONS, Injection, prepare_injected_repo
from bootstrap.redact import Sensitive
from bootstrap.report.model import RunReport, Scrubber, to_dict
from bootstrap.report.run import Run, finish, new_report
from bootstrap.stages import source, substitute_from
from bootstrap.stages.keys import KeyRing

EVIDENCE_SCHEMA = 1
KIND_CONFIG = Path(__file__).resolve().parents[1] / "data" / "kind-config.yaml"  # package data: in the wheel
HISTORY_WINDOW = 5  # green runs the RTO is compared with
REGRESSION_FACTOR = 1.3  # slower than 130% of their median is a regression


@dataclass
class DrillOptions:
    cluster: str = "local"  # local | kind | current
    evidence: str | None = None
    junit: str | None = None
    history: str | None = None
    inject: str | None = None
    yes: bool = False
    flux: bool | None = None  # --cluster local: run the Flux controllers (None: when they are built)
    argocd: bool | None = None  # --cluster local: run Argo CD's controllers (None: with --engine argocd)
    kind_config: str | None = None


@dataclass
class Evidence:
    verdict: str = "fail"
    inject: str | None = None
    expected: dict | None = None
    cluster: dict = field(default_factory=dict)
    report: RunReport | None = None
    checks: list[str] = field(default_factory=list)
    regression: dict | None = None
    since_last_green: float | None = None

    def to_dict(self) -> dict[str, Any]:
        run = to_dict(self.report) if self.report else {}
        failures = [
            {"object": f"{o['kind']}/{o['namespace'] + '/' if o['namespace'] else ''}{o['name']}", "cause": o["message"]}
            for o in run.get("objects", [])
            if o.get("status") in ("Failed",) or o.get("action") == "failed"
        ]
        if run.get("error"):
            failures.append({"object": None, "cause": run["error"].get("message")})
        return {
            "schemaVersion": EVIDENCE_SCHEMA,
            "kind": "RestoreDrillEvidence",
            "verdict": self.verdict,
            "inject": self.inject,
            "expected": self.expected,
            "commit": run.get("commit"),
            "repo": run.get("repo"),
            "ref": run.get("ref"),
            "toolVersion": __version__,
            "cluster": self.cluster,
            "started": run.get("started"),
            "finished": run.get("finished"),
            "rtoSeconds": run.get("seconds"),
            "bootstrapSeconds": run.get("bootstrapSeconds"),
            "convergedSeconds": run.get("convergedSeconds"),
            "phases": run.get("phases", []),
            "objectsRestored": sum(
                1 for o in run.get("objects", []) if o.get("action") in ("created", "configured", "unchanged")
            ),
            "failures": failures,
            "checks": self.checks,
            "restoreResult": run.get("result"),
            "error": run.get("error"),
            "rtoRegression": self.regression,
            "secondsSinceLastGreen": self.since_last_green,
        }


# ---------------------------------------------------------------------------------------------- clusters


@contextmanager
def throwaway_cluster(kind: str, opts: DrillOptions, workdir: Path, confirm: Callable[[str], bool]) -> Iterator[dict]:
    """Yields {"kind", "kubeconfig", "context"}; tears down whatever it created, also on errors and Ctrl-C."""
    if kind == "local":
        # deferred: optional (drb_localcluster: only for --cluster local)
        from drb_localcluster import BUILD_HINT, LocalCluster, LocalClusterError, NotBuiltError, find_bin_dir

        try:
            flux = False if opts.flux is None and opts.argocd else _with_flux(opts.flux)  # Argo CD's drill: no Flux
            cluster = LocalCluster(workdir / "cluster", find_bin_dir(build=False), flux=flux)
        except NotBuiltError as err:
            raise UsageError(f"--cluster local: the control-plane binaries are not built in {err.bin_dir}",
                             hint=BUILD_HINT) from None
        except LocalClusterError as err:
            raise UsageError(f"--cluster local: {err}") from None
        argocd_bin = _argocd_bin() if opts.argocd else None  # before the cluster starts: not built, no drill
        try:
            try:
                cluster.start(timeout=180.0)  # a loaded CI machine can be slow; bounded all the same
                if argocd_bin is not None:
                    _start_argocd(cluster, argocd_bin)
            except LocalClusterError as err:
                raise ApplyError(f"--cluster local: the local cluster did not start: {err}") from None
            yield {"kind": "local", "kubeconfig": str(cluster.kubeconfig), "context": None}
        finally:
            cluster.stop()
    elif kind == "kind":
        if not shutil.which("kind"):
            raise UsageError("--cluster kind: the `kind` command is not installed")
        if subprocess.run(["docker", "info"], capture_output=True).returncode != 0:
            raise UsageError("--cluster kind: no Docker engine answers (`docker info` failed); use --cluster local")
        name = f"dr-drill-{os.getpid()}"
        kubeconfig = workdir / "kubeconfig"
        config = opts.kind_config or str(KIND_CONFIG)
        try:
            subprocess.run(
                ["kind", "create", "cluster", "--name", name, "--config", config, "--kubeconfig", str(kubeconfig),
                 "--wait", "120s"],
                check=True,
            )
            yield {"kind": "kind", "kubeconfig": str(kubeconfig), "context": f"kind-{name}"}
        finally:
            subprocess.run(["kind", "delete", "cluster", "--name", name, "--kubeconfig", str(kubeconfig)])
    elif kind == "current":
        yield {"kind": "current", "kubeconfig": None, "context": None}
    else:
        raise UsageError(f"--cluster {kind!r}: expected local, kind or current")


# ---------------------------------------------------------------------------------------------- injections


def update_history(path: Path, evidence: dict, now: datetime) -> tuple[dict | None, float | None]:
    """Append this drill to the history file; return (regression or None, seconds since the last green drill)."""
    try:
        history = json.loads(path.read_text()) if path.exists() else {"schemaVersion": 1, "runs": []}
        runs = history["runs"]
    except (OSError, ValueError, KeyError, TypeError):
        raise UsageError(f"--history {path}: not a drill history file") from None
    greens = [r for r in runs if r.get("verdict") == "pass" and not r.get("inject") and r.get("rtoSeconds")]
    regression = None
    rto = evidence.get("rtoSeconds")
    if greens and rto and not evidence.get("inject") and evidence["verdict"] == "pass":
        median = statistics.median(r["rtoSeconds"] for r in greens[-HISTORY_WINDOW:])
        if rto > REGRESSION_FACTOR * median:
            regression = {"rtoSeconds": rto, "medianSeconds": round(median, 3), "factor": round(rto / median, 2)}
    since = None
    if greens:
        last = datetime.fromisoformat(greens[-1]["finished"].replace("Z", "+00:00"))
        since = round((now - last).total_seconds(), 1)
    runs.append(
        {k: evidence.get(k) for k in ("finished", "verdict", "inject", "rtoSeconds", "commit", "toolVersion")}
        | {"cluster": evidence.get("cluster", {}).get("kind")}
    )
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(history, indent=2) + "\n")
    os.replace(tmp, path)
    return regression, since


def write_evidence(path: str, data: dict) -> None:
    target = Path(path)
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.chmod(tmp, 0o644)
    os.replace(tmp, target)


# ---------------------------------------------------------------------------------------------- the drill


CHECKS = [
    "clone at a pinned commit",
    "age key opens every encrypted file",
    "every SOPS MAC verified",
    "manifests validated before the first write",
    "key Secret installed",
    "objects applied in dependency order (server-side apply)",
    "CRDs Established and Namespaces Active before dependants",
    "rollouts verified with fast-fail",
]


def run_drill(restore_opts, drill: DrillOptions, progress, keyring, confirm: Callable[[str], bool], *,
              scrubber: Scrubber | None = None) -> Evidence:
    """Run one drill. Never raises for a restore failure: the verdict says it (and the evidence records it).
    `scrubber` is the one `progress` was built with: the drill's report shares it."""
    injection = INJECTIONS.get(drill.inject) if drill.inject else None
    if drill.inject and injection is None:
        raise UsageError(f"--inject {drill.inject!r}: expected one of {', '.join(INJECTIONS)}")
    if restore_opts.helm:  # before a cluster is made: no helm, no drill
        helmcli.find(restore_opts.helm_bin)
    substitute_from.load(restore_opts.substitute_from, keyring, ignore_mac=restore_opts.ignore_mac)  # as early
    if drill.cluster == "current" and not drill.yes:
        if not confirm("Restore into the cluster of your current kubeconfig context? This writes to it"):
            raise UsageError("--cluster current: not confirmed (pass --yes in CI)")

    evidence = Evidence(inject=drill.inject, checks=list(CHECKS))
    if injection:
        evidence.expected = {"exitCode": int(injection.exit_code), "cause": injection.cause}
    report = new_report("drill", restore_opts, scrubber=scrubber)
    error: BootstrapError | None = None
    restore_keyring = keyring
    old_term = signal.signal(signal.SIGTERM, _interrupt)
    try:
        with tempfile.TemporaryDirectory(prefix="dr-drill-") as tmp:
            work = Path(tmp)
            os.chmod(work, 0o700)
            opts = restore_opts
            if injection and injection.name == "wrong-key":
                restore_keyring = throwaway_keyring()
            elif injection and injection.name == "key-format":
                opts = _replace(opts, key_secret_key="age.key", allow_any_key_name=True, wait_gitops=True)
            elif injection:
                with source.checkout(
                    opts.repo_url, opts.ref, token_env=opts.token_env, ssh_key_file=opts.ssh_key_file,
                    known_hosts_file=opts.known_hosts_file,
                ) as co:
                    injected = prepare_injected_repo(injection.name, co.root, work / "injected")
                opts = _replace(opts, repo_url=str(injected), ref=None)
            setup_started = now()
            if drill.argocd is None:
                drill = replace(drill, argocd=opts.engine == "argocd")
            with throwaway_cluster(drill.cluster, drill, work, confirm) as target:
                report.started = now()  # the RTO is the restore's time, not the throwaway cluster's
                evidence.cluster["setupSeconds"] = round((report.started - setup_started).total_seconds(), 3)
                opts = _replace(
                    opts,
                    kubeconfig=target["kubeconfig"] or opts.kubeconfig,
                    context=target["context"] or opts.context,
                    yes=True,  # a throwaway cluster, or `current` after the drill's own question
                )
                evidence.cluster["kind"] = target["kind"]
                try:
                    pipeline.restore(opts, Run(report, progress), keyring=restore_keyring)
                except BootstrapError as err:
                    error = err
                finish(report, error)  # before the teardown: that is not part of the RTO
                evidence.cluster["kubernetesVersion"] = report.server_version
    except BootstrapError as err:  # the drill itself could not run (cluster, injection): still leave evidence
        error = err
    finally:
        signal.signal(signal.SIGTERM, old_term)
        if report.finished is None:
            finish(report, error)
        evidence.report = report
    evidence.verdict = verdict(injection, error)
    return evidence


def _with_flux(option: bool | None) -> bool:
    """--flux/--no-flux; unset: when drb_localcluster/data/flux.sh has built the controllers."""
    if option is not None:
        return option
    from drb_localcluster.flux import FluxBuildError, find_flux_bin_dir  # deferred: optional (--cluster local only)

    try:
        find_flux_bin_dir(build=False)
    except FluxBuildError:
        return False
    return True


def _argocd_bin() -> Path:
    """The Argo CD build (`make argocd`) and the redis the local cluster runs for --engine argocd."""
    # deferred: optional (drb_localcluster: only for --cluster local --engine argocd)
    from drb_localcluster.argocd import BUILD_HINT, REDIS_SERVER, ArgoCDError, find_argocd_bin_dir

    try:
        bin_dir = find_argocd_bin_dir(build=False)
    except ArgoCDError as err:
        raise UsageError(f"--cluster local --engine argocd: {err}") from None
    if not REDIS_SERVER.is_file():
        raise UsageError(f"--cluster local --engine argocd: {REDIS_SERVER} is missing", hint=BUILD_HINT)
    return bin_dir


def _start_argocd(cluster, bin_dir: Path) -> None:
    """Argo CD's controllers, repo-server and redis on the started local cluster (drb_localcluster.start_argocd)."""
    from drb_localcluster.argocd import ArgoCDError, start_argocd  # deferred: optional (--engine argocd only)

    try:
        start_argocd(cluster, bin_dir, timeout=180.0)
    except ArgoCDError as err:
        raise ApplyError(f"--cluster local: Argo CD did not start on the local cluster: {err}") from None


def verdict(injection: Injection | None, error: BootstrapError | None) -> str:
    """pass / fail of a drill (pure). A plain drill passes when the restore succeeded; a negative control
    only when the restore failed with the injection's exit code and a message naming its cause."""
    if injection is None:
        return "pass" if error is None else "fail"
    if error is None or error.exit_code != injection.exit_code:
        return "fail"
    said = "\n".join([str(error), *error.details]).lower()  # the summary, and every problem it sums up
    return "pass" if injection.cause in said else "fail"


def throwaway_keyring():
    """An age identity nobody encrypted anything for (the wrong-key negative control)."""
    identity = pyrage.x25519.Identity.generate()
    return KeyRing(
        identities=(identity,),
        recipients=(str(identity.to_public()),),
        source="a throwaway key (--inject wrong-key)",
        material=Sensitive(str(identity).encode()),
    )


def _interrupt(signum, frame):  # SIGTERM tears down like Ctrl-C
    raise KeyboardInterrupt


def _replace(opts, **changes):
    return replace(opts, **changes)


def now() -> datetime:
    return datetime.now(timezone.utc)


def verdict_line(evidence: dict) -> str:
    """One line for the operator: the verdict, the RTO, and what history says about it."""
    parts = [f"drill {evidence['verdict'].upper()}"]
    if evidence.get("inject"):
        parts.append(f"(negative control {evidence['inject']}: expected exit {evidence['expected']['exitCode']}"
                     f" with '{evidence['expected']['cause']}')")
    if evidence.get("rtoSeconds") is not None:
        parts.append(f"RTO {evidence['rtoSeconds']:.1f}s on {evidence['cluster'].get('kind', '?')}")
    if evidence.get("rtoRegression"):
        r = evidence["rtoRegression"]
        parts.append(f"REGRESSION: {r['factor']}x the median of recent green drills ({r['medianSeconds']}s)")
    if evidence.get("secondsSinceLastGreen") is not None:
        parts.append(f"last green drill {evidence['secondsSinceLastGreen'] / 3600:.1f}h ago")
    return "; ".join(parts)
