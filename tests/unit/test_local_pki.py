"""The throwaway local cluster's certificates (drb_localcluster.pki)."""

from __future__ import annotations

import stat

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from drb_localcluster import pki as pki_mod


def test_the_ca_is_rsa_2048_and_the_admin_key_is_p256(tmp_path):
    # The API server verifies the CA's signature on the client certificate at every request: RSA-2048 is the
    # cheaper one to verify (kubeadm's and kind's choice); the admin key signs in handshakes, where P-256 is.
    pki = pki_mod.generate(tmp_path)
    ca = x509.load_pem_x509_certificate(pki.ca_cert.read_bytes())
    cert = x509.load_pem_x509_certificate(pki.cert.read_bytes())
    key = serialization.load_pem_private_key(pki.key.read_bytes(), password=None)

    ca_key = ca.public_key()
    assert isinstance(ca_key, rsa.RSAPublicKey) and ca_key.key_size == 2048
    assert isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(key.curve, ec.SECP256R1)
    assert cert.public_key().public_numbers() == key.public_key().public_numbers()
    cert.verify_directly_issued_by(ca)  # raises when the signature or the issuer does not match


def test_admin_certificate_serves_and_authenticates_as_system_masters(tmp_path):
    pki = pki_mod.generate(tmp_path)
    cert = x509.load_pem_x509_certificate(pki.cert.read_bytes())
    groups = [a.value for a in cert.subject.get_attributes_for_oid(x509.oid.NameOID.ORGANIZATION_NAME)]
    assert groups == ["system:masters"]
    usages = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert set(usages) == {x509.oid.ExtendedKeyUsageOID.SERVER_AUTH, x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH}
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "kubernetes.default.svc" in sans.get_values_for_type(x509.DNSName)
    assert {str(ip) for ip in sans.get_values_for_type(x509.IPAddress)} >= {"127.0.0.1", pki_mod.SERVICE_IP}
    assert stat.S_IMODE(pki.key.stat().st_mode) == 0o600
