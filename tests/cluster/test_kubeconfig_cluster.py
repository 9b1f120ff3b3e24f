"""Our kubeconfig loader against the real local API server: data and relative-file TLS material, an exec
credential plugin's client certificate, and a wrong CA.

Each connection runs in a fresh interpreter: whether `kubernetes` got imported can only be told there.
"""

from __future__ import annotations

import base64
import datetime
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.support.cluster import exec_plugin_kubeconfig

pytestmark = pytest.mark.cluster

CONNECT = """
import json, sys
from bootstrap.errors import ApplyError
from bootstrap.kube import Cluster
try:
    out = {"version": Cluster(sys.argv[1], retry_deadline=0.5).server_version()}
except ApplyError as exc:
    out = {"error": str(exc)}
out["kubernetes_imported"] = "kubernetes" in sys.modules
print(json.dumps(out))
"""

def connect(kubeconfig: Path, cwd: Path) -> dict:
    """Cluster(kubeconfig).server_version() in a new interpreter, run from `cwd`."""
    repo = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-c", CONNECT, str(kubeconfig)], cwd=cwd, capture_output=True, text=True,
                          timeout=60, env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(repo), "HOME": str(cwd)})
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    if "version" in out:
        assert re.fullmatch(r"v1\.\d+\.\d+\S*", out.pop("version")), out
        out["connected"] = True
    return out


def local(local_cluster) -> tuple[dict, dict, dict]:
    """The local cluster's kubeconfig: (whole document, cluster, user)."""
    doc = yaml.safe_load(Path(local_cluster.kubeconfig).read_text())
    return doc, doc["clusters"][0]["cluster"], doc["users"][0]["user"]


def b64_file(path: str) -> str:
    return base64.b64encode(Path(path).read_bytes()).decode()


def test_data_fields_connect_without_importing_kubernetes(local_cluster, tmp_path):
    doc, cluster, user = local(local_cluster)
    cluster["certificate-authority-data"] = b64_file(cluster.pop("certificate-authority"))
    user["client-certificate-data"] = b64_file(user.pop("client-certificate"))
    user["client-key-data"] = b64_file(user.pop("client-key"))
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(doc))
    assert connect(path, tmp_path) == {"connected": True, "kubernetes_imported": False}


def test_relative_file_paths_resolve_against_the_kubeconfig(local_cluster, tmp_path):
    doc, cluster, user = local(local_cluster)
    pki = tmp_path / "conf" / "pki"
    pki.mkdir(parents=True)
    for entry, key, name in ((cluster, "certificate-authority", "ca.crt"), (user, "client-certificate", "me.crt"),
                             (user, "client-key", "me.key")):
        (pki / name).write_bytes(Path(entry[key]).read_bytes())
        entry[key] = f"pki/{name}"
    path = tmp_path / "conf" / "kubeconfig"
    path.write_text(yaml.safe_dump(doc))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    assert connect(path, elsewhere) == {"connected": True, "kubernetes_imported": False}


def test_exec_plugin_connects_without_importing_kubernetes(local_cluster, tmp_path):
    path = exec_plugin_kubeconfig(local_cluster.kubeconfig, tmp_path)
    assert connect(path, tmp_path) == {"connected": True, "kubernetes_imported": False}


def test_wrong_ca_is_one_line_apply_error_naming_the_server(local_cluster, tmp_path):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "not-the-cluster-ca")])
    now = datetime.datetime.now(datetime.timezone.utc)
    other_ca = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True).sign(key, hashes.SHA256()))
    doc, cluster, _ = local(local_cluster)
    (tmp_path / "ca.crt").write_bytes(other_ca.public_bytes(serialization.Encoding.PEM))
    cluster["certificate-authority"] = "ca.crt"
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(doc))
    result = connect(path, tmp_path)
    error = result.get("error", "")
    assert error.startswith(f"reading the server version: cannot reach the API server at {cluster['server']}: TLS error"), result
    assert "certificate verify failed" in error and "\n" not in error
    assert result["kubernetes_imported"] is False
