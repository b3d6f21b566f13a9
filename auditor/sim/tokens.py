"""JWTs without PyJWT: the simulator signs its access tokens and verifies client assertions.

Access tokens are RS256 JWTs signed by a key generated when the simulator starts. Client assertions
(certificate credentials) are verified against the app's registered certificate: ``x5t`` (SHA-1
thumbprint, RS256) or ``x5t#S256`` (SHA-256 thumbprint, PS256 — what MSAL >= 1.35 sends).
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

CLOCK_SKEW_S = 300


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _split(token: str) -> tuple[dict[str, Any], dict[str, Any], bytes, bytes]:
    """Header, claims, signing input and signature; ValueError when it is not a compact JWS."""
    parts = token.split(".")
    if len(parts) != 3:
        raise ValueError("not a JWT")
    try:
        header = json.loads(b64url_decode(parts[0]))
        claims = json.loads(b64url_decode(parts[1]))
        signature = b64url_decode(parts[2])
    except (ValueError, TypeError) as exc:
        raise ValueError("undecodable JWT") from exc
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise ValueError("JWT header or claims are not objects")
    return header, claims, f"{parts[0]}.{parts[1]}".encode(), signature


class TokenSigner:
    """Issues and verifies the simulator's access tokens."""

    def __init__(self) -> None:
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = uuid.uuid4().hex
        self._verified: dict[str, dict[str, Any]] = {}

    def issue(self, claims: dict[str, Any]) -> str:
        header = {"typ": "JWT", "alg": "RS256", "kid": self.kid}
        signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}"
        signature = self._key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input}.{b64url(signature)}"

    def verify(self, token: str) -> dict[str, Any] | None:
        """Claims if the signature is ours (lifetime is checked by the caller), else None."""
        cached = self._verified.get(token)
        if cached is not None:
            return cached
        try:
            header, claims, signing_input, signature = _split(token)
            if header.get("alg") != "RS256" or header.get("kid") != self.kid:
                return None
            self._key.public_key().verify(signature, signing_input, padding.PKCS1v15(), hashes.SHA256())
        except (ValueError, InvalidSignature):
            return None
        if len(self._verified) > 10_000:
            self._verified.clear()
        self._verified[token] = claims
        return claims

    def jwk(self) -> dict[str, Any]:
        numbers = self._key.public_key().public_numbers()

        def enc(n: int) -> str:
            return b64url(n.to_bytes((n.bit_length() + 7) // 8, "big"))

        return {"kty": "RSA", "use": "sig", "kid": self.kid, "alg": "RS256", "n": enc(numbers.n), "e": enc(numbers.e)}


class AppCertificate:
    """An app registration's certificate credential."""

    def __init__(self, pem: str | bytes) -> None:
        data = pem.encode() if isinstance(pem, str) else pem
        self.cert = x509.load_pem_x509_certificate(data)
        self.x5t = b64url(self.cert.fingerprint(hashes.SHA1()))  # noqa: S303 - the protocol's SHA-1 thumbprint
        self.x5t_s256 = b64url(self.cert.fingerprint(hashes.SHA256()))

    def verify_assertion(
        self, assertion: str, client_id: str, audiences: set[str], now: float | None = None
    ) -> tuple[str, str] | None:
        """None when valid, else ``(AADSTS code, message)`` like Entra's token endpoint."""
        now = time.time() if now is None else now
        try:
            header, claims, signing_input, signature = _split(assertion)
        except ValueError:
            return "AADSTS50027", "JWT token is invalid or malformed."
        alg = header.get("alg")
        x5t_s256 = str(header.get("x5t#S256") or "").rstrip("=")
        x5t = str(header.get("x5t") or "").rstrip("=")
        if x5t_s256:
            if x5t_s256 != self.x5t_s256:
                return "AADSTS700027", (
                    "The certificate with identifier used to sign the client assertion "
                    "is not registered on application."
                )
        elif x5t:
            if x5t != self.x5t:
                return "AADSTS700027", (
                    "The certificate with identifier used to sign the client assertion "
                    "is not registered on application."
                )
        else:
            return "AADSTS700027", "Client assertion is missing the x5t or x5t#S256 header."
        public_key = self.cert.public_key()
        if not isinstance(public_key, rsa.RSAPublicKey):
            return "AADSTS700027", "Only RSA certificates are supported by the simulator."
        try:
            if alg == "RS256":
                public_key.verify(signature, signing_input, padding.PKCS1v15(), hashes.SHA256())
            elif alg == "PS256":
                public_key.verify(
                    signature,
                    signing_input,
                    padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.AUTO),
                    hashes.SHA256(),
                )
            else:
                return "AADSTS700027", f"Client assertion uses the unsupported algorithm {alg!r}."
        except InvalidSignature:
            return "AADSTS700027", "Client assertion contains an invalid signature."
        if claims.get("aud") not in audiences:
            return "AADSTS700016", f"The audience {claims.get('aud')!r} of the client assertion is invalid."
        if claims.get("iss") != client_id or claims.get("sub") != client_id:
            return "AADSTS700023", "Client assertion audience claim does not match Realm issuer."
        try:
            exp = float(claims["exp"])
            nbf = float(claims.get("nbf", claims.get("iat", now)))
        except (KeyError, TypeError, ValueError):
            return "AADSTS700024", "Client assertion is not within its valid time range."
        if exp < now - CLOCK_SKEW_S or nbf > now + CLOCK_SKEW_S:
            return "AADSTS700024", "Client assertion is not within its valid time range."
        return None
