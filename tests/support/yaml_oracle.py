"""Drive the Go YAML oracle (hack/oracles/yamljson: sigs.k8s.io/yaml as kustomize-controller links it).

`go_read(oracle, texts)` gives, per text, ("ok", value) or ("err", Go's message); `go_objects(oracle, stream)`
the objects of a multi-document stream as kustomize-controller reads kustomize's output. Values are JSON
as Go printed it, with what JSON's text loses put back: an integer Go printed from a float64 (beyond int64)
is a float again.
"""

from __future__ import annotations

import functools
import json
import subprocess
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = REPO / "hack" / "oracles" / "build.sh"
_INT64 = 2**63


@functools.cache
def build_oracle() -> Path:
    """Run hack/oracles/build.sh yamljson (a no-op when the binary is cached) and return the binary's path."""
    done = subprocess.run(["bash", str(BUILD_SCRIPT), "yamljson"], capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        raise RuntimeError(f"hack/oracles/build.sh yamljson failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
    return Path(done.stdout.strip().splitlines()[-1])


def _typed(value: Any) -> Any:
    """Go's int64/float64 split back from JSON text: a JSON integer beyond int64 was a float64 in Go."""
    if isinstance(value, bool) or value is None or isinstance(value, (str, float)):
        return value
    if isinstance(value, int):
        return value if -_INT64 <= value < _INT64 else float(value)
    if isinstance(value, list):
        return [_typed(item) for item in value]
    return {key: _typed(item) for key, item in value.items()}


def go_read(oracle: Path, texts: list[str]) -> list[tuple[str, Any]]:
    """Each text through sigs.k8s.io/yaml.YAMLToJSON and apimachinery's JSON decoding (one process)."""
    requests = "".join(json.dumps({"yaml": text}) + "\n" for text in texts)
    done = subprocess.run([str(oracle)], input=requests, capture_output=True, text=True, timeout=120, check=True)
    answers = [json.loads(line) for line in done.stdout.split("\n") if line]
    assert len(answers) == len(texts), done.stderr
    return [("err", answer["error"]) if "error" in answer else ("ok", _typed(answer["json"])) for answer in answers]


def go_objects(oracle: Path, stream: str) -> list[dict]:
    """The objects of `stream` as kustomize-controller reads kustomize's output (AssertionError on an error)."""
    done = subprocess.run([str(oracle), "-stream"], input=stream, capture_output=True, text=True, timeout=120,
                          check=True)
    objects = [json.loads(line) for line in done.stdout.split("\n") if line]
    errors = [o["error"] for o in objects if set(o) == {"error"}]
    assert not errors, f"the oracle could not read the stream: {errors}"
    return [_typed(o) for o in objects]
