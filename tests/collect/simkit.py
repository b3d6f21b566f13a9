"""Helpers for the collector tests: a config pointing at a simulator, and record comparison."""

from __future__ import annotations

import json
from typing import Any

from auditor.config import AuditorConfig

SECRET_ENV = "ENTRA_AUDITOR_TEST_SIM_SECRET"


def sim_config(sim: Any, snapshot: Any, *, name: str = "contoso", ca_bundle: bool = True,
               client_id: str = "11111111-1111-1111-1111-111111111111", secret_env: str = SECRET_ENV,
               certificate_path: str | None = None, collect: dict[str, Any] | None = None,
               extra_tenants: list[dict[str, Any]] | None = None, **tenant_kw: Any) -> AuditorConfig:
    tenant: dict[str, Any] = {
        "name": name, "tenant_id": snapshot.tenant_id, "client_id": client_id, "cloud": "custom",
        "authority_host": sim.authority_host, "graph_endpoint": sim.graph_endpoint,
        "exchange_endpoint": sim.exchange_endpoint,
    }
    if certificate_path:
        tenant["certificate_path"] = certificate_path
    else:
        tenant["client_secret_env"] = secret_env
    if ca_bundle:
        tenant["ca_bundle"] = str(sim.ca_bundle_path)
    tenant.update(tenant_kw)
    return AuditorConfig.model_validate({
        "tenants": [tenant, *(extra_tenants or [])],
        "collect": {"max_retries": 8, "timeout_seconds": 30, **(collect or {})},
    })


def canon(value: Any) -> Any:
    """Order-insensitive, None-equals-absent canonical form of raw records for comparison."""
    if isinstance(value, dict):
        return {k: canon(v) for k, v in sorted(value.items()) if v is not None and k != "@odata.context"}
    if isinstance(value, list):
        return sorted((canon(v) for v in value), key=lambda v: json.dumps(v, sort_keys=True, default=str))
    return value


