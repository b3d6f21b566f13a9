"""Microsoft identity platform endpoints: OpenID discovery, instance discovery, JWKS, token (v2.0)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from auditor.sim.permissions import EXCHANGE_RESOURCE, GRAPH_RESOURCE
from auditor.sim.state import TenantState
from auditor.sim.tokens import TokenSigner
from auditor.sim.wire import SimResponse

GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
EXCHANGE_APP_ID = "00000002-0000-0ff1-ce00-000000000000"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
_RESERVED_SCOPES = {"openid", "profile", "offline_access", "email"}


def aad_error(status: int, error: str, code: int, message: str) -> SimResponse:
    """An error in the v2.0 token endpoint's shape (``AADSTSnnnn: ...`` descriptions)."""
    trace, corr = str(uuid.uuid4()), str(uuid.uuid4())
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    return SimResponse(
        status,
        {
            "error": error,
            "error_description": f"AADSTS{code}: {message} Trace ID: {trace} Correlation ID: {corr} Timestamp: {stamp}",
            "error_codes": [code],
            "timestamp": stamp,
            "trace_id": trace,
            "correlation_id": corr,
            "error_uri": f"https://login.microsoftonline.com/error?code={code}",
        },
        route="token",
    )


class Login:
    """The login host: resolves tenants and issues the simulator's tokens."""

    def __init__(
        self,
        tenants: Mapping[str, TenantState],
        signer: TokenSigner,
        token_lifetime_s: int,
        authority_host: Callable[[], str],
        graph_endpoint: Callable[[], str],
        exchange_endpoint: Callable[[], str],
    ) -> None:
        self.tenants = tenants
        self.signer = signer
        self.lifetime = token_lifetime_s
        self._authority = authority_host
        self._graph = graph_endpoint
        self._exchange = exchange_endpoint
        self.issued = 0  # tokens issued so far; each token carries its sequence number

    def tenant(self, segment: str) -> TenantState | None:
        return self.tenants.get(segment.lower())

    def _unknown_tenant(self, segment: str) -> SimResponse:
        return aad_error(
            400,
            "invalid_tenant",
            90002,
            f"Tenant '{segment}' not found. Check to make sure you have the correct tenant ID and are "
            "signing into the correct cloud.",
        )

    def openid_configuration(self, segment: str) -> SimResponse:
        tenant = self.tenant(segment)
        if tenant is None:
            return self._unknown_tenant(segment)
        host, tid = self._authority(), tenant.tenant_id
        return SimResponse(
            200,
            {
                "token_endpoint": f"{host}/{tid}/oauth2/v2.0/token",
                "token_endpoint_auth_methods_supported": [
                    "client_secret_post",
                    "private_key_jwt",
                    "client_secret_basic",
                ],
                "jwks_uri": f"{host}/{tid}/discovery/v2.0/keys",
                "response_modes_supported": ["query", "fragment", "form_post"],
                "subject_types_supported": ["pairwise"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
                "scopes_supported": ["openid", "profile", "email", "offline_access"],
                "issuer": f"{host}/{tid}/v2.0",
                "request_uri_parameter_supported": False,
                "userinfo_endpoint": f"{self._graph()}/oidc/userinfo",
                "authorization_endpoint": f"{host}/{tid}/oauth2/v2.0/authorize",
                "device_authorization_endpoint": f"{host}/{tid}/oauth2/v2.0/devicecode",
                "http_logout_supported": True,
                "frontchannel_logout_supported": True,
                "end_session_endpoint": f"{host}/{tid}/oauth2/v2.0/logout",
                "claims_supported": ["sub", "iss", "aud", "exp", "iat", "nonce", "tid", "roles", "wids"],
                "tenant_region_scope": "EU",
                "cloud_instance_name": "microsoftonline.com",
                "cloud_graph_host_name": "graph.windows.net",
                "msgraph_host": self._graph().split("://", 1)[-1],
            },
            route="discovery",
        )

    def instance_discovery(self, query: Mapping[str, str]) -> SimResponse:
        endpoint = query.get("authorization_endpoint", "")
        parts = endpoint.split("/")
        segment = parts[3] if len(parts) > 3 else "common"
        netloc = self._authority().split("://", 1)[-1]
        return SimResponse(
            200,
            {
                "tenant_discovery_endpoint": f"{self._authority()}/{segment}/v2.0/.well-known/openid-configuration",
                "api-version": "1.1",
                "metadata": [{"preferred_network": netloc, "preferred_cache": netloc, "aliases": [netloc]}],
            },
            route="instance_discovery",
        )

    def keys(self) -> SimResponse:
        return SimResponse(200, {"keys": [self.signer.jwk()]}, route="keys")

    def _resource(self, scope: str) -> str | None:
        if not scope.endswith("/.default"):
            return None
        resource = scope[: -len("/.default")].rstrip("/")
        graph = {GRAPH_RESOURCE, GRAPH_APP_ID, self._graph().rstrip("/")}
        exchange = {EXCHANGE_RESOURCE, EXCHANGE_APP_ID, self._exchange().rstrip("/")}
        if resource in graph:
            return GRAPH_RESOURCE
        if resource in exchange:
            return EXCHANGE_RESOURCE
        return ""

    def token(self, segment: str, form: Mapping[str, str]) -> SimResponse:
        tenant = self.tenant(segment)
        if tenant is None:
            return self._unknown_tenant(segment)
        if form.get("grant_type") != "client_credentials":
            return aad_error(
                400,
                "unsupported_grant_type",
                70003,
                f"The app requested an unsupported grant type '{form.get('grant_type')}'.",
            )
        client_id = form.get("client_id", "")
        if client_id != tenant.client_id:
            return aad_error(
                400,
                "unauthorized_client",
                700016,
                f"Application with identifier '{client_id}' was not found in the directory '{tenant.default_domain}'.",
            )
        if "client_secret" in form:
            if tenant.client_secret is None or form["client_secret"] != tenant.client_secret:
                return aad_error(
                    401,
                    "invalid_client",
                    7000215,
                    "Invalid client secret provided. Ensure the secret being sent in the request is the "
                    f"client secret value, not the client secret ID, for a secret added to app "
                    f"'{client_id}'.",
                )
        elif "client_assertion" in form:
            if form.get("client_assertion_type") != ASSERTION_TYPE:
                return aad_error(400, "invalid_request", 50027, "Invalid client_assertion_type.")
            if tenant.certificate is None:
                return aad_error(
                    401,
                    "invalid_client",
                    700027,
                    "The certificate with identifier used to sign the client assertion is not "
                    "registered on application.",
                )
            host = self._authority()
            audiences = {
                f"{host}/{seg}/oauth2/v2.0/token" for seg in (segment, tenant.tenant_id, tenant.default_domain)
            }
            problem = tenant.certificate.verify_assertion(form["client_assertion"], client_id, audiences)
            if problem:
                return aad_error(401, "invalid_client", int(problem[0][6:]), problem[1])
        else:
            return aad_error(
                401,
                "invalid_client",
                7000218,
                "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
            )
        scopes = [s for s in form.get("scope", "").split() if s not in _RESERVED_SCOPES]
        if len(scopes) != 1:
            return aad_error(
                400,
                "invalid_scope",
                1002012,
                f"The provided value for scope {' '.join(scopes) or '(none)'} is not valid. Client "
                "credential flows must have a scope value with /.default suffixed to the resource "
                "identifier (application ID URI).",
            )
        resource = self._resource(scopes[0])
        if resource is None:
            return aad_error(
                400,
                "invalid_scope",
                1002012,
                f"The provided value for scope {scopes[0]} is not valid. Client credential flows must "
                "have a scope value with /.default suffixed to the resource identifier "
                "(application ID URI).",
            )
        if not resource:
            return aad_error(
                400,
                "invalid_resource",
                500011,
                f"The resource principal named {scopes[0][: -len('/.default')]} was not found in the "
                f"tenant named {tenant.default_domain}.",
            )
        now = int(time.time())
        roles = tenant.graph_roles if resource == GRAPH_RESOURCE else tenant.exchange_roles
        claims: dict[str, Any] = {
            "aud": resource,
            "iss": f"https://sts.windows.net/{tenant.tenant_id}/",
            "iat": now,
            "nbf": now,
            "exp": now + self.lifetime,
            "appid": client_id,
            "azp": client_id,
            "appidacr": "1",
            "idtyp": "app",
            "oid": str(uuid.uuid5(uuid.NAMESPACE_URL, f"sp:{tenant.tenant_id}:{client_id}")),
            "tid": tenant.tenant_id,
            "roles": roles,
            "wids": tenant.wids,
            "ver": "1.0",
            "jti": uuid.uuid4().hex,
            "seq": self.issued + 1,
        }
        claims["sub"] = claims["oid"]
        self.issued += 1
        return SimResponse(
            200,
            {
                "token_type": "Bearer",
                "expires_in": self.lifetime,
                "ext_expires_in": self.lifetime,
                "access_token": self.signer.issue(claims),
            },
            route="token",
        )
