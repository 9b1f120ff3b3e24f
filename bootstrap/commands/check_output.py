"""What `dr-bootstrap check` prints: plain columns for people, one camelCase document for machines.

The human form is plain lines in every terminal and log: aligned columns whose last one (the problem)
is never padded or cut, so a long path or recipient stays whole, then the findings, then one summary
line with the counts (`3 SOPS files, 1 problem: 1 MAC mismatch`, and `, 2 warnings`).  A problem does not
repeat the file name its row already shows.  Warnings (an unprotected key file, a plaintext Secret no
`.sops.yaml` rule covers, a Kustomization that does not build) go to stderr, one line each, in every format;
the machine form has them too (`warnings`, and each finding's `severity`).  Only errors make the exit code 1.
"""

from __future__ import annotations

import sys
from typing import IO, Any, Iterable

from bootstrap.commands.check import ERROR, WARNING, CheckReport, FileCheck, check_paths
from bootstrap.report.output import columns, render, warn
from bootstrap.stages.keys import load_keyring

_MARK = {True: "yes", False: "no", None: "-"}
_FINDING_WORDS = {"plaintext-secret": "plaintext secret", "committed-age-key": "committed age key",
                  "kustomization-build": "Kustomization does not build", "needs-network": "needs the network"}


def run_check(paths: Iterable[str], age_key_file: str | None, output: str, source: str | None = None, *,
              stdout: IO[str] | None = None, stderr: IO[str] | None = None) -> int:
    """Check `paths` with the key, print the result in `output` format; the exit code (0 ok, 1 problems)."""
    stdout, stderr = stdout or sys.stdout, stderr or sys.stderr
    keyring = load_keyring(age_key_file)
    for warning in keyring.warnings:
        warn(warning, stderr)
    report = check_paths(paths, keyring, source)
    for warning in report.warnings[len(keyring.warnings):]:
        warn(warning, stderr)
    for finding in report.findings:
        if finding.severity == WARNING:
            warn(f"{_FINDING_WORDS.get(finding.kind, finding.kind)}: {finding.path}: {finding.detail}", stderr)
    text = "\n".join(human_lines(report)) if output == "human" else render(to_dict(report), output)
    stdout.write(text + "\n")
    stdout.flush()
    return 0 if report.ok else 1


def problem_kind(f: FileCheck) -> str | None:
    """The problem of one file in a few words (for the counts), or None."""
    if f.ok:
        return None
    if f.recipient_match is None:
        return "unreadable"
    if f.recipient_match is False:
        return "not encrypted for this key"
    if f.decrypts is False:
        return "does not decrypt"
    if f.mac_ok is False:
        return "MAC mismatch"
    if f.decryption is False:
        return "rendered without decryption"
    return "failed"


def summary(report: CheckReport) -> str:
    """`N SOPS files, no problems` or `N SOPS files, P problems: 2 MAC mismatch, 1 plaintext secret`."""
    counts: dict[str, int] = {}
    kinds = [problem_kind(f) for f in report.files]
    kinds += [_FINDING_WORDS.get(f.kind, f.kind) for f in report.findings if f.severity == ERROR]
    for kind in kinds:
        if kind:
            counts[kind] = counts.get(kind, 0) + 1
    files, problems = len(report.files), sum(counts.values())
    warned = len(report.warnings) + sum(f.severity == WARNING for f in report.findings)
    head = f"{files} SOPS file{'' if files == 1 else 's'}"
    tail = f", {warned} warning{'' if warned == 1 else 's'}" if warned else ""
    if not problems:
        return f"{head}, no problems{tail}"
    detail = ", ".join(f"{count} {kind}" for kind, count in counts.items())
    return f"{head}, {problems} problem{'' if problems == 1 else 's'}: {detail}{tail}"


def human_lines(report: CheckReport) -> list[str]:
    lines = [f"key: {report.key_source}"]
    lines += [f"  recipient: {recipient}" for recipient in report.key_recipients]
    if report.files:
        flux = report.flux_source is not None
        rows = [("FILE", "FORMAT", "RECIPIENT", "DECRYPTS", "MAC", *(("KUSTOMIZATION",) if flux else ()), "PROBLEM")]
        for f in report.files:
            remark = f.problem or (f"note: {f.note}" if f.note else "")
            rendered = (",".join(f.kustomizations) or "-",) if flux else ()
            rows.append((f.path, f.format, _MARK[f.recipient_match], _MARK[f.decrypts], _MARK[f.mac_ok], *rendered,
                         remark))
        lines += ["", *columns(rows)]
    if report.findings:
        rows = [("FINDING", "SEVERITY", "FILE", "DETAIL")] + [(f.kind, f.severity, f.path, f.detail)
                                                              for f in report.findings]
        lines += ["", *columns(rows)]
    lines += ["", summary(report)]
    return lines


def to_dict(report: CheckReport) -> dict[str, Any]:
    """The machine form (camelCase keys, stable)."""
    return {
        "ok": report.ok,
        "summary": summary(report),
        "key": {"recipients": list(report.key_recipients), "source": report.key_source},
        "files": [
            {"path": f.path, "format": f.format, "recipients": list(f.recipients), "recipientMatch": f.recipient_match,
             "decrypts": f.decrypts, "macOk": f.mac_ok, "kustomizations": list(f.kustomizations),
             "decryption": f.decryption, "problem": f.problem, "note": f.note}
            for f in report.files
        ],
        "findings": [{"path": f.path, "kind": f.kind, "severity": f.severity, "detail": f.detail}
                     for f in report.findings],
        "warnings": list(report.warnings),
        "fluxSource": report.flux_source,
    }
