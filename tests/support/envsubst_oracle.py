"""Drive the Go envsubst oracle (hack/oracles/envsubst) and put its answers and ours in one shape.

An outcome is ("ok", output bytes) or ("err", kind, variable): the Go error text is mapped to our
SubstitutionError.kind by `go_outcome` (GO_KINDS and the three patterned messages); the variable is
compared for the kinds that name one.
"""

from __future__ import annotations

import base64
import json
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from bootstrap.engines.flux import envsubst
from bootstrap.engines.flux.envsubst import SubstitutionError, check_var_names, substitute

REPO = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = REPO / "hack" / "oracles" / "build.sh"

# Go's parse error texts are our kinds, word for word.
GO_KINDS = {
    "bad substitution": "bad substitution",
    "missing closing brace": "missing closing brace",
    "unable to parse variable name": "unable to parse variable name",
    "unable to parse substitution within function": "unable to parse substitution within function",
}


def build_oracle() -> Path:
    """Run hack/oracles/build.sh (a no-op when the binary is cached) and return the binary's path."""
    done = subprocess.run(["bash", str(BUILD_SCRIPT)], capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        raise RuntimeError(f"hack/oracles/build.sh failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
    return Path(done.stdout.strip().splitlines()[-1])


@dataclass(frozen=True)
class Case:
    text: str
    vars: dict = field(default_factory=dict)
    strict: bool = False

    def request(self) -> str:
        def b64(s: str) -> str:
            return base64.b64encode(s.encode("utf-8", "surrogateescape")).decode()

        return json.dumps(
            {"text_b64": b64(self.text), "vars_b64": {k: b64(v) for k, v in self.vars.items()}, "strict": self.strict}
        )


def go_outcome(answer: dict) -> tuple:
    err = answer["err"]
    if err is None:
        return ("ok", base64.b64decode(answer["out_b64"]))
    if err in GO_KINDS:
        return ("err", GO_KINDS[err], None)
    if err.startswith('variable not set (strict mode): "'):
        return ("err", envsubst.UNSET, json.loads(err.split(": ", 1)[1]))
    if err.startswith("'") and "' var name is invalid, must match '" in err:
        return ("err", envsubst.INVALID_NAME, err[1 : err.index("' var name is invalid")])
    if err.startswith("panic: runtime error: slice bounds out of range"):
        return ("err", envsubst.OVERFLOW, "?")
    raise AssertionError(f"the oracle gave an error this test does not know: {err!r}")


def our_outcome(case: Case) -> tuple:
    """What we do with the case, the way Flux's varSubstitution goes about it."""
    def lookup(name: str) -> tuple[str, bool]:
        if case.strict:
            return (case.vars[name], True) if name in case.vars else ("", False)
        return case.vars.get(name, ""), True

    try:
        check_var_names(sorted(case.vars))
        return ("ok", substitute(case.text, lookup).encode("utf-8", "surrogateescape"))
    except SubstitutionError as exc:
        assert str(exc) and "\n" not in str(exc), f"not a one-line message: {exc!r}"
        return ("err", exc.kind, exc.variable)


def same(ours: tuple, theirs: tuple) -> bool:
    if ours[0] != theirs[0] or ours[1] != theirs[1]:
        return False
    if ours[0] == "err" and ours[1] in (envsubst.UNSET, envsubst.INVALID_NAME):
        return ours[2] == theirs[2]
    return True


def run_batch(binary: Path, cases: list) -> list:
    """All cases through one oracle process; its outcomes in order."""
    payload = "".join(case.request() + "\n" for case in cases).encode()
    done = subprocess.run([str(binary)], input=payload, capture_output=True, timeout=600, check=True)
    answers = done.stdout.split(b"\n")[:-1]  # not splitlines: answers may hold U+0085 and friends
    assert len(answers) == len(cases), f"{len(answers)} answers for {len(cases)} cases: {done.stderr!r}"
    return [go_outcome(json.loads(line)) for line in answers]


class OracleSession:
    """One oracle process answering case by case (for Hypothesis, which makes cases one at a time)."""

    def __init__(self, binary: Path):
        self._proc = subprocess.Popen([str(binary)], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self.cases = 0

    def outcome(self, case: Case) -> tuple:
        self._proc.stdin.write(case.request().encode() + b"\n")
        self._proc.stdin.flush()
        line = self._proc.stdout.readline()
        assert line, f"the oracle exited ({self._proc.poll()})"
        self.cases += 1
        return go_outcome(json.loads(line))

    def close(self) -> None:
        self._proc.stdin.close()
        self._proc.wait(timeout=60)
        assert self._proc.returncode == 0, f"oracle exit code {self._proc.returncode}"
