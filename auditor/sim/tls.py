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
    """A CA (its PEM written to ``directory``) and a server context for 127.0.0.1/localhost/::1.

    ``persistent``: the CA's key is kept next to it (``sim-ca-key.pem``, 0600) and reused by the next start,
    so a CA bundle given to the auditor once stays valid across simulator restarts.
    """

    def __init__(self, directory: Path, *, persistent: bool = False) -> None:
        self.ca_bundle_path = directory / "sim-ca.pem"
        key_path = directory / "sim-ca-key.pem"
        if persistent and self.ca_bundle_path.is_file() and key_path.is_file():
            self._ca = trustme.CA.from_pem(self.ca_bundle_path.read_bytes(), key_path.read_bytes())
        else:
            self._ca = trustme.CA(organization_name="Entra Auditor simulator")
            if persistent:
                _write_private(key_path, self._ca.private_key_pem.bytes())
            _write_private(self.ca_bundle_path, self._ca.cert_pem.bytes())
        self._leaf = self._ca.issue_cert("127.0.0.1", "localhost", "::1")

    def server_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._leaf.configure_cert(ctx)
        return ctx


def _write_private(path: Path, data: bytes) -> None:
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_bytes(data)


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
