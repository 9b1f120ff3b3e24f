"""Command line: wires options to the pipeline. No logic lives here.

Exit codes (stable): 0 ok, 1 check found problems, 2 usage, 3 source, 4 key/decryption/validation
(nothing written), 5 apply, 6 rollout failed or timed out, 130 interrupted.
"""

from __future__ import annotations

import os
import sys
from typing import Optional

import typer

from bootstrap import __version__
from bootstrap.errors import BootstrapError, ExitCode

app = typer.Typer(
    name="dr-bootstrap",
    help=(
        "Rebuild a GitOps-managed Kubernetes cluster from its Git repository and one age key.\n\n"
        "Exit codes: 0 ok, 1 check found problems, 2 usage, 3 source (git), "
        "4 key/decryption/validation (nothing written), 5 apply, 6 rollout failed or timed out."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"dr-bootstrap {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Optional[bool] = typer.Option(
        None, "--version", callback=_version_callback, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Rebuild a GitOps-managed Kubernetes cluster from its Git repository and one age key."""


# -- decrypt / check (SOPS): imports stay inside the commands so `decrypt` starts fast ----------------


@app.command("decrypt")
def decrypt_command(
    file: str = typer.Argument(..., help="SOPS-encrypted file."),
    age_key_file: Optional[str] = typer.Option(
        None, "--age-key-file", help="age identities file ('-' = stdin); default: sops' SOPS_AGE_* sources."
    ),
    input_type: Optional[str] = typer.Option(None, "--input-type", help="yaml|json|dotenv|ini|binary (default: by suffix)."),
    output_type: Optional[str] = typer.Option(None, "--output-type", help="yaml|json|dotenv|ini|binary (default: input type)."),
    ignore_mac: bool = typer.Option(False, "--ignore-mac", help="Do not verify the file MAC (prints a warning)."),
) -> None:
    """Print the plaintext of a SOPS file, as `sops decrypt` does (nothing else on stdout)."""
    from bootstrap.sops.command import run_decrypt

    run_decrypt(file, age_key_file, input_type, output_type, ignore_mac)


def _decrypt_fast_path(argv: list[str]) -> bool:
    """Run a plain `decrypt …` without building the typer app (its start-up dominates); False = not handled."""
    if argv[:1] != ["decrypt"]:
        return False
    from bootstrap.sops.command import parse_decrypt_args, run_decrypt

    options = parse_decrypt_args(argv[1:])
    if options is None:
        return False
    run_decrypt(**options)
    return True


@app.command("check")
def check_command(
    paths: list[str] = typer.Argument(..., help="Files or directories (a GitOps checkout)."),
    age_key_file: Optional[str] = typer.Option(
        None, "--age-key-file", help="age identities file ('-' = stdin); default: sops' SOPS_AGE_* sources."
    ),
    output: str = typer.Option("table", "--output", help="table (humans) or json (machines)."),
) -> None:
    """Offline preflight: does every SOPS file open with the key and verify; are secrets or keys committed?"""
    import json

    from bootstrap.check import check_paths, render_table
    from bootstrap.errors import UsageError
    from bootstrap.keys import load_keyring

    if output not in ("table", "json"):
        raise UsageError(f"--output must be table or json, not {output!r}")
    report = check_paths(paths, load_keyring(age_key_file))
    if output == "json":
        typer.echo(json.dumps(report.to_dict(), indent=2))
    else:
        render_table(report)
    raise typer.Exit(0 if report.ok else 1)


# -- restore / plan / verify / drill ------------------------------------------------------------------

_REPO = typer.Argument(..., help="Git URL (https, ssh, file://) or local path of the GitOps repository.")
_KEY = typer.Option(
    None, "--age-key-file", help="age identities file ('-' = stdin); default: SOPS_AGE_KEY, SOPS_AGE_KEY_FILE, ..."
)
_REF = typer.Option(None, "--ref", help="Branch, tag or commit SHA to restore (default: the remote HEAD).")
_PATH = typer.Option(".", "--path", help="Directory inside the repo holding the bootstrap set.")
_PLAYBOOK = typer.Option(None, "--playbook", help="Playbook file (default: dr-bootstrap.yaml at --path, if any).")
_KUBECONFIG = typer.Option(None, "--kubeconfig", help="Kubeconfig file (default: $KUBECONFIG, ~/.kube/config).")
_CONTEXT = typer.Option(None, "--context", help="Kubeconfig context (default: the current context).")
_KEY_SECRET = typer.Option("flux-system/sops-age", "--key-secret", help="NAMESPACE/NAME of the Secret the age key goes into.")
_KEY_SECRET_KEY = typer.Option("age.agekey", "--key-secret-key", help="Data key in that Secret (Flux reads *.agekey).")
_ANY_KEY = typer.Option(False, "--allow-any-key-name", help="Accept a --key-secret-key not ending in .agekey.")
_TIMEOUT = typer.Option(600.0, "--timeout", help="Seconds to wait for gates and rollouts (per phase unless the playbook says).")
_TOKEN_ENV = typer.Option("GIT_TOKEN", "--token-env", help="Environment variable holding an HTTPS token for the clone.")
_SSH_KEY = typer.Option(None, "--ssh-key-file", help="SSH deploy key for ssh:// clones (host keys are checked).")
_KNOWN_HOSTS = typer.Option(None, "--known-hosts-file", help="known_hosts file for --ssh-key-file clones.")
_IGNORE_MAC = typer.Option(False, "--ignore-mac", help="Emergency only: do not verify SOPS MACs (prints a warning).")
_COMMITTED = typer.Option(False, "--allow-committed-keys", help="Restore even if the repo contains an age private key.")
_CONCURRENCY = typer.Option(32, "--concurrency", help="Objects applied at once within a wave (requests in flight; the API server queues any excess).")
_REPORT = typer.Option(None, "--report", help="Write a JSON report (phases, objects, timings) to this file.")
_JUNIT = typer.Option(None, "--junit", help="Write a JUnit XML report to this file.")
_OUTPUT = typer.Option("human", "--output", "-o", help="human (live progress) or json (the report on stdout).")
_SIGNERS = typer.Option(
    None, "--verify-signatures", metavar="ALLOWED_SIGNERS_FILE",
    help="Refuse the commit unless SSH-signed by a key in this allowed signers file (ssh-keygen format).",
)


def _restore_options(params: dict):
    """RestoreOptions from a command's parameters: each one named like an option field is taken as is."""
    from dataclasses import fields

    from bootstrap.pipeline import RestoreOptions

    names = {f.name for f in fields(RestoreOptions)}
    return RestoreOptions(**{name: value for name, value in params.items() if name in names})


@app.command("restore")
def restore_command(
    repo_url: str = _REPO,
    age_key_file: Optional[str] = _KEY,
    ref: Optional[str] = _REF,
    path: str = _PATH,
    playbook: Optional[str] = _PLAYBOOK,
    kubeconfig: Optional[str] = _KUBECONFIG,
    context: Optional[str] = _CONTEXT,
    key_secret: str = _KEY_SECRET,
    key_secret_key: str = _KEY_SECRET_KEY,
    allow_any_key_name: bool = _ANY_KEY,
    timeout: float = _TIMEOUT,
    dry_run: bool = typer.Option(False, "--dry-run", help="Server-side dry run: validate every write, persist nothing."),
    recreate: bool = typer.Option(False, "--recreate", help="Delete and recreate objects whose immutable fields changed."),
    restart_consumers: bool = typer.Option(
        False, "--restart-consumers", help="Roll workloads already in the cluster that use a restored Secret."
    ),
    token_env: str = _TOKEN_ENV,
    ssh_key_file: Optional[str] = _SSH_KEY,
    known_hosts_file: Optional[str] = _KNOWN_HOSTS,
    verify_signatures: Optional[str] = _SIGNERS,
    ignore_mac: bool = _IGNORE_MAC,
    allow_committed_keys: bool = _COMMITTED,
    concurrency: int = _CONCURRENCY,
    report: Optional[str] = _REPORT,
    junit: Optional[str] = _JUNIT,
    output: str = _OUTPUT,
) -> None:
    """Restore a cluster: clone, install the age key Secret, decrypt and validate, apply in order, verify rollouts.

    Everything is decrypted and validated before the first write: a bad key, a tampered file or an invalid
    manifest exits 4 with nothing written. Safe to re-run: server-side apply converges.

    Example: dr-bootstrap restore git@github.com:acme/fleet.git --ref v1.4.2 --path clusters/prod
    --age-key-file ~/age.agekey --report restore.json --junit restore.xml
    """
    from bootstrap.runner import run_restore

    run_restore(
        _restore_options(locals()),
        report_path=report, junit_path=junit, output=output,
    )


@app.command("plan")
def plan_command(
    repo_url: str = _REPO,
    age_key_file: Optional[str] = _KEY,
    ref: Optional[str] = _REF,
    path: str = _PATH,
    playbook: Optional[str] = _PLAYBOOK,
    kubeconfig: Optional[str] = _KUBECONFIG,
    context: Optional[str] = _CONTEXT,
    server_dry_run: bool = typer.Option(False, "--server-dry-run", help="Also have the API server validate every object."),
    token_env: str = _TOKEN_ENV,
    ssh_key_file: Optional[str] = _SSH_KEY,
    known_hosts_file: Optional[str] = _KNOWN_HOSTS,
    verify_signatures: Optional[str] = _SIGNERS,
    ignore_mac: bool = _IGNORE_MAC,
    allow_committed_keys: bool = _COMMITTED,
    report: Optional[str] = _REPORT,
    output: str = _OUTPUT,
) -> None:
    """Print the ordered restore plan (phases, waves, objects) without writing to the cluster."""
    from bootstrap.runner import run_plan

    run_plan(
        _restore_options(locals()),
        report_path=report, output=output,
    )


@app.command("verify")
def verify_command(
    kubeconfig: Optional[str] = _KUBECONFIG,
    context: Optional[str] = _CONTEXT,
    namespace: list[str] = typer.Option([], "--namespace", "-n", help="Namespace to verify (repeatable; default: all)."),
    timeout: float = _TIMEOUT,
    report: Optional[str] = _REPORT,
    junit: Optional[str] = _JUNIT,
    output: str = _OUTPUT,
) -> None:
    """Verify rollouts of Deployments, StatefulSets, DaemonSets and Jobs, failing fast with the cause."""
    from bootstrap.runner import run_verify

    run_verify(kubeconfig, context, namespace, timeout, report_path=report, junit_path=junit, output=output)


@app.command("drill")
def drill_command(
    repo_url: str = _REPO,
    age_key_file: Optional[str] = _KEY,
    ref: Optional[str] = _REF,
    path: str = _PATH,
    playbook: Optional[str] = _PLAYBOOK,
    cluster: str = typer.Option("local", "--cluster", help="local (built-in control plane), kind, or current (asks first)."),
    kubeconfig: Optional[str] = _KUBECONFIG,
    context: Optional[str] = _CONTEXT,
    evidence: Optional[str] = typer.Option(None, "--evidence", help="Write the drill evidence (JSON) here, pass or fail."),
    junit: Optional[str] = _JUNIT,
    history: Optional[str] = typer.Option(None, "--history", help="Append to this history file; flags RTO regressions."),
    inject: Optional[str] = typer.Option(
        None, "--inject", help="Negative control: wrong-key, tampered-file, missing-crd, crashloop, missing-secret-key."
    ),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask before restoring into --cluster current."),
    timeout: float = _TIMEOUT,
    token_env: str = _TOKEN_ENV,
    ssh_key_file: Optional[str] = _SSH_KEY,
    known_hosts_file: Optional[str] = _KNOWN_HOSTS,
    verify_signatures: Optional[str] = _SIGNERS,
    output: str = _OUTPUT,
) -> None:
    """Restore drill: create a throwaway cluster, restore into it, check, always tear down, leave evidence.

    Exits 0 when the drill passes (with --inject: when the restore fails with the expected cause), else the
    restore's exit code (1 for a negative control that did not fail as expected).
    """
    from bootstrap.drill import DrillOptions
    from bootstrap.runner import run_drill

    run_drill(
        _restore_options(locals()),
        DrillOptions(cluster=cluster, evidence=evidence, junit=junit, history=history, inject=inject, yes=yes),
        output=output,
    )


def main() -> None:
    """Console entry point: run the app, turn every known failure into one line and an exit code.

    Usage errors are click's own (exit 2). Anything else unforeseen prints only its type: the message
    of an unexpected exception could carry data.
    """
    try:
        if not _decrypt_fast_path(sys.argv[1:]):
            app()
    except BootstrapError as err:
        typer.echo(f"error: {err}", err=True)
        sys.exit(int(err.exit_code))
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)
    except Exception as err:
        if os.environ.get("DR_BOOTSTRAP_DEBUG"):
            raise
        typer.echo(f"internal error: {type(err).__name__} (set DR_BOOTSTRAP_DEBUG=1 for a traceback)", err=True)
        sys.exit(int(ExitCode.FAILED))
