"""The command line: the console script's fast path (`entry`), the typer app (`app`), and the runner that
gives every command its outputs (progress, summary, JSON/JUnit reports, exit code). No restore logic here."""
