"""Offline preflight of a GitOps tree: will every SOPS file open with this key, and is anything leaking?

For every SOPS file: is the key's recipient among the file's recipients, does it decrypt, does its MAC
verify. Besides: plaintext files that look like secrets (`kind: Secret`, `*secret*`, `*.env`) and any
committed `AGE-SECRET-KEY-` text (reported by place, never printed). `.sops.yaml` creation rules are
honoured: a plaintext secret matching a rule's path_regex is named as such; an encrypted file outside
every rule gets a note.
"""

from __future__ import annotations

import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

from bootstrap.errors import BootstrapError, UsageError
from bootstrap.keys import KeyRing

MAX_BYTES = 5 * 1024 * 1024
_SKIP_DIRS = {".git", ".hg", ".svn", "node_modules", ".venv", "__pycache__"}
_AGE_SECRET = re.compile(rb"AGE-SECRET-KEY-(?:PQ-)?1[0-9A-Z]{20,}")
_KIND_SECRET = re.compile(rb"""(?m)^\s*"?kind"?\s*:\s*["']?Secret["']?\s*,?\s*$""")


@dataclass(frozen=True)
class FileCheck:
    """One SOPS file. `None` means "not determined" (e.g. no decrypt attempted after a parse error)."""

    path: str
    format: str
    recipients: list[str]
    recipient_match: bool | None
    decrypts: bool | None
    mac_ok: bool | None
    problem: str | None = None
    note: str | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None


@dataclass(frozen=True)
class Finding:
    """Something that must not be in the repo: a plaintext secret or a committed age key."""

    path: str
    kind: str  # "plaintext-secret" | "committed-age-key"
    detail: str


@dataclass(frozen=True)
class CheckReport:
    key_recipients: tuple[str, ...]
    key_source: str
    files: list[FileCheck] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    warnings: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.findings and all(f.ok for f in self.files)

    def to_dict(self) -> dict:
        return {
            "ok": self.ok,
            "key": {"recipients": list(self.key_recipients), "source": self.key_source},
            "files": [asdict(f) for f in self.files],
            "findings": [asdict(f) for f in self.findings],
            "warnings": list(self.warnings),
        }


@dataclass(frozen=True)
class _Rules:
    root: Path
    path_regexes: tuple[re.Pattern, ...]

    def matches(self, path: Path) -> bool:
        try:
            rel = path.resolve().relative_to(self.root).as_posix()
        except ValueError:
            rel = path.as_posix()
        return any(r.search(rel) for r in self.path_regexes)


def check_paths(paths: Iterable[str], keyring: KeyRing) -> CheckReport:
    """Check every file under `paths` (files or directories) against `keyring`."""
    from bootstrap import sops

    report = CheckReport(keyring.recipients, keyring.source, warnings=keyring.warnings)
    for path, rules in _discover(paths):
        display = str(path)
        try:
            if path.stat().st_size > MAX_BYTES:
                continue
            data = path.read_bytes()
        except OSError as err:
            report.files.append(FileCheck(display, "?", [], None, None, None, f"unreadable ({err.strerror})"))
            continue
        for number in _age_key_lines(data):
            report.findings.append(Finding(display, "committed-age-key", f"AGE-SECRET-KEY text at line {number}"))
        fmt = sops.detect_format(path.name)
        if sops.is_encrypted(data, fmt):
            result = _check_file(data, fmt, display, keyring)
            if rules is not None and not rules.matches(path):
                result = FileCheck(**{**asdict(result), "note": "not matched by any .sops.yaml creation rule"})
            report.files.append(result)
        elif _looks_secret(path, data):
            ruled = rules is not None and rules.matches(path)
            why = "matches a .sops.yaml creation rule" if ruled else "looks like a secret"
            report.findings.append(Finding(display, "plaintext-secret", f"{why} but is not SOPS-encrypted"))
    return report


def _check_file(data: bytes, fmt: str, name: str, keyring: KeyRing) -> FileCheck:
    from bootstrap import sops
    from bootstrap.sops.datakey import recipient_id
    from bootstrap.sops.mac import MacMismatchError

    try:
        recipients = sops.file_recipients(data, fmt, name)
    except BootstrapError as err:
        return FileCheck(name, fmt, [], None, None, None, str(err))
    ours = {recipient_id(r) for r in keyring.recipients}
    match = any(recipient_id(r) in ours for r in recipients)
    try:
        sops.decrypt(data, keyring, fmt=fmt, name=name)
        return FileCheck(name, fmt, recipients, match, True, True)
    except MacMismatchError as err:
        return FileCheck(name, fmt, recipients, match, True, False, str(err))
    except BootstrapError as err:
        return FileCheck(name, fmt, recipients, match, False, None, str(err))


def _discover(paths: Iterable[str]) -> Iterator[tuple[Path, _Rules | None]]:
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            rules = _rules_for(path)
            for dirpath, dirnames, filenames in os.walk(path):
                dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_DIRS)
                for filename in sorted(filenames):
                    if filename != ".sops.yaml":
                        candidate = Path(dirpath, filename)
                        if candidate.is_file() and not candidate.is_symlink():
                            yield candidate, rules
        elif path.is_file():
            yield path, _rules_for(path.parent)
        else:
            raise UsageError(f"{raw}: no such file or directory")


def _rules_for(directory: Path) -> _Rules | None:
    """The nearest `.sops.yaml` at or above `directory` (as sops finds it), if it has path_regex rules."""
    import yaml

    for parent in [directory.resolve(), *directory.resolve().parents]:
        config = parent / ".sops.yaml"
        if config.is_file():
            try:
                loaded = yaml.safe_load(config.read_bytes()) or {}
                rules = [r.get("path_regex") for r in loaded.get("creation_rules") or [] if isinstance(r, dict)]
                compiled = tuple(re.compile(r) for r in rules if r)
            except (yaml.YAMLError, re.error, AttributeError):
                raise UsageError(f"{config}: not a valid .sops.yaml") from None
            return _Rules(parent, compiled) if compiled else None
    return None


def _age_key_lines(data: bytes) -> list[int]:
    return [data.count(b"\n", 0, m.start()) + 1 for m in _AGE_SECRET.finditer(data)]


def _looks_secret(path: Path, data: bytes) -> bool:
    name = path.name.lower()
    if "secret" in name or name.endswith(".env") or name == ".env":
        return True
    return name.endswith((".yaml", ".yml", ".json")) and _KIND_SECRET.search(data) is not None


def render_table(report: CheckReport) -> None:
    """Human output (rich), to stdout."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    console.print(f"key: {report.key_source}")
    for recipient in report.key_recipients:
        console.print(f"  recipient: [bold]{recipient}[/bold]", highlight=False)
    for warning in report.warnings:
        console.print(f"[yellow]{warning}[/yellow]", highlight=False)
    table = Table(title=f"SOPS files ({len(report.files)})", show_lines=False)
    for column in ("file", "format", "recipient", "decrypts", "MAC", "problem / note"):
        table.add_column(column, overflow="fold")
    mark = {True: "[green]yes[/green]", False: "[red]no[/red]", None: "-"}
    for f in report.files:
        table.add_row(f.path, f.format, mark[f.recipient_match], mark[f.decrypts], mark[f.mac_ok],
                      f"[red]{f.problem}[/red]" if f.problem else (f.note or ""))
    console.print(table)
    for finding in report.findings:
        console.print(f"[red]{finding.kind}[/red] {finding.path}: {finding.detail}", highlight=False)
    console.print("[green]ok[/green]" if report.ok else "[red]problems found[/red]")
