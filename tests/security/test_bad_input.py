"""Bad input, table-driven: every case runs the real CLI against one fresh cluster of this module.

Each case asserts the documented exit code, exactly one line on stderr that names the culprit and the
cause, no traceback, no plaintext anywhere in the output, and no write to the cluster: every object of
every listable resource type (found by discovery; controller-churned kinds such as events, leases and
nodes left out) has the same uid and resourceVersion after the run as before the first case.

Decisions the table documents:
- A key file readable by group or others is a warning, as with ssh and sops: the restore goes on and
  prints `WARNING: UNPROTECTED KEY FILE`. Those cases run with `--dry-run`, so they write nothing either.
- A YAML document that is not a Kubernetes object (no apiVersion/kind) is skipped and counted, not an
  error; so is a document with an apiVersion and no kind. A document with a kind and no name is an error.
- A click-level usage error (unknown option) is click's own multi-line usage text: not in this table.
"""

from __future__ import annotations

import base64
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.security.conftest import ClusterState, clean_env, diff, make_repo, run_cli
from tests.support.sops import AgeKey, encrypt_bytes, new_age_key, write_key_file

pytestmark = pytest.mark.cluster

PASSWORD = "pw-Zq81-bad-input-table"
USERNAME = "user-Kx55-bad-input"
NS = "h8-bad"

NAMESPACE = f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {NS}\n"
CONFIGMAP = f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: {NS}\ndata:\n  mode: safe\n"
SECRET = (
    f"apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n  namespace: {NS}\ntype: Opaque\n"
    f"stringData:\n  username: {USERNAME}\n  password: {PASSWORD}\n"
)
OTHER_SECRET = SECRET.replace("name: db", "name: other")
SECRET_FILE = "app/db.sops.yaml"


@dataclass
class Material:
    """What every case is built from: keys, the encrypted Secret, another encrypted file, a scratch dir."""

    key: AgeKey
    key_file: Path
    stranger_file: Path
    encrypted: bytes
    other_encrypted: bytes
    work: Path
    kubeconfig: Path

    def base_files(self) -> dict[str, str | bytes | None]:
        return {"namespaces.yaml": NAMESPACE, "app/settings.yaml": CONFIGMAP, SECRET_FILE: self.encrypted}


Files = Callable[[Material], dict[str, str | bytes | None]]


@dataclass
class Case:
    id: str
    exit_code: int
    pattern: str  # must match the one stderr line (or, with exit 0, a stdout line; with `warns`, the warning)
    files: Files = lambda m: {}
    args: Callable[[Material, Path], list[str]] = lambda m, repo: []
    key: Callable[[Material, Path], list[str]] | None = None  # default: --age-key-file <good key>
    repo: Callable[[Material, Path], str] | None = None  # default: the case's repo path
    symlinks: Callable[[Material], dict[str, str]] = lambda m: {}
    env: dict[str, str] = field(default_factory=dict)
    warns: bool = False  # exit 0 with exactly one warning line on stderr (never on stdout)


# ------------------------------------------------------------------------------------------ tampering


def _line(data: bytes, key: str) -> bytes:
    return re.search(rb"(?m)^\s*" + key.encode() + rb": .*$", data).group(0)


def flipped_byte(data: bytes) -> bytes:
    line = _line(data, "password")
    i = line.index(b"data:") + 5
    return data.replace(line, line[:i] + (b"A" if line[i:i + 1] != b"A" else b"B") + line[i + 1:])


def edited_plain_field(data: bytes) -> bytes:
    return data.replace(b"type: Opaque", b"type: kubernetes.io/basic-auth", 1)


def swapped_values(data: bytes) -> bytes:
    pw, user = _line(data, "password"), _line(data, "username")
    pw_enc, user_enc = pw.split(b": ", 1)[1], user.split(b": ", 1)[1]
    return data.replace(pw, pw.replace(pw_enc, user_enc)).replace(user, user.replace(user_enc, pw_enc))


def foreign_mac(data: bytes, other: bytes) -> bytes:
    return data.replace(_line(data, "mac"), _line(other, "mac"))


def truncated_armor(data: bytes) -> bytes:
    lines = data.split(b"\n")
    begin = next(i for i, ln in enumerate(lines) if b"BEGIN AGE ENCRYPTED FILE" in ln)
    return b"\n".join(lines[: begin + 2] + lines[begin + 3:])


def without_metadata(data: bytes) -> bytes:
    return data[: data.index(b"\nsops:")] + b"\n"


# ------------------------------------------------------------------------------------------ big inputs

BILLION_LAUGHS = "a: &a [x,x,x,x,x,x,x,x,x]\n" + "".join(
    f"{n}: &{n} [{','.join([f'*{p}'] * 9)}]\n" for p, n in zip("abcdefgh", "bcdefghi"))
DEEP = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: deep, namespace: h8-bad}\ndata: " + "[" * 150 + "]" * 150 + "\n"
HUGE = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: huge, namespace: h8-bad}\ndata:\n  blob: '" + "x" * (9 * 1024 * 1024) + "'\n"
MANY_NODES = "apiVersion: v1\nkind: List\nitems: [" + "1," * 600_000 + "1]\n"


def _plain(name: str, body: str) -> Files:
    return lambda m: {name: body}


def _playbook(phases: str) -> Files:
    return lambda m: {"dr-bootstrap.yaml": f"apiVersion: dr-bootstrap.io/v1alpha1\nkind: Playbook\nspec:\n  phases:\n{phases}"}


def _key_file(name: str, content: bytes | None, mode: int = 0o600) -> Callable[[Material, Path], list[str]]:
    def make(m: Material, case_dir: Path) -> list[str]:
        path = case_dir / name
        if content is not None:
            path.write_bytes(content)
            path.chmod(mode)
        return ["--age-key-file", str(path)]

    return make


def _good_key_with_mode(mode: int) -> Callable[[Material, Path], list[str]]:
    def make(m: Material, case_dir: Path) -> list[str]:
        path = write_key_file(case_dir / "loose.agekey", m.key, mode=mode)
        return ["--age-key-file", str(path)]

    return make


def _signers(m: Material, case_dir: Path) -> Path:
    path = case_dir / "allowed_signers"
    path.write_text("ops@example.invalid ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n")
    return path


CASES = [
    # -- the key
    Case("wrong-key", 4, rf"{SECRET_FILE}.*no identity matches", key=lambda m, d: ["--age-key-file", str(m.stranger_file)]),
    Case("key-file-missing", 4, r"--age-key-file \S+missing\.agekey: cannot read the key file \(No such file",
         key=_key_file("missing.agekey", None)),
    Case("key-file-empty", 4, r"--age-key-file \S+empty\.agekey: no age identity found", key=_key_file("empty.agekey", b"")),
    Case("key-file-not-age", 4, r"junk\.agekey: line 1 is not a valid age identity", key=_key_file("junk.agekey", b"hello world\n")),
    Case("key-file-is-directory", 4, r"--age-key-file \S+: cannot read the key file \(Is a directory",
         key=lambda m, d: ["--age-key-file", str(d)]),
    Case("key-file-broken-ssh-key", 4, r"not a usable SSH private key",
         key=_key_file("id_ed25519", b"-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n")),
    Case("key-file-post-quantum", 4, r"line 1: unsupported identity type",
         key=_key_file("pq.agekey", b"AGE-SECRET-KEY-PQ-1QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ\n")),
    Case("no-key-anywhere", 4, r"no age key: pass --age-key-file PATH", key=lambda m, d: []),
    Case("key-world-readable-warns", 0, r"^warning: UNPROTECTED KEY FILE: \S+ is accessible by group/others \(mode 0644\)",
         key=_good_key_with_mode(0o644), args=lambda m, r: ["--dry-run"], warns=True),
    Case("key-group-readable-warns", 0, r"^warning: UNPROTECTED KEY FILE: \S+ is accessible by group/others \(mode 0640\)",
         key=_good_key_with_mode(0o640), args=lambda m, r: ["--dry-run"], warns=True),
    # -- tampered SOPS files (the same tamperings as tests/unit/sops/test_negative.py, through the whole CLI)
    Case("flipped-ciphertext-byte", 4, rf"{SECRET_FILE}: value at 'stringData:password' failed authentication",
         files=lambda m: {SECRET_FILE: flipped_byte(m.encrypted)}),
    Case("edited-field-under-mac", 4, rf"{SECRET_FILE}: MAC mismatch", files=lambda m: {SECRET_FILE: edited_plain_field(m.encrypted)}),
    Case("values-swapped-between-keys", 4, rf"{SECRET_FILE}: value at 'stringData:\w+' failed authentication",
         files=lambda m: {SECRET_FILE: swapped_values(m.encrypted)}),
    Case("mac-from-another-file", 4, rf"{SECRET_FILE}: MAC mismatch", files=lambda m: {SECRET_FILE: foreign_mac(m.encrypted, m.other_encrypted)}),
    Case("truncated-age-armor", 4, rf"{SECRET_FILE}: .*does not open \(corrupt or truncated",
         files=lambda m: {SECRET_FILE: truncated_armor(m.encrypted)}),
    Case("sops-metadata-removed", 4, rf"{SECRET_FILE}: Secret/{NS}/db: stringData\.\w+ is still encrypted \(ENC\[\.\.\.\]\)",
         files=lambda m: {SECRET_FILE: without_metadata(m.encrypted)}),
    Case("enc-left-in-plain-file", 4, r"app/leftover\.yaml: ConfigMap/h8-bad/leftover: data\.token is still encrypted",
         files=_plain("app/leftover.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: leftover, namespace: h8-bad}\n"
                      "data:\n  token: ENC[AES256_GCM,data:abcd,iv:AAAAAAAAAAAAAAAAAAAAAA==,tag:AAAAAAAAAAAAAAAAAAAAAA==,type:str]\n")),
    # -- hostile or malformed documents
    Case("yaml-bomb", 4, r"app/bomb\.yaml: more than \d+ nodes after alias expansion", files=_plain("app/bomb.yaml", BILLION_LAUGHS)),
    Case("deeply-nested", 4, r"app/deep\.yaml: nested deeper than \d+ levels", files=_plain("app/deep.yaml", DEEP)),
    Case("huge-document", 4, r"app/huge\.yaml: larger than \d+ bytes", files=_plain("app/huge.yaml", HUGE)),
    Case("too-many-nodes", 4, r"app/many\.yaml: more than \d+ nodes", files=_plain("app/many.yaml", MANY_NODES)),
    Case("malformed-yaml", 4, r"app/broken\.yaml: not valid YAML: .* at line \d+", files=_plain("app/broken.yaml", "a: [1, 2\nb: }\n")),
    # a .json file is a resource only where a kustomization names it (Flux's plain-directory scan reads .yaml/.yml)
    Case("malformed-json", 4, r"app/broken/broken\.json: not valid JSON: .* at line \d+",
         files=lambda m: {"app/broken/kustomization.yaml": "resources: [broken.json]\n",
                          "app/broken/broken.json": '{"apiVersion": "v1",'}),
    Case("not-utf8", 4, r"app/latin1\.yaml: not UTF-8 text", files=lambda m: {"app/latin1.yaml": b"name: caf\xe9\n"}),
    # YAML in a plain directory is a resource, as Flux's generated kustomization makes it: kustomize refuses
    # what is not a Kubernetes object (Flux fails such a Kustomization the same way)
    Case("not-kubernetes-yaml-fails-as-in-flux", 4, r"app/values\.yaml: missing Resource metadata",
         files=_plain("app/values.yaml", "replicas: 3\nimage: {tag: v1}\n")),
    Case("no-kind", 4, r"app/nokind\.yaml: missing kind",
         files=_plain("app/nokind.yaml", "apiVersion: v1\nmetadata: {name: x, namespace: h8-bad}\n")),
    Case("no-name", 4, r"app/noname\.yaml: missing metadata\.name in a ConfigMap",
         files=_plain("app/noname.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {namespace: h8-bad}\n")),
    Case("name-not-a-string", 4, r"app/numname\.yaml: missing metadata\.name in a ConfigMap",
         files=_plain("app/numname.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: [a], namespace: h8-bad}\n")),
    Case("duplicate-object", 4, r"app/settings\.yaml: may not add resource with an already registered id: "
         r"ConfigMap\.v1\.\[noGrp\]/settings\.h8-bad", files=_plain("app/settings-copy.yaml", CONFIGMAP)),
    Case("invalid-base64-in-secret-data", 4, r"app/b64\.yaml: Secret/h8-bad/b64: data\.token is not valid base64",
         files=_plain("app/b64.yaml", "apiVersion: v1\nkind: Secret\nmetadata: {name: b64, namespace: h8-bad}\ndata: {token: 'not base64!'}\n")),
    Case("invalid-secret-key", 4, r"app/badkey\.yaml: Secret/h8-bad/badkey: data key 'has space' is not a valid Secret key",
         files=_plain("app/badkey.yaml", "apiVersion: v1\nkind: Secret\nmetadata: {name: badkey, namespace: h8-bad}\ndata: {'has space': aGk=}\n")),
    Case("cr-without-crd", 4, r"app/widget\.yaml: Widget/h8-bad/w: no CRD defines Widget\.widgets\.h8\.example\.com",
         files=_plain("app/widget.yaml", "apiVersion: widgets.h8.example.com/v1\nkind: Widget\nmetadata: {name: w, namespace: h8-bad}\n")),
    Case("unknown-apiversion", 4, r"app/cm7\.yaml: ConfigMap/h8-bad/cm7: unknown apiVersion/kind v7 ConfigMap",
         files=_plain("app/cm7.yaml", "apiVersion: v7\nkind: ConfigMap\nmetadata: {name: cm7, namespace: h8-bad}\n")),
    # -- playbooks
    Case("playbook-cycle", 4, r"dr-bootstrap\.yaml: spec\.phases: dependsOn cycle (a -> b -> a|b -> a -> b)",
         files=_playbook("    - {name: a, paths: ['app/**'], dependsOn: [b]}\n    - {name: b, paths: ['*.yaml'], dependsOn: [a]}\n")),
    Case("playbook-unknown-phase", 4, r"dr-bootstrap\.yaml: spec\.phases\[0\]\.dependsOn: unknown phase 'nope'",
         files=_playbook("    - {name: a, paths: ['**'], dependsOn: [nope]}\n")),
    Case("playbook-unknown-field", 4, r"dr-bootstrap\.yaml: spec\.phases\[0\]: unknown field\(s\) colour",
         files=_playbook("    - {name: a, paths: ['**'], colour: red}\n")),
    Case("playbook-flag-missing-file", 4, r"nope\.yaml: cannot read playbook \(No such file",
         args=lambda m, r: ["--playbook", str(m.work / "nope.yaml")]),
    # -- the source
    Case("unreachable-git-url", 3, r"cannot clone https://127\.0\.0\.1:9/fleet\.git: repository unreachable",
         repo=lambda m, r: "https://127.0.0.1:9/fleet.git"),
    Case("repo-path-missing", 3, r"cannot clone \S+/no-such-repo: repository not found", repo=lambda m, r: str(m.work / "no-such-repo")),
    Case("not-a-git-repo", 3, r"cannot clone \S+: not a git repository", repo=lambda m, r: str(m.work)),
    Case("url-with-password", 3, r"repository URL https://127\.0\.0\.1:9/x\.git embeds a password",
         repo=lambda m, r: "https://ops:Hunter2Hunter2@127.0.0.1:9/x.git"),
    Case("unknown-ref", 3, r"cannot clone \S+ at ref 'v9\.9\.9': unknown ref", args=lambda m, r: ["--ref", "v9.9.9"]),
    Case("unknown-sha", 3, r"at ref '0{40}': unknown ref", args=lambda m, r: ["--ref", "0" * 40]),
    Case("path-missing", 3, r"--path 'clusters/prod' not found in \S+ at [0-9a-f]{12}", args=lambda m, r: ["--path", "clusters/prod"]),
    Case("path-outside-repo", 3, r"--path '\.\./\.\.' points outside the repository", args=lambda m, r: ["--path", "../.."]),
    Case("committed-age-key", 4, r"leak/old\.agekey: the repository contains an age private key.*--allow-committed-keys",
         files=lambda m: {"leak/old.agekey": m.key.key_file_text}),
    Case("symlink-out-of-repo", 4, r"app/evil\.yaml: symlink points outside the repository; refused",
         symlinks=lambda m: {"app/evil.yaml": str(m.work / "outside" / "evil.yaml")}),
    # -- flags
    Case("key-secret-not-ns-name", 2, r"--key-secret 'sops-age': expected NAMESPACE/NAME", args=lambda m, r: ["--key-secret", "sops-age"]),
    Case("key-secret-too-many-parts", 2, r"--key-secret 'a/b/c': expected NAMESPACE/NAME", args=lambda m, r: ["--key-secret", "a/b/c"]),
    Case("key-secret-invalid-namespace", 2, r"--key-secret 'Flux_System/sops-age': .*DNS",
         args=lambda m, r: ["--key-secret", "Flux_System/sops-age"]),
    Case("key-secret-invalid-name", 2, r"--key-secret 'flux-system/Sops Age': .*DNS",
         args=lambda m, r: ["--key-secret", "flux-system/Sops Age"]),
    Case("key-secret-key-not-agekey", 2, r"--key-secret-key 'key\.txt': Flux only reads age keys from entries ending in \.agekey",
         args=lambda m, r: ["--key-secret-key", "key.txt"]),
    Case("key-secret-key-invalid", 2, r"--key-secret-key 'my key\.agekey': .*not a valid Secret key",
         args=lambda m, r: ["--key-secret-key", "my key.agekey"]),
    Case("bad-output", 2, r"Invalid value for '--output' / '-o': 'xml' is not one of 'human', 'json', 'yaml'",
         args=lambda m, r: ["--output", "xml"]),
    Case("report-dir-missing", 2, r"--report \S+/no-dir/r\.json: .*directory", args=lambda m, r: ["--report", str(m.work / "no-dir" / "r.json")]),
    Case("junit-dir-missing", 2, r"--junit \S+/no-dir/r\.xml: .*directory", args=lambda m, r: ["--junit", str(m.work / "no-dir" / "r.xml")]),
    Case("concurrency-zero", 2, r"--concurrency 0: ", args=lambda m, r: ["--concurrency", "0"]),
    Case("timeout-negative", 2, r"Invalid value for '--timeout': '-1' is not a duration", args=lambda m, r: ["--timeout", "-1"]),
    Case("timeout-zero", 2, r"Invalid value for '--timeout': '0s' is not a duration", args=lambda m, r: ["--timeout", "0s"]),
    Case("kubeconfig-missing", 5, r"kubeconfig \S+/no-kubeconfig: file not found", args=lambda m, r: ["--kubeconfig", str(m.work / "no-kubeconfig")]),
    Case("context-unknown", 5, r"context 'nope' not found", args=lambda m, r: ["--context", "nope"]),
    Case("signers-file-missing", 2, r"--verify-signatures \S+/no-signers: cannot read the allowed signers file",
         args=lambda m, r: ["--verify-signatures", str(m.work / "no-signers")]),
    Case("unsigned-commit", 4, r"commit [0-9a-f]{12}: not signed", args=lambda m, r: ["--verify-signatures", str(_signers(m, r.parent / "case"))]),
]


# ------------------------------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def material(own_cluster, tmp_path_factory) -> Material:
    work = tmp_path_factory.mktemp("bad-input")
    key, stranger = new_age_key(), new_age_key()
    rules = {"encrypted_regex": "^(data|stringData)$"}
    outside = work / "outside"
    outside.mkdir()
    (outside / "evil.yaml").write_text(f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: evil, namespace: {NS}}}\n")
    return Material(
        key=key,
        key_file=write_key_file(work / "keys" / "good.agekey", key),
        stranger_file=write_key_file(work / "keys" / "stranger.agekey", stranger),
        encrypted=encrypt_bytes(SECRET.encode(), "yaml", [key.recipient], **rules),
        other_encrypted=encrypt_bytes(OTHER_SECRET.encode(), "yaml", [key.recipient], **rules),
        work=work,
        kubeconfig=own_cluster.kubeconfig,
    )


@pytest.fixture(scope="module")
def baseline(material) -> Iterator[dict]:
    """The cluster before the first case; every case compares against it (and resets it if it wrote)."""
    state = ClusterState(material.kubeconfig)
    try:
        yield {"state": state, "objects": state.snapshot()}
    finally:
        state.close()


# ------------------------------------------------------------------------------------------ the table


def test_the_table_is_big_enough():
    assert len(CASES) >= 40 and len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_refused_with_one_line_and_nothing_written(case: Case, material: Material, baseline: dict, tmp_path):
    case_dir = tmp_path / "case"
    case_dir.mkdir()
    repo = make_repo(tmp_path / "repo", {**material.base_files(), **case.files(material)}, symlinks=case.symlinks(material))
    key_args = case.key(material, case_dir) if case.key else ["--age-key-file", str(material.key_file)]
    url = case.repo(material, repo) if case.repo else str(repo)
    # the case's own options come last: for a repeated option, the last one wins
    args = ["restore", url, *key_args, "--kubeconfig", str(material.kubeconfig), "--timeout", "30", "--yes",
            *case.args(material, repo)]
    result = run_cli(*args, env=clean_env(tmp_path / "home", **case.env))

    output = result.stdout + result.stderr
    assert "Traceback" not in output, output
    for value in (PASSWORD, USERNAME, material.key.identity, "Hunter2Hunter2"):
        assert value not in output and base64.b64encode(value.encode()).decode() not in output
    assert result.returncode == case.exit_code, output
    if case.warns:
        assert result.returncode == 0
        [warning] = result.stderr.splitlines()
        assert re.search(case.pattern, warning), warning
        assert "UNPROTECTED" not in result.stdout
    elif case.exit_code == 0:
        assert result.stderr == "", result.stderr
        assert any(re.search(case.pattern, line) for line in result.stdout.splitlines()), result.stdout
    else:
        # one summary line naming the file, object or flag and the cause; several problems add the next few,
        # one per indented line (bootstrap.errors.error_lines)
        summary, *more = result.stderr.splitlines()
        assert re.search(case.pattern, summary), summary
        assert summary.startswith("error: ")
        assert all(line.startswith("  ") for line in more) and len(more) <= 6, result.stderr

    changes = diff(baseline["objects"], baseline["state"].snapshot())
    if changes:  # later cases compare against the state this one left (after the controllers settle)
        time.sleep(3)
        baseline["objects"] = baseline["state"].snapshot()
    assert changes == [], "the run wrote to the cluster"
