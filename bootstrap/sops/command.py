"""`dr-bootstrap decrypt`: the one implementation behind the typer command and its fast start-up path.

Building the full typer app (every option of every command) costs more than decrypting a large file, so the
entry point (`bootstrap.cli.entry`) parses a plain `decrypt …` invocation itself, with the options of the typer
command (generated into `bootstrap/cli/_helptext.py`), and calls `run_decrypt` directly. Anything it does not
understand (help, bad flags) goes to typer.
"""

from __future__ import annotations

import sys
from typing import BinaryIO, TextIO

from bootstrap.errors import UsageError
from bootstrap.sops import decrypt_path, detect_format
from bootstrap.stages.keys import load_keyring


def run_decrypt(
    file: str,
    age_key_file: str | None = None,
    input_type: str | None = None,
    output_type: str | None = None,
    ignore_mac: bool = False,
    output: str = "human",
    *,
    stdout: BinaryIO | None = None,
    stderr: TextIO | None = None,
) -> None:
    """Decrypt `file` and write exactly its plaintext to stdout; warnings go to stderr.

    `output` is the `-o` every command takes: human (the default) keeps `output_type`, json and yaml are
    short for `--output-type json|yaml`.
    """
    out = stdout or sys.stdout.buffer
    err = stderr or sys.stderr
    if output != "human":
        if output_type not in (None, output):
            raise UsageError(f"-o {output} and --output-type {output_type} disagree: give one of them")
        output_type = output
    if output_type is not None:
        detect_format(file, output_type)  # validates the name before any work
    keyring = load_keyring(age_key_file)
    for warning in keyring.warnings:
        print(warning, file=err)
    if ignore_mac:
        print(f"warning: --ignore-mac: the MAC of {file} is NOT verified", file=err)
    decrypted = decrypt_path(file, keyring, input_type=input_type, ignore_mac=ignore_mac)
    for warning in decrypted.warnings:
        print(f"warning: {warning}", file=err)
    out.write(decrypted.render(output_type))
    out.flush()
