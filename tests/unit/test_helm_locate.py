"""One helm finder (`helmcli.locate`) for every helm dr-bootstrap runs: --helm-bin, $DR_BOOTSTRAP_HELM, helm on
PATH, then the newest helm `make helm` built under ${XDG_CACHE_HOME:-~/.cache}/dr-bootstrap (only with its
`.complete` stamp). The Argo CD engine's `find_helm` is that finder."""

from __future__ import annotations

from pathlib import Path

import pytest

from bootstrap import helmcli
from bootstrap.engines.argocd.helm import find_helm
from bootstrap.errors import UsageError


def fake_helm(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\necho v4.3.2\n")
    path.chmod(0o755)
    return path


def built(cache: Path, version: str, *, complete: bool = True) -> Path:
    helm = fake_helm(cache / "dr-bootstrap" / f"helm-{version}" / "helm")
    if complete:
        (helm.parent / ".complete").write_text("")
    return helm


@pytest.fixture
def bare(tmp_path, monkeypatch):
    """No helm anywhere: an empty PATH, HOME and XDG_CACHE_HOME of the test's own, no $DR_BOOTSTRAP_HELM."""
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    monkeypatch.delenv(helmcli.HELM_ENV, raising=False)
    return tmp_path


def test_the_built_helm_is_found_under_xdg_cache_home_newest_version_first(bare):
    built(bare / "xdg-cache", "v4.2.10")
    newest = built(bare / "xdg-cache", "v4.10.1")
    built(bare / "xdg-cache", "v4.11.0", complete=False)  # an interrupted build is not taken
    built(bare / "home" / ".cache", "v4.12.0")  # ~/.cache is not looked at while XDG_CACHE_HOME is set
    assert helmcli.locate(None) == (str(newest), "helm built by `make helm`")
    assert find_helm() == str(newest)
    assert helmcli.find(None).path == str(newest)


def test_home_cache_without_xdg_cache_home(bare, monkeypatch):
    monkeypatch.delenv("XDG_CACHE_HOME")
    helm = built(bare / "home" / ".cache", "v4.3.2")
    assert find_helm() == str(helm)


def test_order_helm_bin_then_environment_then_path_then_the_build(bare, monkeypatch):
    built(bare / "xdg-cache", "v4.3.2")
    on_path = fake_helm(bare / "empty-bin" / "helm")
    assert helmcli.locate(None) == (str(on_path), "helm on PATH")
    from_env = fake_helm(bare / "env" / "helm")
    monkeypatch.setenv(helmcli.HELM_ENV, str(from_env))
    assert helmcli.locate(None)[0] == str(from_env)
    explicit = fake_helm(bare / "flag" / "helm")
    assert helmcli.locate(str(explicit)) == (str(explicit), f"--helm-bin {explicit}")


def test_no_helm_anywhere_says_how_to_get_one(bare, monkeypatch):
    with pytest.raises(UsageError, match=r"^helm on PATH: no helm binary to render Argo CD Helm sources with") as err:
        find_helm()
    assert "make helm" in (err.value.hint or "") and "XDG_CACHE_HOME" in (err.value.hint or "")
    monkeypatch.setenv(helmcli.HELM_ENV, "/nope")
    with pytest.raises(UsageError, match=r"^\$DR_BOOTSTRAP_HELM /nope: no helm binary"):
        helmcli.locate(None)
