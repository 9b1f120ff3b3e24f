"""kustomization_schema.json is exactly what kustomize's own struct says (hack/oracles/kustschema, built from
the pinned kustomize api module): the typed round trip can never drift from the Go type it imitates."""

from __future__ import annotations

import json
import subprocess
from importlib import resources
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def kustschema() -> Path:
    done = subprocess.run(["bash", str(REPO / "hack/oracles/build.sh"), "kustschema"], capture_output=True, text=True,
                          timeout=1800)
    if done.returncode != 0:
        pytest.fail(f"hack/oracles/build.sh kustschema failed: {done.stderr.strip()[-800:]}", pytrace=False)
    return Path(done.stdout.strip().splitlines()[-1])


def test_the_committed_schema_is_the_go_struct_s(kustschema):
    live = json.loads(subprocess.run([str(kustschema)], capture_output=True, text=True, check=True).stdout)
    committed = json.loads(resources.files("bootstrap.kustomize").joinpath("kustomization_schema.json").read_text())
    assert committed == live, "regenerate: hack/oracles/build.sh kustschema, run it > bootstrap/kustomize/kustomization_schema.json"
