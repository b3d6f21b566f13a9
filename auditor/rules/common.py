"""Small helpers shared by rule modules."""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Iterator
from typing import Any

import pandas as pd

from auditor.findings import Finding
from auditor.model.tenant import TenantModel
from auditor.rules.registry import RuleContext

# The sources that say who holds a directory role; the optional ones add PIM-eligible and group-held roles.
ROLE_SOURCES = ("users", "role_definitions", "role_assignments")
ROLE_OPTIONAL = ("role_eligibility", "group_members", "pim_group_eligibility")
#: Graph does not back-fill sign-in dates before this date, so "never" cannot be known.
NONE_RECORDED = "none recorded since 2023-12-01"


def rows(frame: pd.DataFrame) -> Iterator[Any]:
    """Like ``itertuples`` but reads each column once with ``tolist()``: far faster on string columns."""
    if frame.empty:
        return iter(())
    Row = namedtuple("Row", list(frame.columns), rename=True)
    return map(Row._make, zip(*(frame[c].tolist() for c in frame.columns), strict=True))


def iso(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and pd.isna(value)) or value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp):
        return None if pd.isna(value) else value.isoformat()
    return str(value)


def user_finding(ctx: RuleContext, row: Any, evidence: dict[str, Any], severity: str | None = None) -> Finding:
    return ctx.finding("user", row.id, row.upn or row.display_name or row.id, evidence, severity)


def tenant_finding(
    ctx: RuleContext, model: TenantModel, evidence: dict[str, Any], severity: str | None = None
) -> Finding:
    tenant_id = model.tenant.get("tenant_id") or model.tenant.get("name") or "tenant"
    name = model.tenant.get("display_name") or model.tenant.get("name") or tenant_id
    return ctx.finding("tenant", tenant_id, name, evidence, severity)


def admin_evidence(row: Any) -> dict[str, Any]:
    return {"roles": list(row.admin_roles), "role_assignment": list(row.role_assignment_kinds)}


def mfa_enrolled(users: pd.DataFrame) -> pd.Series:
    """Per-user MFA ``enabled`` or ``enforced`` (the states that unlock app passwords)."""
    return users["per_user_mfa"].isin(["enabled", "enforced"])
