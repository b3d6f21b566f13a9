"""Logins against the simulator with the real MSAL client, and token validation on Graph."""

from __future__ import annotations

import base64
import hashlib
import json
import ssl
from datetime import UTC, datetime

import httpx
import msal
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from auditor.model.roles import BUILTIN_ROLES
from auditor.sim import SimOptions, SimTenant, Simulator, make_app_certificate
from auditor.sim.tenant_gen import generate_tenant

CLIENT_ID = "11111111-1111-1111-1111-111111111111"
NOW = datetime(2026, 11, 25, 7, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _no_env_ca(monkeypatch: pytest.MonkeyPatch) -> None:
    # requests lets REQUESTS_CA_BUNDLE override MSAL's verify=...; keep the test on the sim's CA only
    for var in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture(scope="module")
def snapshot():
    return generate_tenant(120, seed=3, name="contoso", now=NOW)


@pytest.fixture(scope="module")
def app_cert() -> tuple[str, str]:
    return make_app_certificate()


def client_for(sim: Simulator) -> httpx.Client:
    return httpx.Client(verify=ssl.create_default_context(cafile=sim.ca_bundle_path))


def claims_of(token: str) -> dict:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def msal_app(sim: Simulator, tenant_id: str, credential) -> msal.ConfidentialClientApplication:
    return msal.ConfidentialClientApplication(
        CLIENT_ID,
        client_credential=credential,
        authority=f"{sim.authority_host}/{tenant_id}",
        instance_discovery=False,
        validate_authority=False,
        verify=sim.ca_bundle_path,
    )


def test_msal_secret_login_gives_graph_and_exchange_tokens(snapshot) -> None:
    with Simulator([SimTenant(snapshot, granted={"User.Read.All", "Exchange.ManageAsApp"})]) as sim:
        app = msal_app(sim, snapshot.tenant_id, "sim-secret")
        graph = app.acquire_token_for_client(scopes=[f"{sim.graph_endpoint}/.default"])
        exo = app.acquire_token_for_client(scopes=[f"{sim.exchange_endpoint}/.default"])
        assert graph["token_type"] == "Bearer" and exo["token_type"] == "Bearer"
        g, e = claims_of(graph["access_token"]), claims_of(exo["access_token"])
        assert g["aud"] == "https://graph.microsoft.com" and e["aud"] == "https://outlook.office365.com"
        assert g["tid"] == e["tid"] == snapshot.tenant_id and g["appid"] == CLIENT_ID
        assert g["roles"] == ["User.Read.All"] and e["roles"] == ["Exchange.ManageAsApp"]
        global_reader = next(t for t, n in BUILTIN_ROLES.items() if n == "Global Reader")
        assert g["wids"] == [global_reader]
        assert sim.stats.tokens_issued == 2
        with client_for(sim) as client:
            ok = client.get(
                f"{sim.graph_endpoint}/v1.0/users?$top=5", headers={"Authorization": f"Bearer {graph['access_token']}"}
            )
            assert ok.status_code == 200 and len(ok.json()["value"]) == 5
            # an Exchange token is not accepted by Graph
            wrong = client.get(
                f"{sim.graph_endpoint}/v1.0/users", headers={"Authorization": f"Bearer {exo['access_token']}"}
            )
            assert wrong.status_code == 401
            assert wrong.json()["error"]["code"] == "InvalidAuthenticationToken"


def test_msal_certificate_login_sha256_and_sha1(snapshot, app_cert) -> None:
    cert_pem, key_pem = app_cert
    with Simulator([SimTenant(snapshot, client_secret=None, certificate_pem=cert_pem)]) as sim:
        # MSAL >= 1.35 sends PS256 with x5t#S256 when given the public certificate
        pss = msal_app(sim, snapshot.tenant_id, {"private_key": key_pem, "public_certificate": cert_pem})
        result = pss.acquire_token_for_client(scopes=[f"{sim.graph_endpoint}/.default"])
        assert result.get("token_type") == "Bearer", result
        # with a SHA-1 thumbprint it sends RS256 with x5t
        der = x509.load_pem_x509_certificate(cert_pem.encode()).public_bytes(serialization.Encoding.DER)
        sha1 = hashlib.sha1(der).hexdigest()
        rs = msal_app(sim, snapshot.tenant_id, {"private_key": key_pem, "thumbprint": sha1})
        assert rs.acquire_token_for_client(scopes=[f"{sim.exchange_endpoint}/.default"]).get("token_type") == "Bearer"
        # another key pair claiming the same certificate fails the signature check
        _, other_key = make_app_certificate()
        forged = msal_app(sim, snapshot.tenant_id, {"private_key": other_key, "public_certificate": cert_pem})
        bad = forged.acquire_token_for_client(scopes=[f"{sim.graph_endpoint}/.default"])
        assert bad["error"] == "invalid_client" and "invalid signature" in bad["error_description"]
        # a secret is refused when the app has only a certificate
        assert (
            msal_app(sim, snapshot.tenant_id, "sim-secret").acquire_token_for_client(
                scopes=[f"{sim.graph_endpoint}/.default"]
            )["error"]
            == "invalid_client"
        )


def test_token_endpoint_errors(snapshot) -> None:
    with Simulator([SimTenant(snapshot)]) as sim:
        app = msal_app(sim, snapshot.tenant_id, "wrong-secret")
        bad = app.acquire_token_for_client(scopes=[f"{sim.graph_endpoint}/.default"])
        assert bad["error"] == "invalid_client" and 7000215 in bad["error_codes"]
        scope = msal_app(sim, snapshot.tenant_id, "sim-secret").acquire_token_for_client(
            scopes=["https://vault.azure.net/.default"]
        )
        assert scope["error"] == "invalid_resource" and 500011 in scope["error_codes"]
        with pytest.raises(ValueError, match="authority"):
            msal_app(sim, "00000000-dead-beef-0000-000000000000", "sim-secret")
        with client_for(sim) as client:
            r = client.post(
                f"{sim.authority_host}/{snapshot.tenant_id}/oauth2/v2.0/token",
                data={
                    "grant_type": "client_credentials",
                    "client_id": "nope",
                    "client_secret": "sim-secret",
                    "scope": f"{sim.graph_endpoint}/.default",
                },
            )
            assert r.status_code == 400 and r.json()["error"] == "unauthorized_client"
            assert r.json()["error_description"].startswith("AADSTS700016:")


def _token(client: httpx.Client, sim: Simulator, tenant_id: str, resource: str | None = None) -> str:
    r = client.post(
        f"{sim.authority_host}/{tenant_id}/oauth2/v2.0/token",
        data={
            "grant_type": "client_credentials",
            "client_id": CLIENT_ID,
            "client_secret": "sim-secret",
            "scope": f"{resource or sim.graph_endpoint}/.default",
        },
    )
    r.raise_for_status()
    return r.json()["access_token"]


def test_expired_and_revoked_tokens_get_401(snapshot) -> None:
    with Simulator([SimTenant(snapshot)], SimOptions(token_lifetime_s=-60)) as sim, client_for(sim) as client:
        token = _token(client, sim, snapshot.tenant_id)
        r = client.get(f"{sim.graph_endpoint}/v1.0/users", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 401 and "expired" in r.json()["error"]["message"]
        assert "WWW-Authenticate" in r.headers
        assert sim.stats.unauthorized_401 == 1
    with Simulator([SimTenant(snapshot)], SimOptions(force_401_after_requests=2)) as sim, client_for(sim) as client:
        token = _token(client, sim, snapshot.tenant_id)
        auth = {"Authorization": f"Bearer {token}"}
        codes = [client.get(f"{sim.graph_endpoint}/v1.0/users?$top=1", headers=auth).status_code for _ in range(3)]
        assert codes == [200, 200, 401]
        assert client.get(f"{sim.graph_endpoint}/v1.0/users?$top=1", headers=auth).status_code == 401
        fresh = {"Authorization": f"Bearer {_token(client, sim, snapshot.tenant_id)}"}
        codes = [client.get(f"{sim.graph_endpoint}/v1.0/users?$top=1", headers=fresh).status_code for _ in range(4)]
        assert codes == [200] * 4  # one revocation event; the fresh token keeps working
        tampered = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
        r = client.get(f"{sim.graph_endpoint}/v1.0/users", headers={"Authorization": f"Bearer {tampered}"})
        assert r.status_code == 401


def test_two_tenants_are_isolated(snapshot) -> None:
    other = generate_tenant(60, seed=4, name="fabrikam", now=NOW)
    tenants = [
        SimTenant(snapshot),
        SimTenant(other, client_id="22222222-2222-2222-2222-222222222222", client_secret="other-secret"),
    ]
    with Simulator(tenants) as sim, client_for(sim) as client:
        token = _token(client, sim, snapshot.tenant_id, sim.exchange_endpoint)
        body = {"CmdletInput": {"CmdletName": "Get-TransportConfig", "Parameters": {}}}
        own = client.post(
            f"{sim.exchange_endpoint}/adminapi/beta/{snapshot.tenant_id}/InvokeCommand",
            json=body,
            headers={"Authorization": f"Bearer {token}"},
        )
        assert own.status_code == 200
        cross = client.post(
            f"{sim.exchange_endpoint}/adminapi/beta/{other.tenant_id}/InvokeCommand",
            json=body,
            headers={"Authorization": f"Bearer {token}"},
        )
        assert cross.status_code == 401
        app = msal_app(sim, other.tenant_id, "sim-secret")  # the first tenant's app is unknown here
        assert app.acquire_token_for_client(scopes=[f"{sim.graph_endpoint}/.default"])["error"] == "unauthorized_client"
