"""The undocumented mfaServicePolicy is parsed defensively; config is only the fallback."""

from __future__ import annotations

import pytest

from auditor.config import LegacyMfaConfig
from auditor.model.legacy_mfa import parse_service_policy, resolve_legacy_mfa


@pytest.mark.parametrize(
    "trusted",
    [
        {"ipRanges": ["203.0.113.0/24", "10.0.0.1/32"]},
        {"trustedIpRanges": [{"cidrAddress": "203.0.113.0/24"}, {"cidrAddress": "10.0.0.1/32"}]},
        {"skipMfaForFederatedUsers": True, "ranges": {"values": ["203.0.113.0/24", "10.0.0.1"]}},
    ],
)
def test_trusted_ip_list_found_whatever_its_name(trusted: dict) -> None:
    settings = parse_service_policy({"allowAppPasswords": True, "trustedIps": trusted})
    assert settings.trusted_ips == ["203.0.113.0/24", "10.0.0.1/32"]
    assert settings.trusted_ips_known
    assert settings.allow_app_passwords is True


def test_unparseable_items_are_kept_aside_and_missing_fields_are_unknown() -> None:
    settings = parse_service_policy(
        {"trustedIps": {"ipRanges": ["203.0.113.0/24", "bogus"]}, "rememberMfaOnTrustedDevice": {"isEnabled": True}}
    )
    assert settings.trusted_ips == ["203.0.113.0/24"]
    assert settings.unparsed == ["bogus"]
    assert settings.allow_app_passwords is None
    assert settings.remember_mfa_enabled is True and settings.remember_mfa_days is None
    assert not parse_service_policy({"allowAppPasswords": False}).trusted_ips_known


def test_endpoint_wins_over_config_and_config_is_fallback() -> None:
    fallback = LegacyMfaConfig(trusted_ips=["198.51.100.0/24"], allow_app_passwords=False)
    assert resolve_legacy_mfa({"allowAppPasswords": True}, fallback).origin == "mfa_service_policy"
    from_config = resolve_legacy_mfa(None, fallback)
    assert from_config.origin == "config"
    assert from_config.trusted_ips == ["198.51.100.0/24"]
    assert from_config.allow_app_passwords is False
    assert not resolve_legacy_mfa(None, None).available


def test_trusted_ips_without_a_list_are_unknown_not_empty() -> None:
    # the only evidenced member of trustedIps (real-tenant shape): no list of ranges at all
    raw = {
        "allowAppPasswords": False,
        "trustedIps": {"skipMfaForFederatedUsers": True},
        "rememberMfaOnTrustedDevice": {"isEnabled": True, "allowedNumberOfDays": 14},
    }
    settings = resolve_legacy_mfa(raw, None)
    assert not settings.trusted_ips_known and settings.trusted_ips == []
    assert settings.skip_mfa_for_federated_users is True
    assert settings.allow_app_passwords is False and settings.remember_mfa_days == 14
    # a legacy_mfa section without trusted_ips does not make the list known
    assert not resolve_legacy_mfa(raw, LegacyMfaConfig(allow_app_passwords=True)).trusted_ips_known
    from_config = resolve_legacy_mfa(raw, LegacyMfaConfig(trusted_ips=["198.51.100.0/24"]))
    assert from_config.trusted_ips_known and from_config.trusted_ips == ["198.51.100.0/24"]
    assert from_config.trusted_ips_origin == "config" and from_config.origin == "mfa_service_policy"
    assert from_config.allow_app_passwords is False  # the endpoint still wins for what it said


def test_unknown_trusted_ips_leave_the_trusted_ip_rules_not_assessed() -> None:
    from auditor.config import AuditorConfig
    from auditor.engine import evaluate_snapshot
    from auditor.testing import NOW, baseline, snapshot_of

    records = baseline()
    records["mfa_service_policy"] = {"allowAppPasswords": False, "trustedIps": {"skipMfaForFederatedUsers": False}}
    outcomes = {o.id: o for o in evaluate_snapshot(snapshot_of(records), AuditorConfig(), now=NOW).rules}
    for rule_id in ("trusted-ips-duplicate-named-locations", "trusted-ips-private-range", "trusted-ips-ipv4-only"):
        assert outcomes[rule_id].status == "not_assessed", rule_id
        assert "legacy_mfa.trusted_ips" in outcomes[rule_id].reason
    # the fourth trusted-IP rule still assesses the named locations, and says the legacy list was not assessed
    too_broad = outcomes["trusted-location-too-broad"]
    assert too_broad.status == "assessed"
    assert too_broad.reason is not None and "legacy MFA trusted IPs" in too_broad.reason
