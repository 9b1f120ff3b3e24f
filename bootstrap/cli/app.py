"""Command line: wires options to the pipeline. No logic lives here.

The console script enters through `bootstrap.cli.entry`, which answers `--version`, `version`, `--help`,
`check` and `decrypt` without building this app; everything else arrives at `run_app`.  Every command
takes `-o/--output human|json|yaml`; times are durations (`90s`, `10m`, `1h30m`, or plain seconds).
Exit codes: `bootstrap.errors.ExitCode` (listed in the root `--help`), 130 when interrupted.  The pieces that
are not commands (output words, the duration parser, the usage-line command class, exit code texts) are in
`bootstrap.cli.support`, the options restore, plan and drill share in `bootstrap.cli.options`.  After changing
any help text or option: `python -m bootstrap.cli.helpcache` (it also writes the options the fast path parses).
"""

from __future__ import annotations

import os
import sys
from typing import Optional

import typer
from typer.completion import completion_init, get_completion_script

from bootstrap import __version__
from bootstrap.cli import options as opt
from bootstrap.cli.support import CLICK_ERROR, EXIT_CODES, Command, Output, Shell, verbose_option
from bootstrap.cli.guard import COMPLETE_VAR, guarded

app = typer.Typer(
    name="dr-bootstrap",
    help=(
        "Rebuild a GitOps-managed Kubernetes cluster from its Git repository and one age key.\n\n"
        "Every command takes -o/--output human|json|yaml; durations are like 90s, 10m, 1h30m (a plain "
        "number is seconds).\n\n"
        "\b\nExit codes:\n" + "\n".join(f"  {code:<4} {meaning}" for code, meaning in EXIT_CODES)
    ),
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain help, as kubectl's: no boxes, at most 80 columns, copy-pasteable
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"dr-bootstrap {__version__}")
        raise typer.Exit()


@app.callback(invoke_without_command=True)
def _root(
    ctx: typer.Context,
    version: Optional[bool] = typer.Option(
        None, "--version", callback=_version_callback, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    if ctx.invoked_subcommand is None:  # no command: the help, as `--help` prints it
        typer.echo(ctx.get_help())
        raise typer.Exit(0)


# -- decrypt / check (SOPS) ------------------------------------------------------------------------------


@app.command("decrypt", cls=Command)
def decrypt_command(
    file: str = typer.Argument(..., metavar="FILE", help="SOPS-encrypted file."),
    age_key_file: Optional[str] = typer.Option(
        None, "--age-key-file", metavar="FILE", help="age identities file ('-' = stdin); default: sops' SOPS_AGE_* sources."
    ),
    input_type: Optional[str] = typer.Option(None, "--input-type", metavar="TYPE", help="yaml|json|dotenv|ini|binary (default: by suffix)."),
    output_type: Optional[str] = typer.Option(None, "--output-type", metavar="TYPE", help="yaml|json|dotenv|ini|binary (default: input type)."),
    ignore_mac: bool = typer.Option(False, "--ignore-mac", help="Do not verify the file MAC (prints a warning)."),
    output: Output = typer.Option(
        Output.human, "--output", "-o", metavar="FORMAT", help="human (the file's own format), json or yaml (as --output-type)."
    ),
) -> None:
    """Print the plaintext of a SOPS file, like `sops decrypt`.

    Nothing else goes to stdout; warnings go to stderr.
    """
    from bootstrap.sops.command import run_decrypt  # deferred: start-up (a command's code loads when it runs)

    run_decrypt(file, age_key_file, input_type, output_type, ignore_mac, output.value)


@app.command("check", cls=Command)
def check_command(
    paths: list[str] = typer.Argument(..., metavar="PATH...", help="Files or directories (a GitOps checkout)."),
    age_key_file: Optional[str] = typer.Option(
        None, "--age-key-file", metavar="FILE", help="age identities file ('-' = stdin); default: sops' SOPS_AGE_* sources."
    ),
    source: Optional[str] = typer.Option(
        None, "--source", metavar="[NAMESPACE/]NAME",
        help="The GitRepository that is this repository, whose Flux Kustomizations are checked (default: the one "
        "the root Kustomizations use, else flux-system).",
    ),
    output: Output = typer.Option(
        Output.human, "--output", "-o", metavar="FORMAT", help="human (columns and a summary), json or yaml."
    ),
) -> None:
    """Offline preflight of the SOPS files in a GitOps checkout.

    Does every SOPS file open with the key and verify; is each rendered by a Flux Kustomization that
    decrypts it; are plaintext secrets or age keys committed? Exits 1 only for what would break a
    restore or leak a secret; everything else is a warning (stderr). Exits 0 when all is well.

    \b
    Example:
      dr-bootstrap check clusters/prod --age-key-file ~/dr/age.agekey
    """
    from bootstrap.commands.check_output import run_check  # deferred: start-up (a command's code loads when it runs)

    raise typer.Exit(run_check(paths, age_key_file, output.value, source))


# -- restore / plan / verify / drill: the shared options are in bootstrap.cli.options -------------------


@app.command("restore", cls=Command)
def restore_command(
    repo_url: str = opt.REPO,
    age_key_file: Optional[str] = opt.KEY,
    ref: Optional[str] = opt.REF,
    paths: list[str] = opt.PATH,
    kustomizations: list[str] = opt.KUSTOMIZATION,
    source: Optional[str] = opt.SOURCE,
    engine: str = opt.ENGINE,
    excludes: list[str] = opt.EXCLUDE,
    helm: list[str] = opt.HELM,
    helm_bin: Optional[str] = opt.HELM_BIN,
    substitute_from: list[str] = opt.SUBSTITUTE_FROM,
    kustomize_bin: Optional[str] = opt.KUSTOMIZE_BIN,
    playbook: Optional[str] = opt.PLAYBOOK,
    kubeconfig: Optional[str] = opt.KUBECONFIG,
    context: Optional[str] = opt.CONTEXT,
    key_secret: str = opt.KEY_SECRET,
    key_secret_key: str = opt.KEY_SECRET_KEY,
    allow_any_key_name: bool = opt.ANY_KEY,
    timeout: float = opt.TIMEOUT,
    dry_run: bool = opt.DRY_RUN,
    recreate: bool = opt.RECREATE,
    restart_consumers: bool = opt.RESTART_CONSUMERS,
    yes: bool = opt.YES,
    wait_gitops: bool = opt.WAIT_GITOPS,
    token_env: str = opt.TOKEN_ENV,
    ssh_key_file: Optional[str] = opt.SSH_KEY,
    known_hosts_file: Optional[str] = opt.KNOWN_HOSTS,
    verify_signatures: Optional[str] = opt.SIGNERS,
    ignore_mac: bool = opt.IGNORE_MAC,
    allow_committed_keys: bool = opt.COMMITTED,
    concurrency: int = opt.CONCURRENCY,
    report: Optional[str] = opt.REPORT,
    junit: Optional[str] = opt.JUNIT,
    output: Output = opt.OUTPUT,
    verbose: bool = verbose_option(),
) -> None:
    """Restore a cluster from its GitOps repository and age key.

    Clone, render each --path as Flux renders it (the real kustomize, Flux Kustomizations with
    --kustomization), decrypt SOPS in memory, validate, install the age key Secret, apply in order,
    verify rollouts.

    Everything is rendered, decrypted and validated before the first write: a bad key, a tampered file
    or an invalid manifest exits 4 with nothing written. Safe to re-run: server-side apply converges.

    \b
    Examples:
      dr-bootstrap restore git@github.com:acme/fleet.git --ref v1.4.2 \\
          --path clusters/prod --age-key-file ~/dr/age.agekey \\
          --report restore.json --junit restore.xml
      dr-bootstrap restore https://github.com/me/home-ops.git \\
          --path kubernetes/flux/vars --path kubernetes/flux/config \\
          --kustomization all --age-key-file ~/dr/age.agekey
    """
    from bootstrap.cli.runner import run_restore  # deferred: start-up (a command's code loads when it runs)

    run_restore(
        opt.restore_options(locals()),
        report_path=report, junit_path=junit, output=output.value, verbose=verbose,
    )


@app.command("plan", cls=Command)
def plan_command(
    repo_url: str = opt.REPO,
    age_key_file: Optional[str] = opt.KEY,
    ref: Optional[str] = opt.REF,
    paths: list[str] = opt.PATH,
    kustomizations: list[str] = opt.KUSTOMIZATION,
    source: Optional[str] = opt.SOURCE,
    engine: str = opt.ENGINE,
    excludes: list[str] = opt.EXCLUDE,
    helm: list[str] = opt.HELM,
    helm_bin: Optional[str] = opt.ignored(opt.HELM_BIN),
    substitute_from: list[str] = opt.SUBSTITUTE_FROM,
    kustomize_bin: Optional[str] = opt.KUSTOMIZE_BIN,
    playbook: Optional[str] = opt.PLAYBOOK,
    kubeconfig: Optional[str] = opt.KUBECONFIG,
    context: Optional[str] = opt.CONTEXT,
    key_secret: str = opt.KEY_SECRET,
    key_secret_key: str = opt.KEY_SECRET_KEY,
    allow_any_key_name: bool = opt.ANY_KEY,
    server_dry_run: bool = typer.Option(False, "--server-dry-run", help="Also have the API server validate every object."),
    timeout: float = opt.PLAN_TIMEOUT,
    recreate: bool = opt.PLAN_RECREATE,
    concurrency: int = opt.PLAN_CONCURRENCY,
    dry_run: bool = opt.ignored(opt.DRY_RUN),
    restart_consumers: bool = opt.ignored(opt.RESTART_CONSUMERS),
    yes: bool = opt.ignored(opt.YES),
    wait_gitops: bool = opt.ignored(opt.WAIT_GITOPS),
    token_env: str = opt.TOKEN_ENV,
    ssh_key_file: Optional[str] = opt.SSH_KEY,
    known_hosts_file: Optional[str] = opt.KNOWN_HOSTS,
    verify_signatures: Optional[str] = opt.SIGNERS,
    ignore_mac: bool = opt.IGNORE_MAC,
    allow_committed_keys: bool = opt.COMMITTED,
    report: Optional[str] = opt.REPORT,
    junit: Optional[str] = opt.JUNIT,
    output: Output = opt.OUTPUT,
    verbose: bool = verbose_option(),
) -> None:
    """Print the ordered restore plan; no cluster needed.

    Phases, waves and objects, as restore would apply them (rendered, decrypted, validated). Without
    --server-dry-run no cluster is contacted: kinds without a CRD in the set are marked.

    Takes every restore flag, so a restore command line runs as a plan; those that only matter when
    writing (--dry-run, --restart-consumers, --yes, --wait-gitops, --helm-bin) are accepted and ignored.

    \b
    Example:
      dr-bootstrap plan git@github.com:acme/fleet.git --ref v1.4.2 \\
          --path clusters/prod --age-key-file ~/dr/age.agekey -o yaml
    """
    from bootstrap.cli.runner import run_plan  # deferred: start-up (a command's code loads when it runs)

    run_plan(
        opt.restore_options(locals()),
        report_path=report, junit_path=junit, output=output.value, verbose=verbose,
    )


@app.command("verify", cls=Command)
def verify_command(
    kubeconfig: Optional[str] = opt.KUBECONFIG,
    context: Optional[str] = opt.CONTEXT,
    namespace: list[str] = typer.Option([], "--namespace", "-n", metavar="NAMESPACE", help="Namespace to verify (repeatable; default: all)."),
    timeout: float = opt.TIMEOUT,
    report: Optional[str] = opt.REPORT,
    junit: Optional[str] = opt.JUNIT,
    output: Output = opt.OUTPUT,
    verbose: bool = verbose_option(),
) -> None:
    """Verify rollouts, failing fast with the cause.

    Deployments, StatefulSets, DaemonSets, Jobs and anything with a Ready condition.

    \b
    Example:
      dr-bootstrap verify -n shop -n payments --timeout 5m --junit verify.xml
    """
    from bootstrap.cli.runner import run_verify  # deferred: start-up (a command's code loads when it runs)

    run_verify(kubeconfig, context, namespace, timeout, report_path=report, junit_path=junit, output=output.value,
               verbose=verbose)


@app.command("drill", cls=Command)
def drill_command(
    repo_url: str = opt.REPO,
    age_key_file: Optional[str] = opt.KEY,
    ref: Optional[str] = opt.REF,
    paths: list[str] = opt.PATH,
    kustomizations: list[str] = opt.KUSTOMIZATION,
    source: Optional[str] = opt.SOURCE,
    engine: str = opt.ENGINE,
    excludes: list[str] = opt.EXCLUDE,
    helm: list[str] = opt.HELM,
    helm_bin: Optional[str] = opt.HELM_BIN,
    substitute_from: list[str] = opt.SUBSTITUTE_FROM,
    kustomize_bin: Optional[str] = opt.KUSTOMIZE_BIN,
    playbook: Optional[str] = opt.PLAYBOOK,
    cluster: str = typer.Option("local", "--cluster", metavar="CLUSTER", help="local (built-in control plane), kind, or current (asks first)."),
    kubeconfig: Optional[str] = opt.KUBECONFIG,
    context: Optional[str] = opt.CONTEXT,
    evidence: Optional[str] = typer.Option(None, "--evidence", metavar="FILE", help="Write the drill evidence (JSON) here, pass or fail."),
    junit: Optional[str] = opt.JUNIT,
    history: Optional[str] = typer.Option(None, "--history", metavar="FILE", help="Append to this history file; flags RTO regressions."),
    inject: Optional[str] = typer.Option(
        None, "--inject", metavar="FAULT", help="Negative control: wrong-key, tampered-file, missing-crd, crashloop, missing-secret-key, key-format."
    ),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask before restoring into --cluster current."),
    wait_gitops: Optional[bool] = typer.Option(
        None, "--wait-gitops/--no-wait-gitops", show_default="when the restored set installs the engine",
        help="Wait until Flux has reconciled every Kustomization and HelmRelease, or Argo CD synced every "
             "Application (the `gitops` phase)."),
    flux: Optional[bool] = typer.Option(
        None, "--flux/--no-flux", show_default="when `make flux` has built them, not with --engine argocd",
        help="--cluster local: also run Flux's source-, kustomize- and helm-controller as host processes "
             "(with --engine argocd, Argo CD's controllers, repo-server and redis run instead: `make argocd`)."),
    timeout: float = opt.TIMEOUT,
    key_secret: str = opt.KEY_SECRET,
    key_secret_key: str = opt.KEY_SECRET_KEY,
    allow_any_key_name: bool = opt.ANY_KEY,
    recreate: bool = opt.RECREATE,
    restart_consumers: bool = opt.RESTART_CONSUMERS,
    token_env: str = opt.TOKEN_ENV,
    ssh_key_file: Optional[str] = opt.SSH_KEY,
    known_hosts_file: Optional[str] = opt.KNOWN_HOSTS,
    verify_signatures: Optional[str] = opt.SIGNERS,
    ignore_mac: bool = opt.IGNORE_MAC,
    allow_committed_keys: bool = opt.COMMITTED,
    concurrency: int = opt.CONCURRENCY,
    report: Optional[str] = opt.REPORT,
    output: Output = opt.OUTPUT,
    verbose: bool = verbose_option(),
) -> None:
    """Restore drill on a throwaway cluster, with evidence.

    Create a throwaway cluster, restore into it, check, always tear down, leave evidence. Takes every
    restore flag but --dry-run (a drill's restore is a real one).

    Exits 0 when the drill passes (with --inject: when the restore fails with the expected cause), else the
    restore's exit code (1 for a negative control that did not fail as expected).

    \b
    Example:
      dr-bootstrap drill git@github.com:acme/fleet.git --path clusters/prod \\
          --cluster kind --evidence evidence.json \\
          --age-key-file - < "$AGE_KEY_FILE"
    """
    # deferred: start-up (a command's code loads when it runs)
    from bootstrap.commands.drill import DrillOptions
    from bootstrap.cli.runner import run_drill

    run_drill(
        opt.restore_options(locals()),
        DrillOptions(cluster=cluster, evidence=evidence, junit=junit, history=history, inject=inject, yes=yes,
                     flux=flux),
        report_path=report, output=output.value, verbose=verbose,
    )


# -- version / completion -----------------------------------------------------------------------------


@app.command("version", cls=Command)
def version_command(
    output: Output = typer.Option(Output.human, "--output", "-o", metavar="FORMAT", help="human, json or yaml."),
    client: bool = typer.Option(False, "--client", help="Only this tool's version: do not ask the cluster."),
    kubeconfig: Optional[str] = typer.Option(None, "--kubeconfig", metavar="FILE", help="Kubeconfig file (default: $KUBECONFIG, ~/.kube/config)."),
    context: Optional[str] = typer.Option(None, "--context", metavar="NAME", help="Kubeconfig context (default: the current context)."),
) -> None:
    """Print the client and the server version.

    The server's when a cluster is configured and answers. A server that cannot be asked is reported on stderr (serverVersion: null); the exit code is still 0.
    """
    from bootstrap.commands.version import run_version  # deferred: start-up (a command's code loads when it runs)

    raise typer.Exit(run_version(output.value, kubeconfig, context, client))


@app.command("completion", cls=Command)
def completion_command(
    shell: Shell = typer.Argument(..., metavar="SHELL", help="bash, zsh or fish."),
) -> None:
    """Print a shell completion script (bash, zsh, fish).

    \b
    Examples:
      source <(dr-bootstrap completion bash)
      dr-bootstrap completion zsh > "${fpath[1]}/_dr-bootstrap"
      dr-bootstrap completion fish > ~/.config/fish/completions/dr-bootstrap.fish
    """
    typer.echo(get_completion_script(prog_name="dr-bootstrap", complete_var=COMPLETE_VAR, shell=shell.value))


def run_app(argv: list[str]) -> int:
    """Run the typer app on `argv`; the exit code. A usage error is one line on stderr, exit 2."""
    if os.environ.get(COMPLETE_VAR):
        completion_init()  # typer's completion classes answer the scripts `completion` prints
    try:
        code = app(args=argv, prog_name="dr-bootstrap", standalone_mode=False)
    except CLICK_ERROR as err:
        print(f"error: {' '.join(err.format_message().split())}", file=sys.stderr)
        return err.exit_code
    except typer.Abort:
        print("interrupted", file=sys.stderr)
        return 130
    if code == 130:  # typer turns Ctrl-C into Exit(130), silently
        print("interrupted", file=sys.stderr)
    return code if isinstance(code, int) else 0


def main() -> None:
    """Run the app on sys.argv: every known failure is one line and a documented exit code."""
    sys.exit(guarded(lambda: run_app(sys.argv[1:])))
