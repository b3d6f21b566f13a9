"""Rules about Conditional Access coverage (MFA baseline, legacy-auth blocking) and legacy sign-ins."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pandas as pd

from auditor.findings import Finding
from auditor.model.conditional_access import pins_to_location, policy_scope, role_condition_holdings
from auditor.model.sign_ins import summarise
from auditor.model.tenant import TenantModel
from auditor.rules.common import admin_evidence, iso, rows, tenant_finding, user_finding
from auditor.rules.registry import RuleContext, rule

CA_USER_SOURCES = ("users", "conditional_access", "group_members", "role_definitions", "role_assignments")


def _enabled(model: TenantModel, column: str) -> pd.DataFrame:
    ca = model.ca_policies
    return ca[(ca["state"] == "enabled") & ca[column]]


def _security_defaults(model: TenantModel) -> bool | str:
    return "unknown" if model.security_defaults_enabled is None else model.security_defaults_enabled


def _conditional(model: TenantModel, grant_column: str) -> list[dict[str, Any]]:
    """Enabled policies whose grant would count but that apply only under extra conditions."""
    ca = model.ca_policies
    narrowed = ca[(ca["state"] == "enabled") & ca[grant_column] & ca["narrowed_by"].map(bool)]
    return [{"policy": p.name, "only_when": list(p.narrowed_by)} for p in rows(narrowed)]


def _report_only(model: TenantModel, column: str) -> list[str]:
    ca = model.ca_policies
    return ca[(ca["state"] == "enabledForReportingButNotEnforced") & ca[column]]["name"].tolist()


def _how_excluded(model: TenantModel, policy: pd.Series, user_id: str) -> str:
    if user_id in policy["exclude_users"]:
        return "directly"
    for g in policy["exclude_groups"]:
        if user_id in (model.groups.get(g) or {}).get("members", []):
            return f"group {model.groups[g]['name']}"
    holdings = role_condition_holdings(model.role_holdings, policy["exclude_roles"])
    roles = holdings[holdings["user_id"] == user_id]
    if not roles.empty:
        return f"role {roles.iloc[0]['role_name']}"
    return "guests or external users"


def _exclusion_findings(
    model: TenantModel, ctx: RuleContext, policies: pd.DataFrame, extra: pd.Series | None = None
) -> Iterator[Finding]:
    """Users explicitly excluded from at least one of ``policies`` and covered by none of them."""
    users = model.users
    covered = pd.Series(False, index=users.index)
    excluded_any = pd.Series(False, index=users.index)
    scopes = []
    for _, policy in policies.iterrows():
        included, excluded = policy_scope(policy, users, model.groups, model.role_holdings)
        covered |= included & ~excluded
        excluded_any |= included & excluded
        scopes.append((policy, included, excluded))
    mask = users["enabled"] & ~covered & excluded_any
    if extra is not None:
        mask &= ~extra
    for index, row in zip(users.index[mask], rows(users[mask]), strict=True):
        how = [
            {"policy": p["name"], "excluded": _how_excluded(model, p, row.id) if exc[index] else "not included"}
            for p, inc, exc in scopes if inc[index]
        ]
        evidence: dict[str, Any] = {"excluded_from": how, "admin": bool(row.is_admin),
                                    "privileged_admin": bool(row.privileged_admin)}
        if row.is_admin:
            evidence.update(admin_evidence(row))
        yield user_finding(ctx, row, evidence, "high" if row.privileged_admin else None)


@rule(
    id="mfa-no-baseline",
    title="No MFA baseline for all users",
    severity="critical",
    needs=("security_defaults", "conditional_access"),
    rationale="Without security defaults or a Conditional Access policy requiring MFA for everyone on every "
    "app, some sign-ins are protected by a password alone.",
    remediation="Create (or switch from report-only to On) a Conditional Access policy: All users, All cloud "
    "apps, grant: require MFA or an authentication strength; exclude only break-glass accounts.",
)
def mfa_no_baseline(model: TenantModel, ctx: RuleContext) -> Iterator[Finding]:
    """Security defaults off and no *enabled* CA policy requires MFA (built-in ``mfa`` or an
    authentication strength, not merely one of several OR'ed controls) for All users on All cloud apps.
    Report-only policies do not count, nor do policies that apply only under extra conditions (sign-in
    or user risk, some platforms, a device filter, only some modern client apps); both are listed in the
    evidence."""
    if model.security_defaults_enabled:
        return
    enabled = _enabled(model, "requires_mfa")
    if (enabled["all_users"] & enabled["all_apps"]).any():
        return
    evidence = {
        "security_defaults": _security_defaults(model),
        "enabled_mfa_policies": enabled["name"].tolist(),
        "report_only_mfa_policies": _report_only(model, "requires_mfa"),
    }
    conditional = _conditional(model, "grants_mfa")
    if conditional:
        evidence["conditional_mfa_policies"] = conditional
    yield tenant_finding(ctx, model, evidence)


@rule(
    id="legacy-auth-not-blocked",
    title="Legacy authentication is not blocked for all users",
    severity="high",
    needs=("security_defaults", "conditional_access"),
    rationale="Legacy protocols (IMAP, POP, SMTP AUTH, ActiveSync basic, older Office clients) cannot do MFA; "
    "password spray against them succeeds where modern sign-ins would be challenged.",
    remediation="Create (or switch on) a Conditional Access policy: All users, All cloud apps, client apps "
    "'Exchange ActiveSync clients' and 'Other clients', grant: block.",
)
def legacy_auth_not_blocked(model: TenantModel, ctx: RuleContext) -> Iterator[Finding]:
    """Security defaults off and no enabled CA policy blocks client app types ``exchangeActiveSync`` and
    ``other`` for All users. Report-only policies do not block, nor do blocks limited to some locations or
    to extra conditions (risk, platforms, a device filter)."""
    if model.security_defaults_enabled:
        return
    enabled = _enabled(model, "blocks_legacy")
    if enabled["all_users"].any():
        return
    yield tenant_finding(ctx, model, {
        "security_defaults": _security_defaults(model),
        "enabled_blocking_policies": enabled["name"].tolist(),
        "report_only_blocking_policies": _report_only(model, "blocks_legacy"),
    })


@rule(
    id="legacy-auth-block-excluded",
    title="User excluded from legacy-auth blocking",
    severity="medium",
    escalation="high for privileged admins",
    needs=CA_USER_SOURCES,
    rationale="An account excluded from legacy-auth blocking can be password-sprayed over protocols with no MFA.",
    remediation="Remove the exclusion. If a legacy application needs it, use a dedicated service account "
    "pinned to the application's egress IP with a location-based block policy.",
)
def legacy_auth_block_excluded(model: TenantModel, ctx: RuleContext) -> Iterator[Finding]:
    """Enabled users explicitly excluded (directly, by group, or by active role) from a legacy-auth blocking
    policy and covered by none of the enabled ones. Nothing fires under security defaults (no exclusions)
    or when no enabled blocking policy exists (``legacy-auth-not-blocked`` covers that)."""
    if model.security_defaults_enabled:
        return
    policies = _enabled(model, "blocks_legacy")
    if policies.empty:
        return
    yield from _exclusion_findings(model, ctx, policies)


@rule(
    id="ca-mfa-excluded",
    title="User excluded from MFA policies",
    severity="medium",
    escalation="high for privileged admins",
    needs=CA_USER_SOURCES,
    rationale="An account excluded from every MFA policy signs in with a password alone.",
    remediation="Remove the exclusion, or pin the account to its egress IP with a block-outside-location "
    "policy (the accepted way to exempt a service account).",
)
def ca_mfa_excluded(model: TenantModel, ctx: RuleContext) -> Iterator[Finding]:
    """Enabled users explicitly excluded from an enabled MFA-requiring CA policy and covered by none of
    them, unless an enabled block policy for all apps restricts the user to named locations."""
    policies = _enabled(model, "requires_mfa")
    if policies.empty:
        return
    users = model.users
    pinned = pd.Series(False, index=users.index)
    for _, policy in model.ca_policies.iterrows():
        if pins_to_location(policy):
            included, excluded = policy_scope(policy, users, model.groups, model.role_holdings)
            pinned |= included & ~excluded
    yield from _exclusion_findings(model, ctx, policies, pinned)


@rule(
    id="legacy-auth-sign-ins",
    title="Successful legacy-protocol sign-ins",
    severity="high",
    needs=("users", "sign_ins"),
    params={"window_days": 30},
    rationale="A successful legacy sign-in means basic authentication works for that account today, "
    "without MFA.",
    remediation="Move the client to modern authentication (OAuth); then block legacy authentication for the "
    "account. For devices that can only do SMTP AUTH, use a connector or a dedicated pinned service account.",
)
def legacy_auth_sign_ins(model: TenantModel, ctx: RuleContext) -> Iterator[Finding]:
    """Users with successful sign-ins through a legacy client (``clientAppUsed`` Authenticated SMTP, IMAP4,
    POP3, Exchange ActiveSync, Other clients, …) in the last ``window_days`` before collection. Failed
    attempts are counted in the evidence but do not fire."""
    since = pd.Timestamp(model.collected_at) - pd.Timedelta(days=ctx.params["window_days"])
    summary = summarise(model.legacy_sign_in_events, since)
    names = model.users.set_index("id")["upn"]
    for row in rows(summary):
        evidence = {"protocols": list(row.protocols), "count": int(row.count), "last": iso(row.last),
                    "source_ips": list(row.ip_addresses), "failed_attempts": int(row.failed),
                    "window_days": ctx.params["window_days"]}
        name = names.get(row.user_id) or row.upn or row.user_id
        yield ctx.finding("user", row.user_id, name, evidence)
