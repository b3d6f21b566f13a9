"""Helpers for the collector tests: a config pointing at a simulator, and record comparison."""

from __future__ import annotations

import json
from typing import Any

from auditor.config import AuditorConfig

SECRET_ENV = "ENTRA_AUDITOR_TEST_SIM_SECRET"


def sim_config(
    sim: Any,
    snapshot: Any,
    *,
    name: str = "contoso",
    ca_bundle: bool = True,
    client_id: str = "11111111-1111-1111-1111-111111111111",
    secret_env: str = SECRET_ENV,
    certificate_path: str | None = None,
    collect: dict[str, Any] | None = None,
    extra_tenants: list[dict[str, Any]] | None = None,
    **tenant_kw: Any,
) -> AuditorConfig:
    tenant: dict[str, Any] = {
        "name": name,
        "tenant_id": snapshot.tenant_id,
        "client_id": client_id,
        "cloud": "custom",
        "authority_host": sim.authority_host,
        "graph_endpoint": sim.graph_endpoint,
        "exchange_endpoint": sim.exchange_endpoint,
    }
    if certificate_path:
        tenant["certificate_path"] = certificate_path
    else:
        tenant["client_secret_env"] = secret_env
    if ca_bundle:
        tenant["ca_bundle"] = str(sim.ca_bundle_path)
    tenant.update(tenant_kw)
    return AuditorConfig.model_validate(
        {
            "tenants": [tenant, *(extra_tenants or [])],
            "collect": {"max_retries": 8, "timeout_seconds": 30, **(collect or {})},
        }
    )


def canon(value: Any) -> Any:
    """Order-insensitive, None-equals-absent canonical form of raw records for comparison."""
    if isinstance(value, dict):
        return {k: canon(v) for k, v in sorted(value.items()) if v is not None and k != "@odata.context"}
    if isinstance(value, list):
        return sorted((canon(v) for v in value), key=lambda v: json.dumps(v, sort_keys=True, default=str))
    return value


SENTINELS = ("", "0001-01-01T00:00:00Z")


def role_holders(snapshot: Any) -> set[str]:
    """Ids of users holding a directory role (active, eligible, or through a group) in a served snapshot."""
    principals = {str(r["principalId"]) for r in snapshot.records("role_assignments", []) or []}
    principals |= {str(r["principalId"]) for r in snapshot.records("role_eligibility", []) or []}
    out = set(principals)
    for group in snapshot.records("group_members", []) or []:
        if str(group["id"]) in principals:
            out |= {str(m["id"]) for m in group.get("members") or []}
    users = {str(u["id"]) for u in snapshot.records("users", []) or []}
    return out & users


def activity_dates(activity: Any) -> dict[str, str]:
    """signInActivity without sentinel or empty dates (what the model reads)."""
    return {k: v for k, v in (activity or {}).items() if k.endswith("DateTime") and v not in SENTINELS and v}


def expected(served: Any, name: str) -> Any:
    """What the collector should produce for ``name`` from a simulator serving ``served``.

    Users come without signInActivity (a reports-bucket property); ``sign_in_activity`` holds it for
    the role holders only, dates compared without Graph's sentinels."""
    if name == "users":
        return [{k: v for k, v in u.items() if k != "signInActivity"} for u in served.records("users")]
    if name == "sign_in_activity":
        users = {str(u["id"]): u for u in served.records("users")}
        return {uid: activity_dates(users[uid].get("signInActivity")) for uid in role_holders(served)}
    if name == "group_members":
        return [{k: v for k, v in g.items() if k != "securityEnabled"} for g in served.records(name)]
    return served.records(name)


def got_records(snapshot: Any, name: str) -> Any:
    records = snapshot.records(name)
    if name == "sign_in_activity" and isinstance(records, dict):
        return {uid: activity_dates(a) for uid, a in records.items()}
    return records
