"""Small helpers shared by rule modules."""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np
import pandas as pd

from auditor.findings import Finding
from auditor.model.membership import in_set
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
    Row = namedtuple("Row", list(frame.columns), rename=True)  # type: ignore[misc]  # columns known at run time
    return map(Row._make, zip(*(frame[c].tolist() for c in frame.columns), strict=True))


def iso(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and pd.isna(value)) or value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp):
        return None if pd.isna(value) else value.isoformat()
    return str(value)


def user_finding(
    ctx: RuleContext, row: Any, evidence: dict[str, Any], severity: str | None = None, remediation: str | None = None
) -> Finding:
    return ctx.finding("user", row.id, row.upn or row.display_name or row.id, evidence, severity, remediation)


def tenant_finding(
    ctx: RuleContext,
    model: TenantModel,
    evidence: dict[str, Any],
    severity: str | None = None,
    remediation: str | None = None,
) -> Finding:
    tenant_id = model.tenant.get("tenant_id") or model.tenant.get("name") or "tenant"
    name = model.tenant.get("display_name") or model.tenant.get("name") or tenant_id
    return ctx.finding("tenant", tenant_id, name, evidence, severity, remediation)


def admin_evidence(row: Any) -> dict[str, Any]:
    return {"roles": list(row.admin_roles), "role_assignment": list(row.role_assignment_kinds)}


def mfa_enrolled(users: pd.DataFrame) -> pd.Series:
    """Per-user MFA ``enabled`` or ``enforced`` (the states that unlock app passwords)."""
    return users["per_user_mfa"].isin(["enabled", "enforced"])


def mfa_admin(users: pd.DataFrame) -> pd.Series:
    """Users the MFA rules treat as admins: role holders, except directory sync accounts holding nothing else."""
    column = "counts_as_admin" if "counts_as_admin" in users.columns else "is_admin"
    return users[column]


def special_account(users: pd.DataFrame) -> pd.Series:
    """Emergency access accounts, and directory sync accounts that hold no other role: their exclusion from
    Conditional Access is expected (rules.md v2 "Classifications")."""
    return users["is_emergency_access"] | (users["is_sync_account"] & ~users["counts_as_admin"])


def with_coverage(model: TenantModel, mask: pd.Series | np.ndarray) -> Iterator[tuple[Any, Any]]:
    """(user row, coverage row) for the users selected by ``mask`` (``model.coverage`` shares the users' order)."""
    positions = np.flatnonzero(np.asarray(mask, dtype=bool))
    if not len(positions):
        return iter(())
    return zip(rows(model.users.iloc[positions]), rows(model.coverage.iloc[positions]), strict=True)


def _rows_by(model: TenantModel, table: str, column: str, keys: Iterable[Any]) -> dict[Any, Any]:
    """``column`` value → row of the model's ``table`` (as ``rows`` yields it) for the given keys that occur; the
    last row wins where a value repeats. Only the rows asked for are built: rules look up a few owners among
    300,000 users."""
    frame: pd.DataFrame = getattr(model, table)
    if frame.empty:
        return {}
    wanted = np.flatnonzero(in_set(frame[column], set(keys)).to_numpy())
    if not len(wanted):
        return {}
    return dict(zip(frame[column].iloc[wanted].tolist(), rows(frame.iloc[wanted]), strict=True))


def coverage_by_user(model: TenantModel, user_ids: Iterable[Any]) -> dict[str, Any]:
    """User id → coverage row, for the given user ids (for rules that start from another table, e.g. mailboxes)."""
    return _rows_by(model, "coverage", "user_id", user_ids)


def mfa_covered(model: TenantModel, cov: Any) -> bool:
    """Security defaults, or an in-force MFA policy for All resources that applies to the user."""
    return bool(model.security_defaults_enabled) or bool(cov is not None and cov.mfa_covered)


def legacy_mitigations(model: TenantModel, cov: Any) -> list[str]:
    """What stops a password alone from working over Basic-auth protocols for this user (security defaults, or an
    in-force Conditional Access legacy block covering the 'other' client type that SMTP AUTH, IMAP and POP use)."""
    out = []
    if model.security_defaults_enabled:
        out.append("security defaults")
    if cov is not None and "other" in cov.legacy_blocked_types:
        out.append("Conditional Access legacy block (" + ", ".join(cov.legacy_blocked_types) + ")")
    return out


def users_by_id(model: TenantModel, user_ids: Iterable[Any]) -> dict[str, Any]:
    """User id → users row, for the given user ids that are users."""
    return _rows_by(model, "users", "id", user_ids)


def upn_by_id(model: TenantModel, user_ids: Iterable[Any]) -> dict[str, str]:
    """User id → UPN, for the given user ids that are users (the last row wins where an id repeats)."""
    users = model.users
    if users.empty:
        return {}
    found = np.flatnonzero(in_set(users["id"], set(user_ids)).to_numpy())
    return dict(zip(users["id"].iloc[found].tolist(), users["upn"].iloc[found].tolist(), strict=True))


def cover_by_ca_first(who: str, pronoun: str, then: str) -> str:
    """Remediation for a user whose per-user MFA is their only MFA: Microsoft's migration order is to
    cover them by Conditional Access (or security defaults) before switching per-user MFA off (Learn
    "Convert users from per-user MFA to Conditional Access")."""
    return (
        f"First include {who} in a Conditional Access MFA policy for All resources (or turn on security "
        f"defaults): per-user MFA is {pronoun} only MFA today, and switching it off first would leave none. "
        f"Then: {then}"
    )
