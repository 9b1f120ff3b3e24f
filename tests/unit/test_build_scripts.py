"""The one runner of drb_localcluster's data/*.sh build scripts (procs.build_script_path), which every finder
(control plane, Flux, flux-operator, helm and registry, Argo CD) asks where its build is."""

from __future__ import annotations

from pathlib import Path

import pytest

from drb_localcluster import procs


class BuildError(RuntimeError):
    pass


def script(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "thing.sh"
    path.write_text("set -eu\n" + body)
    return path


def test_the_last_stdout_line_is_the_path_and_the_arguments_reach_the_script(tmp_path):
    found = procs.build_script_path(script(tmp_path, 'echo "building $1"\necho "/cache/thing-$1"\n'), ["v1"],
                                    BuildError)
    assert found == Path("/cache/thing-v1")


def test_a_failing_script_raises_the_callers_error_naming_script_arguments_exit_code_and_stderr(tmp_path):
    failing = script(tmp_path, 'echo /cache/half\necho "go: module lookup disabled" >&2\nexit 3\n')
    with pytest.raises(BuildError, match=r"^thing\.sh --print-bin-dir failed \(exit 3\): go: module lookup disabled$"):
        procs.build_script_path(failing, ["--print-bin-dir"], BuildError)


def test_a_script_that_prints_no_path_is_an_error(tmp_path):
    with pytest.raises(BuildError, match=r"^thing\.sh failed \(exit 0\)$"):
        procs.build_script_path(script(tmp_path, "true\n"), [], BuildError)
