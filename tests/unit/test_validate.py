"""The render and validate stages: the values to scrub (learned as the render decrypts), the key Secrets (with Flux's key targets), the
validation gate."""

from __future__ import annotations

import base64

import pytest

from bootstrap.errors import ValidationError
from bootstrap.manifests import ref_of
from bootstrap.model import Manifest
from bootstrap.commands.options import RestoreOptions
from bootstrap.engines.flux.engine import rendered
from bootstrap.stages.validate import KeyOptions, KeySecret, drop_repo_key_copies, key_secrets, validate_and_plan
from bootstrap.engines.flux.kustomizations import parse
from bootstrap.engines.flux.render import FluxPhase, Rendering
from bootstrap.stages.keys import load_keyring
from tests.support.sops import new_age_key, write_key_file


def manifest(body: dict, source: str = "f.yaml", origin: str = "path:.") -> Manifest:
    return Manifest(ref=ref_of(body), body=body, source=source, origin=origin)


def secret(name: str, ns: str = "apps", **fields) -> Manifest:
    return manifest({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": ns}, **fields})


def test_the_validation_gate_refuses_an_invalid_set():
    good = manifest({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "apps"}})
    bad = secret("s", data={"k": "not base64!!"})
    validate_and_plan([good], None, [("all", "path:.")], known_kind=lambda a, k: True, is_namespaced=lambda a, k: True)
    with pytest.raises(ValidationError, match="data.k is not valid base64"):
        validate_and_plan([good, bad], None, [("all", "path:.")], known_kind=lambda a, k: True,
                          is_namespaced=lambda a, k: True)


def rendering(*phases: FluxPhase) -> Rendering:
    from bootstrap.engines.flux.kustomizations import SourceChoice, SourceRef

    return Rendering(phases=list(phases), source=SourceChoice(SourceRef("GitRepository", "flux-system", "flux-system"), ""),
                     kustomizations={}, not_restorable=[], not_selected=[], decrypted_sources=[])


def ks(name: str, ns: str, **spec):
    return parse({"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
                  "metadata": {"name": name, "namespace": ns},
                  "spec": {"path": "./x", "sourceRef": {"kind": "GitRepository", "name": "flux-system"}, **spec}}, "f")


def test_key_secrets_are_the_flag_plus_every_distinct_decryption_secret_ref():
    sops = {"provider": "sops", "secretRef": {"name": "sops-age"}}
    phases = [FluxPhase.of("a", "x", ks("a", "flux-system", decryption=sops)),
              FluxPhase.of("b", "x", ks("b", "apps", decryption=sops)),
              FluxPhase.of("c", "x", ks("c", "apps", decryption={"provider": "sops", "secretRef": {"name": "other"}})),
              FluxPhase.of("d", "x", ks("d", "apps")), FluxPhase.of(".", "", None)]
    targets = key_secrets(KeyOptions.of(RestoreOptions(repo_url="r")), rendered(rendering(*phases)))
    assert [(t.namespace, t.name, t.key) for t in targets] == [
        ("flux-system", "sops-age", "age.agekey"), ("apps", "sops-age", "age.agekey"), ("apps", "other", "age.agekey")]
    assert targets[0].why == "--key-secret, Kustomization flux-system/a"


def test_the_repo_s_own_key_copy(tmp_path):
    ours, theirs = new_age_key(), new_age_key()
    target = [KeySecret("flux-system", "sops-age", "age.agekey", "--key-secret")]
    ring = load_keyring(str(write_key_file(tmp_path / "age.agekey", ours)))
    same = secret("sops-age", "flux-system", stringData={"sops.agekey": ours.key_file_text})
    other = secret("sops-age", "flux-system", data={"age.agekey": base64.b64encode(theirs.key_file_text.encode()).decode()})
    unrelated = secret("db", "flux-system", stringData={"x.agekey": theirs.key_file_text})
    notes: list[str] = []
    assert drop_repo_key_copies([same, unrelated], target, ring, notes.append) == [unrelated]
    assert "holds the same key" in notes[0]
    with pytest.raises(ValidationError) as exc:
        drop_repo_key_copies([other], target, ring, notes.append)
    assert theirs.recipient in str(exc.value) and ours.recipient in str(exc.value)
    assert "AGE-SECRET-KEY" not in str(exc.value)


def test_render_and_validate_teach_the_run_s_scrubber_every_decrypted_value(tmp_path):
    # The report and progress are built before anything is decrypted; the values they must hide reach them
    # only through Run.learn_secrets, as the render decrypts them. A real render (kubectl kustomize) of a real
    # sops file, offline. A plaintext Secret's values are anyone's to read in the repository: never learned.
    import io

    from bootstrap import engines
    from bootstrap.stages.render import RenderOptions, render
    from bootstrap.stages.validate import validate
    from bootstrap.report.progress import QuietProgress
    from bootstrap.report.model import RunReport, Scrubber
    from bootstrap.report.run import Run
    from bootstrap.stages.source import Checkout
    from tests.support.sops import encrypt_file

    key = new_age_key()
    value = "pr3pare-learns-this-value"
    (tmp_path / "repo").mkdir()
    path = tmp_path / "repo" / "creds.sops.yaml"
    path.write_text("apiVersion: v1\nkind: Secret\nmetadata:\n  name: creds\n  namespace: apps\n"
                    f"stringData:\n  password: {value}\n")
    encrypt_file(path, [key.recipient], encrypted_regex="^(data|stringData)$")
    (tmp_path / "repo" / "plain.yaml").write_text("apiVersion: v1\nkind: Secret\nmetadata:\n  name: immich-db\n"
                                                  "  namespace: apps\nstringData:\n  user: immich\n")
    ring = load_keyring(str(write_key_file(tmp_path / "age.agekey", key)))
    shared = Scrubber()
    run = Run(RunReport("plan", scrubber=shared), QuietProgress(errors=io.StringIO(), scrubber=shared))
    checkout = Checkout(root=tmp_path / "repo", commit="0" * 40, ref=None, url=str(tmp_path / "repo"))
    opts = RestoreOptions(repo_url=str(tmp_path / "repo"))
    out = render(RenderOptions.of(opts), checkout, ring, run, engine=engines.get(), lookup=None)
    assert shared(f"oops {value}") == "oops <redacted>"  # learned by the render, as it decrypted
    validated = validate(out.rendered, out.playbook, ring, KeyOptions.of(opts), run, None)
    assert {"creds", "immich-db"} <= {m.ref.name for m in validated.plan.manifests}
    assert shared(f"oops {value} immich-db immich") == "oops <redacted> immich-db immich"
