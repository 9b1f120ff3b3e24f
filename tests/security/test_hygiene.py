"""Secrets hygiene, proved end to end: real restores (one green, one rollout failure, one apply error) of a
repo full of distinctive plaintext values, with reports, at the most verbose output there is
(human progress, DR_BOOTSTRAP_DEBUG=1).

No plaintext value, its base64, nor the age key appears in stdout, stderr, the JSON report, JUnit, the
argv or environment of the process or any child it starts (sampled from /proc while it runs), or any
file the run leaves in TMPDIR or the work dir. In the cluster: the key Secret holds exactly the key
file's bytes, Secrets carry no last-applied annotation, restored objects are managed by `dr-bootstrap`
with operation Apply, and no annotation anywhere holds a value.
"""

from __future__ import annotations

import base64
import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.security.conftest import api, clean_env, cli_argv, get_json, list_resources, make_repo, REPO_ROOT
from tests.support.sops import AgeKey, encrypt_bytes, new_age_key, write_key_file

pytestmark = pytest.mark.cluster

NS = "h8-hygiene"
VALUES = {  # distinctive, so a leak cannot hide behind a common word
    "password": "Hy-pass-4f1c9e2a-Quokka",
    "token": "Hy-token-77d3b0e5-Narwhal",
    "cert": "Hy-cert-0a9b8c7d-Pangolin",
    "env": "Hy-env-5e6f7a8b-Axolotl",
    "fail": "Hy-fail-1234abcd-Okapi",
    "docker": "Hy-docker-9f8e7d6c-Tapir",
}
RULES = {"encrypted_regex": "^(data|stringData)$"}


def secret(name: str, string_data: dict[str, str] = {}, data: dict[str, str] = {}, type_: str = "Opaque") -> bytes:
    lines = [f"apiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\n  namespace: {NS}\ntype: {type_}\n"]
    if string_data:
        lines.append("stringData:\n" + "".join(f"  {k}: '{v}'\n" for k, v in string_data.items()))
    if data:
        lines.append("data:\n" + "".join(f"  {k}: {base64.b64encode(v.encode()).decode()}\n" for k, v in data.items()))
    return "".join(lines).encode()


def deployment(name: str, secret_name: str, *, simulate: str | None = None) -> str:
    annotations = f"\n      annotations: {{dr-bootstrap.io/simulate: {simulate}}}" if simulate else ""
    return f"""apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}, namespace: {NS}}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata:
      labels: {{app: {name}}}{annotations}
    spec:
      containers:
        - name: main
          image: registry.example/h8/{name}:1.0
          envFrom: [{{secretRef: {{name: {secret_name}}}}}]
"""


@dataclass
class Setup:
    key: AgeKey
    key_file: Path
    repo: Path
    work: Path
    kubeconfig: Path


@pytest.fixture(scope="module")
def setup(own_cluster, tmp_path_factory) -> Setup:
    work = tmp_path_factory.mktemp("hygiene")
    key = new_age_key()
    enc = lambda text: encrypt_bytes(text, "yaml", [key.recipient], **RULES)  # noqa: E731
    namespace = f"apiVersion: v1\nkind: Namespace\nmetadata: {{name: {NS}}}\n"
    files = {
        "ok/namespace.yaml": namespace,
        "ok/creds.sops.yaml": enc(secret("creds", {"password": VALUES["password"], "token": VALUES["token"]}, {"cert": VALUES["cert"]})),
        "ok/app.enc.env": encrypt_bytes(f"API_KEY={VALUES['env']}\n".encode(), "dotenv", [key.recipient]),
        "ok/kustomization.yaml": "resources: [namespace.yaml, creds.sops.yaml, consumer.yaml]\n"
                                 "secretGenerator:\n  - name: app-env\n    namespace: h8-hygiene\n    envs: [app.enc.env]\n"
                                 "    options: {disableNameSuffixHash: true}\n",
        "ok/consumer.yaml": deployment("consumer", "creds"),
        "fail/namespace.yaml": namespace,
        "fail/crash.sops.yaml": enc(secret("crash-creds", {"password": VALUES["fail"]})),
        "fail/crasher.yaml": deployment("crasher", "crash-creds", simulate="crashloop"),
        "apply-error/namespace.yaml": namespace,
        "apply-error/pull.sops.yaml": enc(secret("pull", {".dockerconfigjson": "{not json " + VALUES["docker"]},
                                                 type_="kubernetes.io/dockerconfigjson")),
    }
    repo = make_repo(work / "repo", files)
    return Setup(key, write_key_file(work / "age.agekey", key), repo, work, own_cluster.kubeconfig)


def needles(setup: Setup) -> dict[str, bytes]:
    """Every form a leak could take: each value, its base64, the key and the key file's base64."""
    out = {}
    for name, value in {**VALUES, "age key": setup.key.identity}.items():
        out[name] = value.encode()
        out[f"{name} (base64)"] = base64.b64encode(value.encode())
    out["key file (base64)"] = base64.b64encode(setup.key_file.read_bytes())
    return out


def leaks(blob: bytes, setup: Setup) -> list[str]:
    return [name for name, needle in needles(setup).items() if needle in blob]


# ------------------------------------------------------------------------------------------ /proc sampling


def _descendants(root: int) -> set[int]:
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
                parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
    family, grew = {root}, True
    while grew:
        grew = False
        for pid, ppid in parents.items():
            if ppid in family and pid not in family:
                family.add(pid)
                grew = True
    return family


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str
    proc_samples: list[bytes]
    seconds: float


def run_sampled(args: list[str], env: dict[str, str], timeout: float = 300) -> Run:
    """Run the CLI, reading argv and environment of it and every child from /proc until it exits."""
    out, err = env["TMPDIR"] + "/../stdout", env["TMPDIR"] + "/../stderr"
    started = time.monotonic()
    with open(out, "wb") as stdout, open(err, "wb") as stderr:
        proc = subprocess.Popen(cli_argv(*args), env=env, stdout=stdout, stderr=stderr, stdin=subprocess.DEVNULL, cwd=REPO_ROOT)
        samples: list[bytes] = []
        seen: set[tuple[int, bytes]] = set()
        while proc.poll() is None and time.monotonic() - started < timeout:
            for pid in _descendants(proc.pid):
                for part in ("cmdline", "environ"):
                    try:
                        blob = Path(f"/proc/{pid}/{part}").read_bytes()
                    except OSError:
                        continue
                    if (pid, blob) not in seen:
                        seen.add((pid, blob))
                        samples.append(blob)
            time.sleep(0.005)
        if proc.poll() is None:
            proc.kill()
        proc.wait()
    return Run(proc.returncode, Path(out).read_text(), Path(err).read_text(), samples, time.monotonic() - started)


def files_under(root: Path) -> dict[Path, bytes]:
    found = {}
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink():
            try:
                found[path] = path.read_bytes()
            except OSError:
                continue
    return found


def restore(setup: Setup, tmp_path: Path, path: str, *extra: str) -> tuple[Run, dict[Path, bytes]]:
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    env = clean_env(tmp_path / "home", TMPDIR=str(tmpdir), DR_BOOTSTRAP_DEBUG="1")
    before = files_under(tmp_path)
    run = run_sampled(["restore", str(setup.repo), "--yes", "--age-key-file", str(setup.key_file), "--path", path,
                       "--kubeconfig", str(setup.kubeconfig), "--report", str(tmp_path / "report.json"),
                       "--junit", str(tmp_path / "report.xml"), *extra], env)
    created = {p: b for p, b in files_under(tmp_path).items() if before.get(p) != b}
    return run, created


def assert_no_leaks(setup: Setup, run: Run, created: dict[Path, bytes]) -> None:
    assert "Traceback" not in run.stderr, run.stderr
    assert leaks(run.stdout.encode(), setup) == [], "stdout"
    assert leaks(run.stderr.encode(), setup) == [], "stderr"
    assert run.proc_samples, "no /proc sample was taken"
    for blob in run.proc_samples:
        assert leaks(blob, setup) == [], "argv or environment of the run or a child"
    assert any(p.name == "report.json" for p in created) and any(p.name == "report.xml" for p in created)
    for path, blob in created.items():
        assert leaks(blob, setup) == [], f"{path} holds a value"


# ------------------------------------------------------------------------------------------ the tests


def test_green_restore_leaks_nothing_and_leaves_clean_objects(setup, tmp_path):
    run, created = restore(setup, tmp_path, "ok")
    assert run.returncode == 0, run.stdout + run.stderr
    assert_no_leaks(setup, run, created)

    client = api(setup.kubeconfig)
    try:
        key_secret = get_json(client, "/api/v1/namespaces/flux-system/secrets/sops-age")
        assert base64.b64decode(key_secret["data"]["age.agekey"]) == setup.key_file.read_bytes()
        restored = [("/api/v1", "namespaces", None, NS), ("/api/v1", "secrets", NS, "creds"), ("/api/v1", "secrets", NS, "app-env"),
                    ("/apis/apps/v1", "deployments", NS, "consumer"), ("/api/v1", "secrets", "flux-system", "sops-age")]
        for base, resource, namespace, name in restored:
            where = f"{base}/namespaces/{namespace}/{resource}/{name}" if namespace else f"{base}/{resource}/{name}"
            meta = get_json(client, where)["metadata"]
            assert "kubectl.kubernetes.io/last-applied-configuration" not in (meta.get("annotations") or {}), where
            applies = [m for m in meta["managedFields"] if m["operation"] == "Apply"]
            assert [m["manager"] for m in applies] == ["dr-bootstrap"], where
            assert all(m["manager"] != "dr-bootstrap" or m["operation"] == "Apply" for m in meta["managedFields"]), where
        creds = get_json(client, f"/api/v1/namespaces/{NS}/secrets/creds")["data"]
        assert base64.b64decode(creds["password"]).decode() == VALUES["password"]  # the restore really happened
        assert "password (base64)" in leaks(repr(creds).encode(), setup)  # and the detector sees the stored form

        for base, resource in list_resources(client):  # no value in any annotation of any object
            for item in get_json(client, f"{base}/{resource}")["items"]:
                annotations = repr(item["metadata"].get("annotations") or {}).encode()
                assert leaks(annotations, setup) == [], f"{resource}/{item['metadata']['name']}"
    finally:
        client.close()


def test_rollout_failure_of_a_secret_consumer_leaks_nothing(setup, tmp_path):
    run, created = restore(setup, tmp_path, "fail", "--timeout", "120")
    assert run.returncode == 6, run.stdout + run.stderr
    assert "Deployment/h8-hygiene/crasher" in run.stderr and len(run.stderr.splitlines()) == 1
    assert_no_leaks(setup, run, created)


def test_apply_error_leaks_nothing(setup, tmp_path):
    run, created = restore(setup, tmp_path, "apply-error")
    assert run.returncode == 5, run.stdout + run.stderr
    assert "Secret/h8-hygiene/pull" in run.stderr and len(run.stderr.splitlines()) == 1
    assert_no_leaks(setup, run, created)
