"""Credentials, clouds, TLS trust and secret redaction (no network)."""

from __future__ import annotations

import io
import logging

import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from auditor.config import TenantConfig
from auditor.errors import ConfigError
from auditor.sim.tls import make_app_certificate
from auditor.transport.auth import decode_claims, install_redaction, load_certificate, redact
from auditor.transport.clouds import endpoints_for
from auditor.transport.http import backoff, retry_after
from auditor.transport.tls import ca_bundle_paths, ssl_context


def _tenant(**kw: object) -> TenantConfig:
    base = {"name": "t1", "tenant_id": "tid", "client_id": "cid", "client_secret_env": "X_SECRET"}
    base.update(kw)
    return TenantConfig(**base)


def test_national_cloud_table_and_custom() -> None:
    assert endpoints_for(_tenant()).graph == "https://graph.microsoft.com"
    gov = endpoints_for(_tenant(cloud="usgov"))
    assert (gov.authority_host, gov.graph, gov.exchange) == (
        "https://login.microsoftonline.us",
        "https://graph.microsoft.us",
        "https://outlook.office365.us",
    )
    assert endpoints_for(_tenant(cloud="usgovdod")).graph == "https://dod-graph.microsoft.us"
    china = endpoints_for(_tenant(cloud="china"))
    assert china.authority("abc") == "https://login.chinacloudapi.cn/abc"
    assert china.graph_scope == "https://microsoftgraph.chinacloudapi.cn/.default"
    custom = endpoints_for(
        _tenant(
            cloud="custom",
            authority_host="https://login.example/",
            graph_endpoint="https://graph.example",
            exchange_endpoint="https://exo.example",
        )
    )
    assert custom.instance_discovery is False
    assert custom.authority("tid") == "https://login.example/tid"
    assert custom.exchange_scope == "https://exo.example/.default"


def test_certificate_pem_and_pfx_thumbprints(tmp_path) -> None:
    cert_pem, key_pem = make_app_certificate()
    cert = x509.load_pem_x509_certificate(cert_pem.encode())
    sha1 = cert.fingerprint(hashes.SHA1()).hex().upper()
    sha256 = cert.fingerprint(hashes.SHA256()).hex().upper()

    pem = tmp_path / "app.pem"
    pem.write_text(key_pem + cert_pem)
    cred = load_certificate(str(pem), None, "t1")
    assert (cred.sha1_thumbprint, cred.sha256_thumbprint) == (sha1, sha256)
    assert "PRIVATE KEY" in cred.msal_credential()["private_key"]

    key = serialization.load_pem_private_key(key_pem.encode(), None)
    pfx = tmp_path / "app.pfx"
    pfx.write_bytes(
        pkcs12.serialize_key_and_certificates(b"app", key, cert, None, serialization.BestAvailableEncryption(b"pw"))
    )
    cred2 = load_certificate(str(pfx), "pw", "t1")
    assert cred2.sha1_thumbprint == sha1 and cred2.certificate_pem.strip() == cert_pem.strip()

    with pytest.raises(ConfigError, match=r"app\.pfx.*tenant t1"):
        load_certificate(str(pfx), "wrong", "t1")
    with pytest.raises(ConfigError, match="cannot be read"):
        load_certificate(str(tmp_path / "missing.pem"), None, "t1")


def test_encrypted_pem_needs_its_password(tmp_path) -> None:
    cert_pem, key_pem = make_app_certificate()
    key = serialization.load_pem_private_key(key_pem.encode(), None)
    enc = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.BestAvailableEncryption(b"s3cret")
    ).decode()
    path = tmp_path / "enc.pem"
    path.write_text(enc + cert_pem)
    assert load_certificate(str(path), "s3cret", "t1").sha256_thumbprint
    with pytest.raises(ConfigError, match=r"enc\.pem"):
        load_certificate(str(path), None, "t1")


def test_ca_bundles_from_config_and_environment(tmp_path) -> None:
    ca = trustme.CA()
    a, b = tmp_path / "a.pem", tmp_path / "b.pem"
    a.write_bytes(ca.cert_pem.bytes())
    b.write_bytes(trustme.CA().cert_pem.bytes())
    env = {"SSL_CERT_FILE": str(b), "REQUESTS_CA_BUNDLE": str(a)}
    assert ca_bundle_paths(str(a), env) == [a, b]
    ctx = ssl_context(str(a), env)
    subjects = [c.get("subject") for c in ctx.get_ca_certs()]
    assert any("Testing CA" in str(s) or "trustme" in str(s) for s in subjects)
    with pytest.raises(ConfigError, match="SSL_CERT_FILE"):
        ca_bundle_paths(None, {"SSL_CERT_FILE": str(tmp_path / "nope.pem")})
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate")
    with pytest.raises(ConfigError, match=r"junk\.pem"):
        ssl_context(str(junk), {})


def test_redaction_filter_keeps_tokens_and_secrets_out_of_logs() -> None:
    secret = "Sup3r-Secret-Value~42"
    jwt = "eyJhbGciOiJSUzI1NiJ9.eyJyb2xlcyI6WyJVc2VyLlJlYWQuQWxsIl19.c2lnbmF0dXJlLWJ5dGVz"
    install_redaction(secret)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    for name in ("auditor.transport.test", "msal.application", "urllib3.connectionpool"):
        logger = logging.getLogger(name)
        logger.addHandler(handler)
        logger.setLevel(logging.DEBUG)
        try:
            logger.debug("POST body client_secret=%s&scope=x", secret)
            logger.debug("headers {'Authorization': 'Bearer %s'}", jwt)
            logger.debug('token response {"access_token": "%s", "expires_in": 3599}', jwt)
        finally:
            logger.removeHandler(handler)
    text = stream.getvalue()
    assert secret not in text and jwt not in text and "eyJ" not in text
    assert text.count("***") >= 9
    assert redact(f"Bearer {jwt}") == "Bearer ***"


def test_decode_claims_and_retry_helpers() -> None:
    import base64
    import json

    payload = base64.urlsafe_b64encode(json.dumps({"roles": ["A"], "wids": ["w"]}).encode()).decode().rstrip("=")
    assert decode_claims(f"h.{payload}.s") == {"roles": ["A"], "wids": ["w"]}
    assert decode_claims("garbage") == {}
    assert retry_after({"retry-after": "7"}) == 7.0
    assert retry_after({}) is None
    assert retry_after({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0
    waits = [backoff(n, 0.5) for n in range(1, 8)]
    assert all(0.5 <= w <= 30.5 for w in waits)
