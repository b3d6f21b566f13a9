"""v2 evidence and remediation: a reviewer sees why a finding fired, why its severity is what it is, and what to do
for *this* entity (rules.md v2). The finding sets themselves are the rules' cases (test_rule_cases.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema

from auditor.config import parse_config
from auditor.engine import evaluate_snapshot
from auditor.findings import AuditResult, Finding
from auditor.render.json import dumps
from auditor.rules import REGISTRY, Case
from auditor.rules.admins import (
    ADMIN_ENABLED_UNKNOWN_SETTING,
    APP_PASSWORDS_DISALLOWED,
    APP_PASSWORDS_UNMITIGATED,
    GUEST_ADMINS,
    METHOD_DISABLED_BY_POLICY,
    STALE_ADMIN_WITH_FAILED_ATTEMPTS,
    STALE_ELIGIBLE_AND_EMERGENCY,
)
from auditor.rules.conditional_access import (
    BREAK_GLASS_NOT_CONFIGURED,
    ELIGIBLE_GA_BEHIND_ROLE_EXCLUSION,
    EVERY_MEMBER_ENFORCED,
    EXCLUDED_BUT_AZURE_MANAGEMENT_POLICY,
    EXCLUDED_USERS,
    LEGACY_BLOCK_EXCLUDES_EXCHANGE,
    LEGACY_BLOCK_OTHER_ONLY,
    REPORT_ONLY_MFA_AND_BLOCK,
)
from auditor.rules.locations import TOO_BROAD_AND_EXEMPT, UNTRUSTED_DUPLICATE_SKIPS_MFA
from auditor.rules.mailboxes import IMAP_POP, SMTP_ORG_ON_NULL_INHERITS, SMTP_ORG_ON_PASSWORD_EXPOSURE
from auditor.rules.mfa import DAILY_ENABLED_REGISTRATION_UNKNOWN, DAILY_ENFORCED_NOT_COVERED
from auditor.testing import NOW, baseline, baseline_config, snapshot_of

SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "auditor/render/findings.schema.json").read_text())


def audit(case: Case) -> AuditResult:
    records = baseline()
    case.mutate(records)
    return evaluate_snapshot(snapshot_of(records), parse_config(baseline_config(dict(case.config or {}))), now=NOW)


def found(case: Case) -> dict[tuple[str, str], Finding]:
    return {(f.rule_id, f.entity_name): f for f in audit(case).findings}


def test_eligible_role_exclusion_applies_on_activation_and_says_what_to_do() -> None:
    by = found(ELIGIBLE_GA_BEHIND_ROLE_EXCLUSION)
    pim = by[("ca-mfa-excluded", "pim@contoso.com")]
    assert pim.evidence["applies"] == "on activation"
    assert pim.evidence["excluded_from"] == [
        {"policy": "MFA for everyone", "excluded": "role Global Administrator (eligible)", "applies": "on activation"}
    ]
    assert "role exclusion" in pim.remediation and "PIM-eligible" not in pim.remediation
    assert by[("legacy-auth-block-excluded", "pim@contoso.com")].evidence["applies"] == "on activation"
    active = by[("ca-mfa-excluded", "alice@contoso.com")]
    assert active.evidence["applies"] == "always"


def test_break_glass_remediation_never_pins_to_an_ip() -> None:
    by = found(BREAK_GLASS_NOT_CONFIGURED)
    for key in [("ca-mfa-excluded", "bg-01@contoso.com"), ("legacy-auth-block-excluded", "bg-02@contoso.com")]:
        text = by[key].remediation
        assert "classification.emergency_access" in text
        assert "egress IP" not in text and "pin" not in text.lower()


def test_a_person_excluded_is_not_told_to_pin_the_account() -> None:
    by = found(EXCLUDED_USERS)
    assert "egress IP" not in by[("ca-mfa-excluded", "bob@contoso.com")].remediation
    assert by[("ca-mfa-excluded", "alice@contoso.com")].evidence["privileged_admin"] is True


def test_policies_that_do_not_cover_an_excluded_user_are_named_with_why() -> None:
    finding = found(EXCLUDED_BUT_AZURE_MANAGEMENT_POLICY)[("ca-mfa-excluded", "bob@contoso.com")]
    reasons = {p["policy"]: p["reasons"] for p in finding.evidence["policies_not_counted"]}
    assert reasons["MFA for Azure management"] == ["app-scoped"]
    assert reasons["MFA to register security info"] == ["user action registersecurityinfo"]
    assert finding.evidence["covered_by"] == []


def test_report_only_policies_are_listed_as_not_counted() -> None:
    by = found(REPORT_ONLY_MFA_AND_BLOCK)
    mfa = by[("mfa-no-baseline", "Contoso")].evidence
    assert mfa["report_only_mfa_policies"] == ["MFA for everyone", "Phishing-resistant MFA for admins"]
    assert mfa["policies_not_counted"][0]["reasons"] == ["report-only"]
    assert by[("legacy-auth-not-blocked", "Contoso")].evidence["report_only_blocking_policies"] == ["Block legacy auth"]


def test_per_user_only_tenant_is_high_with_a_remediation_for_it() -> None:
    finding = found(EVERY_MEMBER_ENFORCED)[("mfa-no-baseline", "Contoso")]
    assert finding.severity == "high"
    assert finding.evidence["per_user_mfa"]["enforced"] == finding.evidence["per_user_mfa"]["enabled_members"] == 5
    assert "security defaults" in finding.remediation


def test_legacy_block_evidence_names_open_types_and_excluded_exchange() -> None:
    ev = found(LEGACY_BLOCK_EXCLUDES_EXCHANGE)[("legacy-auth-not-blocked", "Contoso")].evidence
    assert ev["open_client_types"] == ["exchangeActiveSync", "other"]
    assert ev["blocks_excluding_exchange"] == [
        {"policy": "Block legacy auth", "excluded_resources": ["Office 365 Exchange Online"]}
    ]
    ev = found(LEGACY_BLOCK_OTHER_ONLY)[("legacy-auth-not-blocked", "Contoso")].evidence
    assert ev["open_client_types"] == ["exchangeActiveSync"] and ev["blocked_client_types"] == ["other"]


def test_app_password_mitigations_and_disallowed_setting() -> None:
    ev = found(ADMIN_ENABLED_UNKNOWN_SETTING)[("admin-app-passwords", "alice@contoso.com")].evidence
    assert ev["mitigated_by"] == [
        "Conditional Access legacy block (exchangeActiveSync, other)",
        "SMTP AUTH off for the admin's mailbox",
    ]
    assert found(APP_PASSWORDS_UNMITIGATED)[("admin-app-passwords", "alice@contoso.com")].evidence["mitigated_by"] == []
    ev = found(APP_PASSWORDS_DISALLOWED)[("admin-app-passwords", "alice@contoso.com")].evidence
    assert ev["tenant_setting"] == "disallowed" and ev["confidence"] == "possible"


def test_per_user_mfa_remediation_fixes_coverage_first() -> None:
    finding = found(DAILY_ENFORCED_NOT_COVERED)[("daily-account-per-user-mfa", "bob@contoso.com")]
    assert finding.evidence["covered_by_ca_mfa"] is False
    assert finding.remediation.startswith("First include the user")
    ev = found(DAILY_ENABLED_REGISTRATION_UNKNOWN)[("daily-account-per-user-mfa", "carol@contoso.com")].evidence
    assert ev["mfa_registered"] == "unknown"


def test_admin_no_mfa_method_reads_is_mfa_capable() -> None:
    ev = found(METHOD_DISABLED_BY_POLICY)[("admin-no-mfa-method", "alice@contoso.com")].evidence
    assert ev["read"] == "isMfaCapable" and ev["is_mfa_capable"] is False and ev["is_mfa_registered"] is True


def test_disabled_guest_admin_remediation() -> None:
    finding = found(GUEST_ADMINS)[("guest-admin", "gone_partner.com#EXT#@contoso.onmicrosoft.com")]
    assert finding.evidence["account_enabled"] is False and "disabled guest" in finding.remediation


def test_stale_admin_remediation_fits_the_assignment() -> None:
    eligible = found(STALE_ELIGIBLE_AND_EMERGENCY)[("stale-admin", "eligible@contoso.com")]
    assert (
        eligible.remediation.startswith("Remove the eligible role")
        and "eligible through PIM" not in eligible.remediation
    )
    active = found(STALE_ADMIN_WITH_FAILED_ATTEMPTS)[("stale-admin", "alice@contoso.com")]
    assert "eligible through PIM" in active.remediation


def test_smtp_exposure_and_org_roll_up() -> None:
    by = found(SMTP_ORG_ON_NULL_INHERITS)
    assert by[("smtp-auth-org-enabled", "Contoso")].evidence["mailboxes_inheriting"] == 1  # bob
    box = by[("smtp-auth-mailbox-enabled", "alice@contoso.com")].evidence
    assert box["exposure"] == "oauth-only" and box["setting"] == "inherited from org"
    by = found(SMTP_ORG_ON_PASSWORD_EXPOSURE)
    assert by[("smtp-auth-mailbox-enabled", "alice@contoso.com")].evidence["exposure"] == "password"
    assert by[("smtp-auth-org-enabled", "Contoso")].evidence["mitigated_by"] == []


def test_imap_pop_tenant_finding_counts_by_protocol() -> None:
    ev = found(IMAP_POP)[("imap-pop-enabled", "Contoso")].evidence
    assert (ev["mailboxes"], ev["imap_enabled"], ev["pop_enabled"]) == (1, 0, 1)
    assert ev["sample"] == ["bob@contoso.com"]


def test_location_evidence_names_the_exempting_baselines() -> None:
    by = found(TOO_BROAD_AND_EXEMPT)
    assert by[("trusted-location-too-broad", "Cloud")].evidence["mfa_baselines_exempting"] == ["MFA for everyone"]
    assert by[("trusted-location-too-broad", "Wide office")].evidence["mfa_baselines_exempting"] == []
    ev = found(UNTRUSTED_DUPLICATE_SKIPS_MFA)[("trusted-ips-duplicate-named-locations", "52.30.0.0/24")].evidence
    assert ev["mfa_baselines_exempting_all_trusted"] == ["MFA for everyone"] and "skips_mfa" in ev


def test_every_rule_carries_its_references_into_findings_json() -> None:
    result = audit(EVERY_MEMBER_ENFORCED)
    doc: dict[str, Any] = json.loads(dumps(result))
    jsonschema.validate(doc, SCHEMA)
    assert doc["schema"] == "entra-auditor/findings/v1"
    by_rule = {r["id"]: r["references"] for r in doc["rules"]}
    assert set(by_rule) == set(REGISTRY)
    for rule_id, refs in by_rule.items():
        assert refs, rule_id
        assert [r["id"] for r in refs] == [r.id for r in REGISTRY[rule_id].references]
    assert any(r["framework"] == "CIS M365 v7.0" and r["id"] == "5.2.2.2" for r in by_rule["mfa-no-baseline"])
