"""The pieces of the command line that are not commands: output words, durations, usage lines, exit codes."""

from __future__ import annotations

from enum import Enum

import typer

from bootstrap.errors import ExitCode, ValidationError

# One line per exit code, in the order of bootstrap.errors.ExitCode (a missing one fails at import).
_EXIT_MEANINGS = {
    ExitCode.OK: "success",
    ExitCode.FAILED: "check found problems; a drill control that passed; internal error",
    ExitCode.USAGE: "usage: a bad flag, argument or value",
    ExitCode.SOURCE: "source: clone failed, unknown ref, authentication, --path missing",
    ExitCode.INVALID: "key, decryption, MAC or validation error: nothing was written",
    ExitCode.APPLY: "apply failed (API error, or the API server stayed unreachable)",
    ExitCode.ROLLOUT: "rollout failed or timed out",
}
EXIT_CODES = [(int(code), _EXIT_MEANINGS[code]) for code in ExitCode] + [(130, "interrupted (Ctrl-C or SIGTERM)")]


class Command(typer.core.TyperCommand):
    """Usage lines as kubectl's: `restore [OPTIONS] REPO_URL`, not typer 0.28's `{REPO_URL}`."""

    def collect_usage_pieces(self, ctx):
        return [p[1:-1] if p.startswith("{") and p.endswith("}") else p for p in super().collect_usage_pieces(ctx)]


class Output(str, Enum):
    human = "human"
    json = "json"
    yaml = "yaml"


class Shell(str, Enum):
    bash = "bash"
    zsh = "zsh"
    fish = "fish"


def verbose_option():
    """`-v/--verbose` of the commands that show live progress (restore, plan, verify, drill)."""
    return typer.Option(False, "--verbose", "-v", help="A line per object also on a terminal (there the default is "
                        "one live line per wave).")


def duration(value: str | float) -> float:
    """Seconds from a duration (`90s`, `10m`, `1h30m`, `500ms`: the playbook's parser) or a plain number."""
    from bootstrap.stages.playbook import parse_duration  # deferred: start-up (the playbook loads yaml)

    if isinstance(value, (int, float)):
        return float(value)
    text = value.strip()
    plain = text.replace(".", "", 1).isdigit() and text.isascii()
    try:
        return parse_duration(float(text) if plain else text, "duration")
    except ValidationError:
        raise typer.BadParameter(f"{value!r} is not a duration (like 90s, 10m, 1h30m, or seconds)") from None


# Click's own errors (bad flag, missing argument, bad value) without depending on which click: typer 0.28
# vendors it as typer._click, older typers use click itself.
CLICK_ERROR = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")
