"""The real OCI registry (CNCF Distribution, built by drb_localcluster/data/helm.sh registry) on a loopback port,
and the real helm CLI (helm.sh helm) with a helm home of its own, for tests that push charts and install them.

`oci_registry(tmp)` starts `registry serve` with a config written to a temp dir (filesystem storage there,
plain HTTP on 127.0.0.1:PORT) and stops it on the way out. Charts go in with `helm push --plain-http`, so an
OCIRepository or OCI HelmRepository points at `oci://127.0.0.1:PORT/...` with `insecure: true`.
The binaries are built on first use when missing (`make test` builds them beforehand); a failed build fails
the test, never skips it.
"""

from __future__ import annotations

import functools
import os
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import yaml

from drb_localcluster.cluster import free_port
from drb_localcluster.helmtools import HelmBuildError, helm_path, registry_path


@functools.cache
def helm_bin() -> Path:
    try:
        return helm_path(build=True)
    except HelmBuildError as exc:
        raise AssertionError(str(exc)) from None


@functools.cache
def registry_bin() -> Path:
    try:
        return registry_path(build=True)
    except HelmBuildError as exc:
        raise AssertionError(str(exc)) from None


def helm_env(home: Path, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """An environment whose helm keeps its config, cache and data (registry logins included) under `home`."""
    env = dict(os.environ if base is None else base)
    for var, sub in (("HELM_CONFIG_HOME", "config"), ("HELM_CACHE_HOME", "cache"), ("HELM_DATA_HOME", "data")):
        env[var] = str(home / sub)
    return env


@dataclass(frozen=True)
class Registry:
    host: str  # 127.0.0.1:PORT
    helm_home: Path  # the helm home tests push from (HELM_*_HOME under it)

    def oci(self, path: str = "charts") -> str:
        return f"oci://{self.host}/{path.strip('/')}"

    def helm(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(helm_bin()), *args], env=helm_env(self.helm_home), capture_output=True,
                              text=True, check=check, timeout=120)

    def login(self, helm_home: Path, user: str, password: str) -> None:
        """`helm registry login` into `helm_home` (the password on stdin), as an operator logs in."""
        subprocess.run([str(helm_bin()), "registry", "login", self.host, "--username", user, "--password-stdin",
                        "--plain-http"], input=password, env=helm_env(helm_home), capture_output=True, text=True,
                       check=True, timeout=60)

    def push(self, package: Path, path: str = "charts") -> None:
        """`helm push PACKAGE oci://HOST/PATH --plain-http`: the chart lands at oci://HOST/PATH/NAME:VERSION."""
        self.helm("push", str(package), self.oci(path), "--plain-http")


def htpasswd_line(user: str, password: str) -> str:
    """`user:bcrypt-hash`, the only htpasswd form the registry takes (glibc's crypt makes bcrypt)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import crypt  # deprecated in Python 3.11, gone in 3.13: then a bcrypt package would do

        return f"{user}:{crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH))}"


@contextmanager
def oci_registry(directory: Path, *, timeout: float = 30.0,
                 login: tuple[str, str] | None = None) -> Iterator[Registry]:
    """A registry serving plain HTTP on a free loopback port, its storage and config in `directory`; with
    `login` (user, password) it serves only those who log in (htpasswd), and the pushing helm home is logged in."""
    directory.mkdir(parents=True, exist_ok=True)
    port = free_port()
    config = {
        "version": 0.1,
        "log": {"level": "warn", "accesslog": {"disabled": True}},
        "storage": {"filesystem": {"rootdirectory": str(directory / "data")}, "delete": {"enabled": True},
                    "maintenance": {"uploadpurging": {"enabled": False}}},
        "http": {"addr": f"127.0.0.1:{port}", "secret": "dr-bootstrap-test"},
    }
    if login:
        (directory / "htpasswd").write_text(htpasswd_line(*login) + "\n")
        config["auth"] = {"htpasswd": {"realm": "dr-bootstrap-test", "path": str(directory / "htpasswd")}}
    (directory / "config.yml").write_text(yaml.safe_dump(config))
    log = (directory / "registry.log").open("wb")
    proc = subprocess.Popen([str(registry_bin()), "serve", str(directory / "config.yml")], stdout=log,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/", timeout=2) as response:
                    if response.status == 200:
                        break
            except urllib.error.HTTPError as err:
                if err.code == 401 and login:  # up, and asking for the login
                    break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"registry did not start on 127.0.0.1:{port}: "
                                     f"{(directory / 'registry.log').read_text()[-800:]}")
            time.sleep(0.1)
        registry = Registry(f"127.0.0.1:{port}", directory / "helm-home")
        if login:
            registry.login(registry.helm_home, *login)
        yield registry
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
