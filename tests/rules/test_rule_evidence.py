"""Rule evidence and edge cases beyond the finding sets of the rules' own cases (see test_rule_cases.py)."""

from __future__ import annotations

from typing import Any

from auditor.config import parse_config
from auditor.engine import evaluate_snapshot
from auditor.findings import AuditResult
from auditor.model import build_model
from auditor.rules.admins import ADMIN_ENFORCED_WITH_LEGACY, STALE_ADMIN_WITH_FAILED_ATTEMPTS
from auditor.rules.conditional_access import EXCLUDED_USERS, RISK_ONLY_MFA
from auditor.rules.locations import LEGACY_TRUSTED_IPS
from auditor.rules.mailboxes import SMTP_ORG_ON_NULL_INHERITS
from auditor.testing import (
    HELPDESK,
    NOW,
    Records,
    admin_policy_for_portals_only,
    ago,
    baseline,
    baseline_config,
    sign_in,
    snapshot_of,
    user,
)


def run(records: Records, config: dict[str, Any] | None = None, failed: dict[str, str] | None = None) -> AuditResult:
    return evaluate_snapshot(snapshot_of(records, failed), parse_config(baseline_config(config)), now=NOW)


def test_evidence_of_headline_admin_rule() -> None:
    records = baseline()
    ADMIN_ENFORCED_WITH_LEGACY.mutate(records)
    finding = next(f for f in run(records).findings if f.rule_id == "admin-app-passwords")
    ev = finding.evidence
    assert ev["confidence"] == "observed"
    assert ev["per_user_mfa"] == "enforced"
    assert ev["tenant_setting"] == "allowed"
    assert ev["legacy_sign_ins"] == 2
    assert ev["legacy_protocols"] == ["Authenticated SMTP", "IMAP4"]
    assert ev["roles"] == ["Global Administrator"]


def test_overlap_kinds_in_evidence() -> None:
    records = baseline()
    LEGACY_TRUSTED_IPS.mutate(records)
    kinds = {
        f.entity_name: [m["overlap"] for m in f.evidence["matches"]]
        for f in run(records).findings
        if f.rule_id == "trusted-ips-duplicate-named-locations"
    }
    assert kinds == {
        "52.1.2.0/24": ["identical"],
        "52.1.2.128/25": ["contained"],
        "52.1.0.0/22": ["contains"],
        "52.9.1.0/24": ["overlaps"],
    }


def test_smtp_evidence_says_where_setting_comes_from() -> None:
    records = baseline()
    SMTP_ORG_ON_NULL_INHERITS.mutate(records)
    settings = {
        f.entity_name: f.evidence["setting"] for f in run(records).findings if f.rule_id == "smtp-auth-mailbox-enabled"
    }
    assert settings == {"alice@contoso.com": "inherited from org", "svc-backup@contoso.com": "mailbox"}


def test_exclusion_evidence_names_only_policies_that_include_the_user() -> None:
    records = baseline()
    EXCLUDED_USERS.mutate(records)
    by = {(f.rule_id, f.entity_name): f.evidence for f in run(records).findings}
    assert by[("ca-mfa-excluded", "bob@contoso.com")]["excluded_from"] == [
        {"policy": "MFA for everyone", "excluded": "group MFA exempt"}
    ]
    assert by[("ca-mfa-excluded", "alice@contoso.com")]["excluded_from"] == [
        {"policy": "MFA for everyone", "excluded": "role Global Administrator"}
    ]
    assert by[("legacy-auth-block-excluded", "bob@contoso.com")]["excluded_from"] == [
        {"policy": "Block legacy auth", "excluded": "directly"}
    ]


def test_service_signal_in_evidence_via_group_config() -> None:
    records = baseline()
    records["users"].append(user("u-kiosk", "kiosk@contoso.com"))
    records["per_user_mfa"].append({"id": "u-kiosk", "perUserMfaState": "enforced"})
    records["group_members"] = [{"id": "g-svc", "displayName": "Service Accounts", "members": [{"id": "u-kiosk"}]}]
    config = {"classification": {"service_accounts": {"groups": ["Service Accounts"]}}}
    result = run(records, config)
    assert not [f for f in result.findings if f.rule_id == "daily-account-per-user-mfa"]
    users = build_model(snapshot_of(records), parse_config(config).classification).users.set_index("id")
    assert users.loc["u-kiosk", "service_signal"] == "member of group 'Service Accounts'"
    assert users.loc["u-svc", "service_signal"].startswith("UPN matches pattern")


def test_ca_role_exclusion_resolves_roles_outside_configured_admin_roles() -> None:
    records = baseline()
    admin_policy_for_portals_only(records)  # the admins' All-resources policy would cover them for MFA
    records["role_assignments"].append(
        {"id": "ra-bob", "principalId": "u-bob", "roleDefinitionId": HELPDESK, "directoryScopeId": "/"}
    )
    records["conditional_access"][0]["conditions"]["users"]["excludeRoles"] = [HELPDESK]
    result = run(records, {"classification": {"admin_roles": ["Global Administrator"]}})
    found = {(f.rule_id, f.entity_name): f for f in result.findings}
    # alice (Global Administrator) now has no policy for All resources requiring phishing-resistant MFA
    assert set(found) == {
        ("ca-mfa-excluded", "bob@contoso.com"),
        ("admin-no-phishing-resistant-mfa", "alice@contoso.com"),
    }
    assert found[("admin-no-phishing-resistant-mfa", "alice@contoso.com")].evidence["portals_only_policies"] == [
        "Phishing-resistant MFA for admins"
    ]
    finding = found[("ca-mfa-excluded", "bob@contoso.com")]
    assert finding.severity == "medium"  # not an admin under this configuration
    assert finding.evidence["excluded_from"] == [
        {"policy": "MFA for everyone", "excluded": "role Helpdesk Administrator"}
    ]


def _status(result: Any, rule_id: str) -> tuple[str, str | None]:
    outcome = next(r for r in result.rules if r.id == rule_id)
    return outcome.status, outcome.reason


def test_inherited_smtp_auth_with_unknown_org_setting_is_not_assessed() -> None:
    records = baseline()
    records["transport_config"] = {"Identity": "Transport config without the setting"}
    records["cas_mailboxes"][1]["SmtpClientAuthenticationDisabled"] = None
    result = run(records)
    for rule_id in ("smtp-auth-org-enabled", "smtp-auth-mailbox-enabled"):
        status, reason = _status(result, rule_id)
        assert status == "not_assessed"
        assert "SmtpClientAuthenticationDisabled" in (reason or "")
    # Mailboxes that all carry their own setting do not depend on the org's.
    records["cas_mailboxes"][1]["SmtpClientAuthenticationDisabled"] = False
    result = run(records)
    assert _status(result, "smtp-auth-mailbox-enabled")[0] == "assessed"
    assert [f.entity_name for f in result.findings if f.rule_id == "smtp-auth-mailbox-enabled"] == ["bob@contoso.com"]


def test_remember_mfa_on_without_days_is_not_assessed() -> None:
    records = baseline()
    records["mfa_service_policy"]["rememberMfaOnTrustedDevice"] = {"isEnabled": True}
    status, reason = _status(run(records), "remember-mfa-long")
    assert status == "not_assessed" and "days" in (reason or "")


def test_service_account_group_name_matches_case_insensitively() -> None:
    records = baseline()
    records["users"].append(user("u-kiosk", "kiosk@contoso.com"))
    records["per_user_mfa"].append({"id": "u-kiosk", "perUserMfaState": "enforced"})
    records["group_members"] = [{"id": "g-svc", "displayName": "Service Accounts", "members": [{"id": "u-kiosk"}]}]
    result = run(records, {"classification": {"service_accounts": {"groups": ["service accounts"]}}})
    assert not [f for f in result.findings if f.rule_id == "daily-account-per-user-mfa"]


def test_unknown_security_defaults_are_not_reported_as_off() -> None:
    records = baseline()
    records["security_defaults"] = {"id": "00000000-0000-0000-0000-000000000005"}
    records["conditional_access"] = []
    found = {f.rule_id: f.evidence for f in run(records).findings}
    assert found["mfa-no-baseline"]["security_defaults"] == "unknown"
    assert found["legacy-auth-not-blocked"]["security_defaults"] == "unknown"


def test_stale_admin_evidence_shows_later_failed_attempts() -> None:
    records = baseline()
    STALE_ADMIN_WITH_FAILED_ATTEMPTS.mutate(records)
    finding = next(f for f in run(records).findings if f.rule_id == "stale-admin")
    assert finding.evidence["last_sign_in"].startswith(ago(120)[:10])
    assert finding.evidence["last_sign_in_attempt"].startswith(ago(1)[:10])


def test_conditional_mfa_policies_are_named_in_baseline_evidence() -> None:
    records = baseline()
    RISK_ONLY_MFA.mutate(records)
    finding = next(f for f in run(records).findings if f.rule_id == "mfa-no-baseline")
    # the baseline's admin-portals policy is in force but no baseline (some apps only)
    assert finding.evidence["enabled_mfa_policies"] == ["Phishing-resistant MFA for admins"]
    assert finding.evidence["conditional_mfa_policies"] == [
        {"policy": "MFA for everyone", "only_when": ["signInRiskLevels"]}
    ]


def test_legacy_sign_in_with_unreadable_time_still_counts() -> None:
    records = baseline()
    bad = sign_in("u-bob", "bob@contoso.com", "IMAP4")
    bad["createdDateTime"] = "not a time"
    records["sign_ins"] = [bad]
    finding = next(f for f in run(records).findings if f.rule_id == "legacy-auth-sign-ins")
    assert finding.entity_name == "bob@contoso.com" and finding.evidence["count"] == 1


def test_mailbox_admin_evidence_is_unknown_without_users() -> None:
    records = baseline()
    records["cas_mailboxes"][0]["ImapEnabled"] = True
    result = run(records, failed={"users": "access denied"})
    finding = next(f for f in result.findings if f.rule_id == "imap-pop-enabled")
    assert finding.evidence["admin"] == "unknown"


def test_unreadable_legacy_trusted_ip_entries_still_mean_the_list_is_in_use() -> None:
    records = baseline()
    records["mfa_service_policy"]["trustedIps"]["ipRanges"] = ["52.1.2.0-52.1.2.255"]
    finding = next(f for f in run(records).findings if f.rule_id == "trusted-ips-ipv4-only")
    assert finding.evidence["ranges"] == 0
    assert finding.evidence["unreadable_entries"] == ["52.1.2.0-52.1.2.255"]
