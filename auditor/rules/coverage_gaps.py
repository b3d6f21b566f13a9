"""v2 rules about gaps in Conditional Access coverage that the headline rules do not name: per-user MFA users a
migration would leave bare, admins outside every MFA policy, baselines that exclude high-value apps or accept a
managed device instead of MFA, and legacy blocks that exempt locations.

Every Conditional Access decision is made once in the model (``auditor.model.ca_semantics``, ``coverage``,
``baselines``: rules.md "Conditional Access semantics (v2)"); these rules read those tables.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pandas as pd

from auditor.findings import Finding
from auditor.model.ipranges import not_public_kind, parse_cidr
from auditor.model.tenant import TenantModel
from auditor.rules.common import (
    ROLE_OPTIONAL,
    admin_evidence,
    iso,
    mfa_admin,
    mfa_covered,
    mfa_enrolled,
    rows,
    special_account,
    tenant_finding,
    user_finding,
    with_coverage,
)
from auditor.rules.registry import Case, RuleContext, rule
from auditor.testing import HELPDESK, Records, add_admin, admin_policy_for_portals_only, ca_policy, set_mfa, sign_in

CA_USER_SOURCES = ("users", "conditional_access", "group_members", "role_definitions", "role_assignments")
EXCHANGE_ONLINE = "00000002-0000-0ff1-ce00-000000000000"
SHAREPOINT_ONLINE = "00000003-0000-0ff1-ce00-000000000000"


# --- cases ------------------------------------------------------------------------------------------------------


def _per_user_mfa_excluded_from_baseline(r: Records) -> None:
    set_mfa(r, "u-bob", "enforced")
    r["conditional_access"][0]["conditions"]["users"]["excludeUsers"] = ["u-bob"]
    r["sign_ins"] = [sign_in("u-bob", "bob@contoso.com", "Authenticated SMTP", days=3)]


def _per_user_mfa_admin_baseline_report_only(r: Records) -> None:
    admin_policy_for_portals_only(r)  # the admins' All-resources policy would cover them for MFA
    set_mfa(r, "u-alice", "enabled")
    r["conditional_access"][0]["state"] = "enabledForReportingButNotEnforced"


def _per_user_mfa_covered(r: Records) -> None:
    set_mfa(r, "u-bob", "enforced")


def _admin_outside_group_scoped_mfa(r: Records) -> None:
    admin_policy_for_portals_only(r)  # the admins' All-resources policy would cover them for MFA
    r["group_members"] = [{"id": "g-staff", "displayName": "Staff", "members": [{"id": "u-bob"}, {"id": "u-svc"}]}]
    r["conditional_access"][0]["conditions"]["users"].update(includeUsers=[], includeGroups=["g-staff"])
    add_admin(r, "u-help", "helpdesk@contoso.com", role=HELPDESK)


def _admin_excluded_not_this_rules_business(r: Records) -> None:
    admin_policy_for_portals_only(r)  # the admins' All-resources policy would cover them for MFA
    add_admin(r, "u-help", "helpdesk@contoso.com", role=HELPDESK)
    r["conditional_access"][0]["conditions"]["users"]["excludeUsers"] = ["u-help"]


def _mfa_baseline_excludes_sharepoint(r: Records) -> None:
    r["conditional_access"][0]["conditions"]["applications"]["excludeApplications"] = [SHAREPOINT_ONLINE]


def _mfa_baseline_excludes_minor_app(r: Records) -> None:
    r["conditional_access"][0]["conditions"]["applications"]["excludeApplications"] = [
        "c0ffee00-0000-4000-8000-00000000beef"
    ]


def _only_device_alternative(r: Records) -> None:
    r["conditional_access"][0]["grantControls"]["builtInControls"] = ["mfa", "domainJoinedDevice"]


def _device_alternative_next_to_mfa(r: Records) -> None:
    _only_device_alternative(r)
    r["conditional_access"].append(ca_policy("ca-mfa-2", "MFA for everyone (strict)", grant=["mfa"]))


def _legacy_block_exempts(location: str, ranges: list[str] | None = None, trusted: bool = True) -> Any:
    def mutate(r: Records) -> None:
        if ranges is not None:
            r["named_locations"].append(
                {
                    "@odata.type": "#microsoft.graph.ipNamedLocation",
                    "id": location,
                    "displayName": "Branch",
                    "isTrusted": trusted,
                    "ipRanges": [{"@odata.type": "#microsoft.graph.iPv4CidrRange", "cidrAddress": c} for c in ranges],
                }
            )
        r["conditional_access"][1]["conditions"]["locations"] = {
            "includeLocations": ["All"],
            "excludeLocations": [location],
        }

    return mutate


PER_USER_MFA_EXCLUDED_FROM_BASELINE = Case(
    "per-user MFA user excluded from the MFA baseline, with SMTP sign-ins: switching per-user MFA off leaves no MFA",
    _per_user_mfa_excluded_from_baseline,
    {
        ("per-user-mfa-migration-gap", "bob@contoso.com"): "medium",
        ("daily-account-per-user-mfa", "bob@contoso.com"): "medium",
        ("ca-mfa-excluded", "bob@contoso.com"): "medium",
        ("per-user-mfa-legacy-config", "Contoso"): "low",
        ("legacy-auth-sign-ins", "bob@contoso.com"): "high",
    },
)
PER_USER_MFA_ADMIN_BASELINE_REPORT_ONLY = Case(
    "per-user MFA admin while the only MFA baseline is report-only: high",
    _per_user_mfa_admin_baseline_report_only,
    {
        ("per-user-mfa-migration-gap", "alice@contoso.com"): "high",
        ("admin-app-passwords", "alice@contoso.com"): "low",
        ("daily-account-per-user-mfa", "alice@contoso.com"): "low",
        ("mfa-no-baseline", "Contoso"): "critical",
        ("admin-no-phishing-resistant-mfa", "alice@contoso.com"): "medium",
    },
)
PER_USER_MFA_COVERED = Case(
    "per-user MFA user covered by the CA baseline: safe to migrate, no gap",
    _per_user_mfa_covered,
    {
        ("daily-account-per-user-mfa", "bob@contoso.com"): "medium",
        ("per-user-mfa-legacy-config", "Contoso"): "low",
    },
)
ADMIN_OUTSIDE_GROUP_SCOPED_MFA = Case(
    "the only all-resources MFA policy targets a staff group: the admins are outside it",
    _admin_outside_group_scoped_mfa,
    {
        ("admin-not-covered-by-mfa", "alice@contoso.com"): "critical",
        ("admin-not-covered-by-mfa", "helpdesk@contoso.com"): "critical",
        ("mfa-no-baseline", "Contoso"): "critical",
        ("admin-no-phishing-resistant-mfa", "alice@contoso.com"): "medium",
        ("admin-no-phishing-resistant-mfa", "helpdesk@contoso.com"): "medium",
    },
)
ADMIN_EXCLUDED_NOT_THIS_RULES_BUSINESS = Case(
    "an admin excluded from the baseline is ca-mfa-excluded's finding, not admin-not-covered-by-mfa's",
    _admin_excluded_not_this_rules_business,
    {
        ("ca-mfa-excluded", "helpdesk@contoso.com"): "high",
        ("admin-no-phishing-resistant-mfa", "alice@contoso.com"): "medium",
        ("admin-no-phishing-resistant-mfa", "helpdesk@contoso.com"): "medium",
    },
)
MFA_BASELINE_EXCLUDES_SHAREPOINT = Case(
    "the MFA baseline excludes SharePoint Online: a partial baseline",
    _mfa_baseline_excludes_sharepoint,
    {("ca-baseline-excludes-apps", "MFA for everyone"): "high"},
)
MFA_BASELINE_EXCLUDES_MINOR_APP = Case(
    "the MFA baseline excludes an ordinary app: evidence only, no finding", _mfa_baseline_excludes_minor_app, {}
)
ONLY_DEVICE_ALTERNATIVE = Case(
    "the only MFA baseline accepts a hybrid-joined device instead of MFA",
    _only_device_alternative,
    {("mfa-baseline-device-alternative", "Contoso"): "medium"},
)
DEVICE_ALTERNATIVE_NEXT_TO_MFA = Case(
    "a device-alternative policy next to a strict MFA baseline is fine", _device_alternative_next_to_mfa, {}
)
MFA_BASELINE_EXEMPTS_LOCATION = Case(
    "an MFA baseline exempting a location is not a legacy block exemption",
    lambda r: r["conditional_access"][0]["conditions"].update(
        locations={"includeLocations": ["All"], "excludeLocations": ["loc-hq"]}
    ),
    {},
)
LEGACY_BLOCK_EXEMPTS_PUBLIC_24 = Case(
    "the legacy block exempts a trusted public /24: medium",
    _legacy_block_exempts("loc-hq"),
    {("legacy-auth-block-location-exempt", "Block legacy auth"): "medium"},
)
LEGACY_BLOCK_EXEMPTS_BROAD_RANGE = Case(
    "the legacy block exempts a location wider than /16: high",
    _legacy_block_exempts("loc-branch", ["20.0.0.0/8"]),
    {
        ("legacy-auth-block-location-exempt", "Block legacy auth"): "high",
        ("trusted-location-too-broad", "Branch"): "medium",
    },
)
LEGACY_BLOCK_EXEMPTS_PRIVATE_RANGE = Case(
    "the legacy block exempts an untrusted location holding a private range: high",
    _legacy_block_exempts("loc-branch", ["10.1.0.0/16"], trusted=False),
    {("legacy-auth-block-location-exempt", "Block legacy auth"): "high"},
)


# --- rules ------------------------------------------------------------------------------------------------------


def _why_not_covered(model: TenantModel, cov: Any) -> list[str]:
    """In words: why no in-force MFA baseline covers the user."""
    if not model.baselines.mfa_all_resources:
        reasons = ["no in-force MFA policy for All resources"]
        reasons += [
            f"{p['policy']}: {', '.join(p['reasons'])}" for p in model.baselines.not_counted if p["grant"] != "block"
        ]
        return reasons
    out = [f"excluded by {e['policy']} ({', '.join(e['how']) or 'guest kind'})" for e in cov.mfa_excluded_by]
    if not cov.mfa_included:
        out.append("not included in " + ", ".join(model.baselines.mfa_all_resources))
    return out or ["not covered"]


@rule(
    id="per-user-mfa-migration-gap",
    order=210,
    title="Per-user MFA user has no Conditional Access MFA to fall back on",
    severity="medium",
    escalation="high for admins",
    needs=("users", "per_user_mfa", "security_defaults", "conditional_access"),
    optional_needs=(*CA_USER_SOURCES[3:], "group_members", *ROLE_OPTIONAL, "sign_ins"),
    rationale=(
        "The fix for per-user MFA is to switch it off and let Conditional Access require MFA. For a user no "
        "in-force MFA baseline (nor security defaults) covers, per-user MFA is the only MFA: switching it off "
        "first would leave a password alone."
    ),
    remediation=(
        "Include the user in an in-force Conditional Access MFA policy for All resources (or turn on security "
        "defaults) first; move any legacy application off app passwords; only then set per-user MFA to disabled."
    ),
    cases=(PER_USER_MFA_EXCLUDED_FROM_BASELINE, PER_USER_MFA_ADMIN_BASELINE_REPORT_ONLY, PER_USER_MFA_COVERED),
)
def per_user_mfa_migration_gap(model: TenantModel, ctx: RuleContext) -> Iterator[Finding]:
    """Enabled users with per-user MFA ``enabled``/``enforced`` that neither security defaults nor an in-force MFA
    policy for All resources covers (``model.coverage``: included and not excluded; a report-only policy covers
    nobody). Microsoft's migration guide says to cover users by Conditional Access *before* disabling per-user MFA
    (Learn "Convert users from per-user MFA to Conditional Access"; CIS 5.1.2.1). Medium; high for admins. Emergency
    access accounts are skipped (``emergency-access-weak``). Evidence: why not covered, and the legacy sign-ins in the
    window (what stops working when app passwords go)."""
    users = model.users
    legacy = {s.user_id: s for s in rows(model.legacy_sign_ins)}
    mask = users["enabled"] & mfa_enrolled(users) & ~users["is_emergency_access"]
    for row, cov in with_coverage(model, mask):
        if mfa_covered(model, cov):
            continue
        seen = legacy.get(row.id)
        admin = bool(row.counts_as_admin)
        evidence: dict[str, Any] = {
            "per_user_mfa": row.per_user_mfa,
            "admin": admin,
            "why_not_covered": _why_not_covered(model, cov),
            "security_defaults": model.security_defaults_enabled,
            "legacy_sign_ins": int(seen.count) if seen else 0,
        }
        if admin:
            evidence.update(admin_evidence(row))
        if seen:
            evidence.update(legacy_protocols=list(seen.protocols), legacy_last=iso(seen.last))
        elif "sign_ins" not in model.available:
            evidence["legacy_sign_ins"] = "unknown (sign-ins not collected)"
        yield user_finding(ctx, row, evidence, "high" if admin else "medium")


@rule(
    id="admin-not-covered-by-mfa",
    order=220,
    title="Admin outside every Conditional Access MFA policy",
    severity="high",
    escalation="critical for privileged roles",
    needs=("security_defaults", *CA_USER_SOURCES),
    optional_needs=ROLE_OPTIONAL,
    rationale=(
        "An MFA policy that targets some users or groups and leaves administrators out protects the accounts "
        "that matter least; CIS and CISA ask for MFA on every privileged role."
    ),
    remediation=(
        "Include the administrator in a Conditional Access policy that requires MFA for All resources — best, "
        "one for All users, or Microsoft's 'Require MFA for administrators' template targeting the directory roles."
    ),
    cases=(ADMIN_OUTSIDE_GROUP_SCOPED_MFA, ADMIN_EXCLUDED_NOT_THIS_RULES_BUSINESS),
)
def admin_not_covered_by_mfa(model: TenantModel, ctx: RuleContext) -> Iterator[Finding]:
    """Security defaults off, at least one in-force MFA policy for All resources exists (any user scope), and an
    enabled admin is included by none of them, now or on activation of an eligible role (CIS 5.2.2.1; SCuBA
    MS.AAD.3.6v1; Learn "Require MFA for administrators"). An admin who is *excluded* is ``ca-mfa-excluded``'s
    finding; with no such policy at all ``mfa-no-baseline`` speaks for the tenant. Emergency access and sync-only
    accounts are skipped. High; critical for privileged roles."""
    if model.security_defaults_enabled or not model.baselines.mfa_all_resources:
        return
    users = model.users
    mask = users["enabled"] & mfa_admin(users) & ~special_account(users)
    for row, cov in with_coverage(model, mask):
        if cov.mfa_included or cov.mfa_covered_on_activation or cov.mfa_excluded_by:
            continue
        evidence = {
            **admin_evidence(row),
            "mfa_policies_for_all_resources": list(model.baselines.mfa_all_resources),
            "included_in": [],
        }
        yield user_finding(ctx, row, evidence, "critical" if row.privileged_admin else None)


def _policy_id(model: TenantModel, name: str) -> str:
    sem = model.ca_semantics
    match = sem.loc[sem["name"] == name, "id"] if not sem.empty else pd.Series(dtype=object)
    return str(match.iloc[0]) if len(match) else name


@rule(
    id="ca-baseline-excludes-apps",
    order=230,
    title="Conditional Access baseline excludes a high-value app",
    severity="high",
    needs=("conditional_access",),
    rationale=(
        "A baseline that excludes Exchange Online, SharePoint Online, Office 365, Microsoft Graph, Azure "
        "management or the admin portals leaves exactly the resources attackers want behind a password; a "
        "legacy block excluding Exchange Online blocks nothing, since the legacy protocols are Exchange endpoints."
    ),
    remediation="Remove the high-value resource from the policy's excluded apps; if a service needs an exception, "
    "give it its own narrowly scoped policy instead of weakening the baseline.",
    cases=(MFA_BASELINE_EXCLUDES_SHAREPOINT, MFA_BASELINE_EXCLUDES_MINOR_APP),
)
def ca_baseline_excludes_apps(model: TenantModel, ctx: RuleContext) -> Iterator[Finding]:
    """One finding per in-force MFA baseline or legacy block (All users, All resources) whose excluded
    applications include a high-value resource (the model's ``excluded_high_value``: Exchange Online, SharePoint
    Online, ``Office365``, Microsoft Graph, Windows Azure Service Management API, Microsoft Admin Portals). CIS
    5.2.2.2 and 5.2.2.3 ask for All resources; ScubaGear MS.AAD.3.2v2 / MS.AAD.1.1v1 reject any exclusion; Learn
    "Conditional Access: target resources". Other excluded apps do not fire."""
    b = model.baselines
    found = [dict(p) for p in b.partial] + [
        {"policy": p["policy"], "kind": "legacy block", "excluded_resources": p["excluded_resources"]}
        for p in b.legacy_ineffective
        if p["excluded_resources"]
    ]
    for p in found:
        evidence = {**p, "effect": "blocks nothing that matters" if p in b.legacy_ineffective else "partial baseline"}
        if p["kind"] == "legacy block" and any(
            r in ("Office 365 Exchange Online", "Office 365") for r in p["excluded_resources"]
        ):
            evidence["effect"] = "blocks nothing that matters: the legacy protocols are Exchange Online endpoints"
        yield ctx.finding("policy", _policy_id(model, p["policy"]), p["policy"], evidence)


@rule(
    id="mfa-baseline-device-alternative",
    order=240,
    title="The only MFA baseline accepts a managed device instead of MFA",
    severity="medium",
    needs=("security_defaults", "conditional_access"),
    rationale=(
        "MFA OR compliant / hybrid-joined device (a Microsoft template) means a password plus a managed device "
        "passes without MFA: a stolen password used from a compromised managed device, or on a device that is "
        "wrongly marked compliant, never meets MFA."
    ),
    remediation="Add a baseline that requires MFA (or an authentication strength) for All users and All resources, "
    "or change the grant to require MFA AND a compliant device.",
    cases=(ONLY_DEVICE_ALTERNATIVE, DEVICE_ALTERNATIVE_NEXT_TO_MFA),
)
def mfa_baseline_device_alternative(model: TenantModel, ctx: RuleContext) -> Iterator[Finding]:
    """Security defaults off and every in-force MFA baseline grants ``mfa`` OR'ed only with ``compliantDevice`` /
    ``domainJoinedDevice`` (``Baselines.only_device_alternative``). CIS 5.2.2.2 and SCuBA MS.AAD.3.2v2 require MFA
    itself; Learn "Require device compliance or MFA" is the template. One tenant finding."""
    b = model.baselines
    if model.security_defaults_enabled or not b.only_device_alternative:
        return
    yield tenant_finding(ctx, model, {"device_alternative_policies": list(b.device_alternative), "mfa_required_by": []})


def _exempted_ranges(model: TenantModel, location_ids: list[str]) -> list[Any]:
    ip = model.ip_ranges
    if ip.empty:
        return []
    named = ip[(ip["origin"] == "named_location") & ip["location_id"].isin(location_ids)]
    if "AllTrusted" in location_ids:
        trusted = ip[(ip["origin"] == "legacy_trusted_ips") | ((ip["origin"] == "named_location") & ip["is_trusted"])]
        named = pd.concat([named, trusted]).drop_duplicates(subset=["origin", "location_id", "cidr"])
    return list(rows(named))


@rule(
    id="legacy-auth-block-location-exempt",
    order=250,
    title="Legacy authentication block exempts locations",
    severity="medium",
    escalation="high when an exempted range is too broad, private, or a legacy trusted IP",
    needs=("conditional_access", "named_locations"),
    optional_needs=("legacy_mfa_settings",),
    params={"max_ipv4_prefix": 16, "max_ipv6_prefix": 48},
    rationale=(
        "A legacy-auth block that exempts named locations lets IMAP, POP, SMTP AUTH, ActiveSync basic and app "
        "passwords work from there: a password alone is enough for anyone who reaches the network, or shares its "
        "egress address."
    ),
    remediation=(
        "Remove the location exclusion from the legacy-authentication block. If a device on that network still "
        "needs a legacy protocol, give it a dedicated least-privilege account pinned to its egress IP, or move it to "
        "modern authentication or a connector."
    ),
    cases=(
        LEGACY_BLOCK_EXEMPTS_PUBLIC_24,
        LEGACY_BLOCK_EXEMPTS_BROAD_RANGE,
        LEGACY_BLOCK_EXEMPTS_PRIVATE_RANGE,
        MFA_BASELINE_EXEMPTS_LOCATION,
    ),
)
def legacy_auth_block_location_exempt(model: TenantModel, ctx: RuleContext) -> Iterator[Finding]:
    """One finding per counted legacy block (in force, All users, ``exchangeActiveSync``/``other``) that excludes
    named locations or ``AllTrusted`` (CIS 5.2.2.3 asks for no exception; Learn "Block legacy authentication").
    Evidence lists the locations and their ranges. High when an exempted range is wider than
    ``max_ipv4_prefix``/``max_ipv6_prefix``, private or reserved (Entra sees public egress addresses: a private
    range there is a misconfiguration), or a legacy MFA trusted IP (through ``AllTrusted``)."""
    max4, max6 = ctx.params["max_ipv4_prefix"], ctx.params["max_ipv6_prefix"]
    for p in model.baselines.legacy_exempt_locations:
        ranges, why = [], []
        for r in _exempted_ranges(model, p["location_ids"]):
            entry = {"location": r.location_name, "cidr": r.cidr, "origin": r.origin}
            reasons = []
            if r.prefixlen < (max4 if r.version == 4 else max6):
                reasons.append(f"wider than /{max4 if r.version == 4 else max6}")
            kind = not_public_kind(parse_cidr(r.cidr))
            if kind:
                reasons.append(kind)
            if r.origin == "legacy_trusted_ips":
                reasons.append("legacy MFA trusted IP")
            if reasons:
                entry["risk"] = reasons
                why.append(f"{r.cidr}: {', '.join(reasons)}")
            ranges.append(entry)
        evidence = {"policy": p["policy"], "exempted_locations": list(p["locations"]), "ranges": ranges[:20]}
        if why:
            evidence["escalated_because"] = why[:10]
        yield ctx.finding("policy", _policy_id(model, p["policy"]), p["policy"], evidence, "high" if why else None)
