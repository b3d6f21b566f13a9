"""App-only authentication with MSAL: one cached token per resource (Graph, Exchange).

The credential is a client secret or a certificate (PEM with its private key, or PFX). Tokens are
cached here, refreshed shortly before they expire and on demand after a 401. Tokens and secrets are
never logged: :class:`RedactingFilter` is installed on the ``auditor`` and ``msal`` loggers.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import re
import ssl
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import msal
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from auditor.config import TenantConfig
from auditor.errors import AuthError, ConfigError
from auditor.transport.clouds import CloudEndpoints, endpoints_for
from auditor.transport.tls import requests_session, ssl_context

log = logging.getLogger("auditor.transport.auth")

# ---------------------------------------------------------------- redaction

_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*")
_BEARER = re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+")
_KV = re.compile(
    r"(?i)((?:client_secret|access_token|refresh_token|id_token|client_assertion|assertion|password|passwd|secret)"
    r"[\"']?\s*[:=]\s*[\"']?)[^\"'&\s,}]+"
)
_AUTHORIZATION = re.compile(r"(?i)(authorization[\"']?\s*[:=]\s*[\"']?(?:[A-Za-z]+\s+)?)[^\s\"',}]+")


def redact(text: str, secrets: tuple[str, ...] | None = None) -> str:
    """Remove bearer tokens, JWTs, ``secret=...`` pairs and any known secret value from ``text``.

    ``secrets`` defaults to every secret registered with :func:`install_redaction` (the configured
    client secrets); each is also removed in its URL-encoded forms, as a server echoing a form body
    would quote it.
    """
    if not text:
        return text
    for value in _registered_secrets() if secrets is None else secrets:
        if value and len(value) >= 4:
            for form in {value, quote(value, safe=""), quote_plus(value)}:
                text = text.replace(form, "***")
    text = _JWT.sub("***", text)
    text = _BEARER.sub(r"\1***", text)
    text = _AUTHORIZATION.sub(r"\1***", text)
    return _KV.sub(r"\1***", text)


def _registered_secrets() -> tuple[str, ...]:
    return tuple(_INSTALLED[0]._secrets) if _INSTALLED else ()


class RedactingFilter(logging.Filter):
    """Rewrites a record so that no token or registered secret reaches a handler."""

    def __init__(self) -> None:
        super().__init__()
        self._secrets: set[str] = set()

    def add_secret(self, value: str | None) -> None:
        if value:
            self._secrets.add(value)

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:
            message = str(record.msg)
        clean = redact(message, tuple(self._secrets))
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_text:
            record.exc_text = redact(record.exc_text, tuple(self._secrets))
        return True


_FILTER_LOCK = threading.Lock()
_EXC_FORMATTER = logging.Formatter()
_INSTALLED: list[RedactingFilter] = []


def install_redaction(secret: str | None = None) -> RedactingFilter:
    """Redact every log record created from now on (any logger, any handler); idempotent.

    Logger filters do not see records propagated from child loggers (``msal.application``,
    ``urllib3.connectionpool``), so the filter is applied in the log-record factory instead.
    """
    with _FILTER_LOCK:
        if not _INSTALLED:
            redactor = RedactingFilter()
            previous = logging.getLogRecordFactory()

            def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
                record = previous(*args, **kwargs)
                if record.exc_info and not record.exc_text:
                    # A traceback is formatted later, by the handler: format (and redact) it now.
                    record.exc_text = _EXC_FORMATTER.formatException(record.exc_info)
                redactor.filter(record)
                return record

            logging.setLogRecordFactory(factory)
            _INSTALLED.append(redactor)
        redactor = _INSTALLED[0]
        redactor.add_secret(secret)
        return redactor


# ---------------------------------------------------------------- credentials


@dataclass(frozen=True)
class CertificateCredential:
    private_key_pem: str
    certificate_pem: str
    sha1_thumbprint: str
    sha256_thumbprint: str

    def msal_credential(self) -> dict[str, str]:
        # ``public_certificate`` lets MSAL send x5c and sign with the SHA-256 thumbprint (PS256);
        # the SHA-1 thumbprint is kept for display (doctor) and for ADFS-style authorities.
        return {"private_key": self.private_key_pem, "public_certificate": self.certificate_pem}


def load_certificate(path: str, password: str | None, tenant_name: str) -> CertificateCredential:
    """Read a PEM (key + certificate) or PFX/PKCS#12 file and derive both thumbprints."""
    file = Path(path)
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise ConfigError(
            f"The certificate file {path} for tenant {tenant_name} cannot be read ({exc.strerror})."
        ) from exc
    pwd = password.encode() if password else None
    try:
        if b"-----BEGIN" in data:
            key = serialization.load_pem_private_key(_pem_block(data, b"PRIVATE KEY"), password=pwd)
            certs = x509.load_pem_x509_certificates(data)
            cert = certs[0]
        else:
            pfx_key, pfx_cert, _extra = pkcs12.load_key_and_certificates(data, pwd)
            if pfx_key is None or pfx_cert is None:
                raise ValueError("the PFX file must hold both the private key and the certificate")
            key, cert = pfx_key, pfx_cert
    except (ValueError, TypeError) as exc:
        raise ConfigError(
            f"The certificate file {path} for tenant {tenant_name} is not a usable PEM/PFX key and "
            f"certificate (wrong password or format: {exc})."
        ) from exc
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    cert_pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    return CertificateCredential(
        private_key_pem=key_pem,
        certificate_pem=cert_pem,
        sha1_thumbprint=cert.fingerprint(hashes.SHA1()).hex().upper(),  # noqa: S303 - x5t is SHA-1 by spec
        sha256_thumbprint=cert.fingerprint(hashes.SHA256()).hex().upper(),
    )


def _pem_block(data: bytes, kind: bytes) -> bytes:
    match = re.search(rb"-----BEGIN ([A-Z ]*)" + kind + rb"-----.*?-----END \1" + kind + rb"-----", data, re.S)
    if not match:
        raise ValueError("no private key block in the PEM file")
    return match.group(0)


# ---------------------------------------------------------------- tokens


@dataclass
class Token:
    value: str
    expires_at: float  # time.monotonic() based
    lifetime: float

    def fresh(self, now: float) -> bool:
        margin = min(300.0, self.lifetime * 0.5)  # 5 min for real (~1 h) tokens
        return now < self.expires_at - margin


def decode_claims(token: str) -> dict[str, Any]:
    """The (unverified) payload of a JWT access token: used to read ``roles`` and ``wids``."""
    try:
        payload = token.split(".")[1]
        payload += "=" * (-len(payload) % 4)
        doc = json.loads(base64.urlsafe_b64decode(payload))
        return doc if isinstance(doc, dict) else {}
    except (IndexError, ValueError):
        return {}


class TokenProvider:
    """One MSAL confidential client per tenant; one cached token per resource scope.

    ``get`` is async (MSAL is synchronous, so it runs in a worker thread) and serialised per scope so
    concurrent requests share one token request. ``invalidate`` drops a token after a 401.
    """

    def __init__(
        self,
        tenant: TenantConfig,
        *,
        endpoints: CloudEndpoints | None = None,
        context: ssl.SSLContext | None = None,
        timeout: float = 60,
    ) -> None:
        self.tenant = tenant
        self.endpoints = endpoints or endpoints_for(tenant)
        self.context = context or ssl_context(tenant.ca_bundle)
        self.timeout = timeout
        self._app: msal.ConfidentialClientApplication | None = None
        self._tokens: dict[str, Token] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._thread_lock = threading.Lock()
        self.certificate: CertificateCredential | None = None
        self.requests = 0  # token requests sent (for tests and the benchmark)

    def _credential(self) -> Any:
        t = self.tenant
        if t.certificate_path:
            password = t.certificate_password()
            install_redaction(password)
            self.certificate = load_certificate(t.certificate_path, password, t.name)
            return self.certificate.msal_credential()
        secret = t.client_secret()
        install_redaction(secret)
        return secret

    def _application(self) -> msal.ConfidentialClientApplication:
        if self._app is None:
            credential = self._credential()
            # the same overall deadline per request as the API client's (``collect.timeout_seconds``): a token
            # endpoint trickling its answer fails the tenant at the deadline instead of holding the run
            session = requests_session(self.context, timeout=self.timeout, deadline=self.timeout)
            try:
                self._app = msal.ConfidentialClientApplication(
                    self.tenant.client_id,
                    client_credential=credential,
                    authority=self.endpoints.authority(self.tenant.tenant_id),
                    http_client=session,
                    instance_discovery=self.endpoints.instance_discovery,
                    timeout=self.timeout,
                    token_cache=msal.TokenCache(),
                )
            except ValueError as exc:
                raise AuthError(
                    f"Tenant {self.tenant.name}: MSAL rejected the configuration ({redact(str(exc))})."
                ) from exc
            except Exception as exc:
                raise AuthError(
                    f"Tenant {self.tenant.name}: cannot reach the authority "
                    f"{self.endpoints.authority_host} ({_short(exc)})."
                ) from exc
        return self._app

    def _acquire_sync(self, scope: str) -> Token:
        with self._thread_lock:
            app = self._application()
            # Our own cache decides freshness; drop MSAL's copy so a refresh really asks the authority.
            for item in list(app.token_cache.search(msal.TokenCache.CredentialType.ACCESS_TOKEN)):
                app.token_cache.remove_at(item)
            self.requests += 1
            try:
                result = app.acquire_token_for_client(scopes=[scope])
            except Exception as exc:
                raise AuthError(
                    f"Tenant {self.tenant.name}: no token for {scope} from {self.endpoints.authority_host} "
                    f"({_short(exc)})."
                ) from exc
        if "access_token" not in result:
            code = redact(str(result.get("error", "error")))
            desc = redact(
                str(result.get("error_description", "")).splitlines()[0] if result.get("error_description") else ""
            )
            raise AuthError(
                f"Tenant {self.tenant.name}: token request for {scope} refused: {code} {desc}".strip() + "."
            )
        lifetime = float(result.get("expires_in") or 3599)
        exp = decode_claims(result["access_token"]).get("exp")
        if isinstance(exp, int | float):  # ``exp`` is whole seconds: trust it when it is sooner
            lifetime = max(0.0, min(lifetime, float(exp) - time.time()))
        return Token(result["access_token"], time.monotonic() + lifetime, lifetime)

    async def get(self, scope: str) -> str:
        token = self._tokens.get(scope)
        if token and token.fresh(time.monotonic()):
            return token.value
        lock = self._locks.setdefault(scope, asyncio.Lock())
        async with lock:
            token = self._tokens.get(scope)
            if token and token.fresh(time.monotonic()):
                return token.value
            token = await asyncio.to_thread(self._acquire_sync, scope)
            self._tokens[scope] = token
            return token.value

    def invalidate(self, scope: str, value: str) -> None:
        """Forget ``value`` (a token a server just refused) so the next ``get`` fetches a new one."""
        token = self._tokens.get(scope)
        if token is not None and token.value == value:
            del self._tokens[scope]

    def get_sync(self, scope: str) -> str:
        """Blocking variant for callers outside an event loop (doctor)."""
        token = self._tokens.get(scope)
        if token and token.fresh(time.monotonic()):
            return token.value
        token = self._acquire_sync(scope)
        self._tokens[scope] = token
        return token.value


def _short(exc: BaseException) -> str:
    text = redact(str(exc)) or type(exc).__name__
    if "CERTIFICATE_VERIFY_FAILED" in text:
        return "TLS certificate not trusted; set ca_bundle, SSL_CERT_FILE or REQUESTS_CA_BUNDLE"
    return text if len(text) < 200 else text[:200] + "..."
