"""A plain httpx Graph client with a simulator token, for the simulator's own tests."""

from __future__ import annotations

import ssl

import httpx

from auditor.sim import Simulator

CLIENT_ID = "11111111-1111-1111-1111-111111111111"


def graph_client(
    sim: Simulator, tenant_id: str, *, client_id: str = CLIENT_ID, secret: str = "sim-secret"
) -> httpx.Client:
    verify = ssl.create_default_context(cafile=sim.ca_bundle_path)
    r = httpx.post(
        f"{sim.authority_host}/{tenant_id}/oauth2/v2.0/token",
        data={
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": secret,
            "scope": f"{sim.graph_endpoint}/.default",
        },
        verify=verify,
    )
    r.raise_for_status()
    return httpx.Client(
        verify=verify, base_url=sim.graph_endpoint, headers={"Authorization": f"Bearer {r.json()['access_token']}"}
    )
