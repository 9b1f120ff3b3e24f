"""Runs a command's pipeline with its outputs: live progress, summary, JSON/JUnit reports, exit code.

Reports are written whatever happens, so a failed 3 a.m. restore still leaves its evidence.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Callable

import typer

from bootstrap.errors import BootstrapError, UsageError
from bootstrap.report.output import FORMATS, one_place, render
from bootstrap.commands.options import RestoreOptions
from bootstrap.report.progress import QuietProgress
from bootstrap.report.model import RunReport, Scrubber, to_dict, to_json, write_json, write_junit
from bootstrap.report.run import Run, finish, new_report

OUTPUTS = FORMATS  # human: live progress and a summary; json, yaml: the report on stdout, nothing else


def _progress(output: str, scrubber: Scrubber, verbose: bool = False):
    """Live progress on stdout for people (on a terminal a live line per wave; a line per object in logs and
    with `verbose`); for json/yaml nothing but warnings (on stderr). It scrubs with the run's one
    `scrubber`, which the report shares."""
    if output not in OUTPUTS:
        raise UsageError(f"--output {output!r}: expected human, json or yaml")
    if output != "human":
        return QuietProgress(errors=sys.stderr, scrubber=scrubber)
    from bootstrap.report.console import HumanProgress, make_console  # deferred: heavy (rich: only for -o human)

    return HumanProgress(make_console(sys.stdout), errors=sys.stderr, scrubber=scrubber, verbose=verbose)


def _document(report: RunReport, output: str) -> str | None:
    """The report as `output` prints it (json: the very text of the report file), None for people."""
    if output == "json":
        return to_json(report)
    return render(to_dict(report), output) if output == "yaml" else None


def _run(
    report: RunReport,
    body: Callable[[], None],
    *,
    output: str,
    report_path: str | None,
    junit_path: str | None,
    summary: bool = True,
) -> None:
    """Run `body`, then close and write the report; raise the body's error after the reports are out.

    The error, scrubbed, is printed once where one reader sees both streams (a terminal): by `cli.guard.guarded`
    on stderr, not also in the summary on stdout."""
    error: BootstrapError | None = None
    try:
        body()
    except BootstrapError as err:
        error = err
    except KeyboardInterrupt:
        error = BootstrapError("interrupted")
        finish(report, error)
        _write(report, report_path, junit_path)
        raise
    finish(report, error)
    text = _document(report, output)  # json: rendered once, it is also the report file
    _write(report, report_path, junit_path, text if output == "json" else None)
    if text is not None:
        typer.echo(text)
    elif summary:
        from bootstrap.report.console import make_console, render_summary  # deferred: heavy (rich: only for -o human)

        render_summary(report, make_console(sys.stdout), show_error=not one_place(sys.stdout, sys.stderr))
    if error is not None:
        error.scrub(report.scrubber)
        raise error


def check_report_paths(**paths: str | None) -> None:
    """Refuse report destinations that cannot be written before the run starts, not after the restore."""
    for flag, path in paths.items():
        if not path:
            continue
        target = Path(path)
        if target.is_dir():
            raise UsageError(f"--{flag} {path}: is a directory")
        if not target.parent.is_dir():
            raise UsageError(f"--{flag} {path}: the directory {target.parent} does not exist")
        if not os.access(target.parent, os.W_OK):
            raise UsageError(f"--{flag} {path}: the directory {target.parent} is not writable")


def _write(report: RunReport, report_path: str | None, junit_path: str | None, text: str | None = None) -> None:
    if report_path:
        write_json(report, report_path, text=text)
    if junit_path:
        write_junit(report, junit_path)


def _confirm(question: str) -> bool:
    """Ask on stderr (stdout may carry the JSON report); no answer (closed stdin, CI) is a no."""
    try:
        return typer.confirm(question, default=False, err=True)
    except typer.Abort:
        return False


def run_restore(opts: RestoreOptions, *, report_path: str | None, junit_path: str | None, output: str,
                verbose: bool = False) -> None:
    from bootstrap.commands.restore import restore  # deferred: start-up (a command's code loads when it runs)

    scrubber = Scrubber()
    progress = _progress(output, scrubber, verbose)
    check_report_paths(report=report_path, junit=junit_path)
    report = new_report("restore", opts, scrubber=scrubber)
    ask = _confirm if sys.stdin.isatty() and sys.stderr.isatty() else None
    _run(
        report,
        lambda: restore(opts, Run(report, progress), ask=ask),
        output=output,
        report_path=report_path,
        junit_path=junit_path,
    )


def run_plan(opts: RestoreOptions, *, report_path: str | None, junit_path: str | None = None, output: str,
             verbose: bool = False) -> None:
    from bootstrap.commands.plan import plan_only  # deferred: start-up (a command's code loads when it runs)

    scrubber = Scrubber()
    progress = _progress(output, scrubber, verbose)
    check_report_paths(report=report_path, junit=junit_path)
    report = new_report("plan", opts, scrubber=scrubber)
    lines: list[str] = []

    def body() -> None:
        lines.extend(plan_only(opts, Run(report, progress)))

    _run(report, body, output=output, report_path=report_path, junit_path=junit_path, summary=False)
    if output == "human":
        for line in lines:
            typer.echo(scrubber(line))  # a name substitution built from a decrypted value is one to hide


def run_verify(
    kubeconfig: str | None,
    context: str | None,
    namespaces: list[str],
    timeout: float,
    *,
    report_path: str | None,
    junit_path: str | None,
    output: str,
    verbose: bool = False,
) -> None:
    from bootstrap.commands.verify import verify_only  # deferred: start-up (a command's code loads when it runs)

    scrubber = Scrubber()
    progress = _progress(output, scrubber, verbose)
    check_report_paths(report=report_path, junit=junit_path)
    report = new_report("verify", scrubber=scrubber)
    _run(
        report,
        lambda: verify_only(kubeconfig, context, namespaces, timeout, Run(report, progress)),
        output=output,
        report_path=report_path,
        junit_path=junit_path,
    )


def run_drill(opts: RestoreOptions, drill_opts, *, report_path: str | None = None, output: str,
              verbose: bool = False) -> None:
    # deferred: start-up (a command's code loads when it runs)
    from bootstrap.commands import drill
    from bootstrap.stages.keys import load_key

    scrubber = Scrubber()
    progress = _progress(output, scrubber, verbose)
    check_report_paths(report=report_path)
    keyring = load_key(opts.age_key_file, progress)
    evidence = drill.run_drill(opts, drill_opts, progress, keyring, confirm=_confirm, scrubber=scrubber)
    data = evidence.to_dict()
    if drill_opts.history:
        regression, since = drill.update_history(Path(drill_opts.history), data, drill.now())
        data["rtoRegression"], data["secondsSinceLastGreen"] = regression, since
    if drill_opts.evidence:
        drill.write_evidence(drill_opts.evidence, data)
    if evidence.report is not None:
        _write(evidence.report, report_path, drill_opts.junit)  # the drill's restore, as restore writes them
    if output != "human":
        typer.echo(render(data, output))
    else:
        from bootstrap.report.console import make_console, render_summary  # deferred: heavy (rich: only for -o human)

        console = make_console(sys.stdout)
        if evidence.report is not None:
            render_summary(evidence.report, console)
        console.print(drill.verdict_line(data))
    if evidence.verdict != "pass":
        error = evidence.report.error if evidence.report else None
        raise typer.Exit(error.exit_code if error and not data["inject"] else 1)
