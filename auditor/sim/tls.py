"""Throwaway TLS material: a private CA, the server certificate, and app certificates for tests."""

from __future__ import annotations

import ssl
from datetime import UTC, datetime, timedelta
from pathlib import Path

import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID


class TlsMaterial:
    """A CA (its PEM written to ``directory``) and a server context for 127.0.0.1/localhost/::1."""

    def __init__(self, directory: Path) -> None:
        self._ca = trustme.CA(organization_name="Entra Auditor simulator")
        self._leaf = self._ca.issue_cert("127.0.0.1", "localhost", "::1")
        self.ca_bundle_path = directory / "sim-ca.pem"
        self.ca_bundle_path.write_bytes(self._ca.cert_pem.bytes())
        self.ca_bundle_path.chmod(0o600)

    def server_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._leaf.configure_cert(ctx)
        return ctx


def make_app_certificate(common_name: str = "entra-auditor-sim-app", days: int = 365) -> tuple[str, str]:
    """A self-signed RSA certificate like the ones uploaded to an app registration.

    Returns ``(certificate_pem, private_key_pem)``: give the certificate to ``SimTenant`` and both to
    MSAL (``{"private_key": key, "public_certificate": cert}``).
    """
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=days))
        .sign(key, hashes.SHA256())
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return cert_pem, key_pem
