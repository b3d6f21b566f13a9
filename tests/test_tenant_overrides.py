"""Per-tenant scope (issue 12 item 1): one customer's waivers, rules, legacy MFA ranges, e-mail and schedule
never reach another tenant; ``AuditorConfig.for_tenant`` is the effective configuration of one tenant."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from auditor.config import parse_config
from auditor.demo import demo_snapshot
from auditor.errors import ConfigError
from auditor.pipeline import run_audit
from auditor.rules.settings import validate_config_rules

T0 = datetime(2026, 11, 23, 7, 0, tzinfo=UTC)
WAIVER = {"rule": "smtp-auth-org-enabled", "entity": "*", "reason": "relay", "approved_by": "ann"}


def _tenant(name: str, **overrides: Any) -> dict[str, Any]:
    tenant: dict[str, Any] = {"name": name, "tenant_id": f"{name}-id", "client_id": "c", "client_secret_env": "X"}
    if overrides:
        tenant["overrides"] = overrides
    return tenant


def _config(tmp_path: Path, tenants: list[dict[str, Any]], **extra: Any) -> Any:
    return parse_config({"tenants": tenants, "reports": {"dir": str(tmp_path / "r")}, **extra})


def _states(outcome: Any, rule: str) -> set[str]:
    return {f.status for f in outcome.result.findings if f.rule_id == rule}


def test_a_waiver_naming_a_tenant_does_not_waive_another(tmp_path: Path) -> None:
    config = _config(tmp_path, [_tenant("contoso"), _tenant("fabrikam")], waivers=[{**WAIVER, "tenant": "contoso"}])
    contoso = run_audit(config, "contoso", snapshot=demo_snapshot(), now=T0)
    fabrikam = run_audit(config, "fabrikam", snapshot=demo_snapshot(), now=T0)
    assert _states(contoso, "smtp-auth-org-enabled") == {"waived"}
    assert _states(fabrikam, "smtp-auth-org-enabled") == {"open"}
    doc = json.loads(fabrikam.files["json"].read_text())
    assert all(f["waiver"] is None for f in doc["findings"] if f["rule_id"] == "smtp-auth-org-enabled")


def test_overrides_waivers_and_rules_apply_to_their_tenant_only(tmp_path: Path) -> None:
    tenants = [
        _tenant("contoso", waivers=[WAIVER], rules={"imap-pop-enabled": {"enabled": False}}),
        _tenant("fabrikam"),
    ]
    config = _config(tmp_path, tenants, rules={"imap-pop-enabled": {"severity": "low"}})
    contoso = run_audit(config, "contoso", snapshot=demo_snapshot(), now=T0)
    fabrikam = run_audit(config, "fabrikam", snapshot=demo_snapshot(), now=T0)
    assert _states(contoso, "smtp-auth-org-enabled") == {"waived"}
    assert _states(fabrikam, "smtp-auth-org-enabled") == {"open"}
    assert not _states(contoso, "imap-pop-enabled")
    assert {f.severity for f in fabrikam.result.findings if f.rule_id == "imap-pop-enabled"} == {"low"}
    # merged key-wise: the tenant's `enabled: false` keeps the global severity override
    assert config.for_tenant("contoso").rules["imap-pop-enabled"].severity == "low"


def test_legacy_mfa_classification_email_schedule_merge_per_tenant(tmp_path: Path) -> None:
    tenants = [
        _tenant(
            "contoso",
            legacy_mfa={"trusted_ips": ["10.0.0.0/8"]},
            classification={"emergency_access": ["bg@contoso.com"]},
            email={"to": ["contoso-it@example.com"]},
            schedule={"cron": "0 6 * * tue"},
        ),
        _tenant("fabrikam"),
    ]
    email = {"sender": "audit@msp.example", "to": ["soc@msp.example"]}
    config = _config(tmp_path, tenants, email=email, schedule={"cron": "0 7 * * mon", "timezone": "Europe/Amsterdam"})
    contoso, fabrikam = config.for_tenant("contoso"), config.for_tenant("fabrikam")
    assert contoso.legacy_mfa is not None and contoso.legacy_mfa.trusted_ips == ["10.0.0.0/8"]
    assert fabrikam.legacy_mfa is None  # never another customer's ranges
    assert contoso.classification.emergency_access == ["bg@contoso.com"]
    assert contoso.classification.admin_roles == "all"  # the rest of the global section stays
    assert fabrikam.classification.emergency_access == []
    assert contoso.email is not None and contoso.email.to == ["contoso-it@example.com"]
    assert contoso.email.sender == "audit@msp.example"
    assert fabrikam.email is not None and fabrikam.email.to == ["soc@msp.example"]
    assert (contoso.schedule.cron, contoso.schedule.timezone) == ("0 6 * * tue", "Europe/Amsterdam")
    assert fabrikam.schedule.cron == "0 7 * * mon"
    assert config.legacy_mfa is None  # for_tenant never changes the global configuration


def test_trusted_ips_of_one_tenant_are_not_evaluated_in_another(tmp_path: Path) -> None:
    tenants = [_tenant("contoso", legacy_mfa={"trusted_ips": ["10.0.0.0/8"]}), _tenant("fabrikam")]
    config = _config(tmp_path, tenants)

    def no_endpoint() -> Any:
        snap = demo_snapshot()
        snap.sources.pop("mfa_service_policy", None)
        return snap

    contoso = run_audit(config, "contoso", snapshot=no_endpoint(), now=T0)
    fabrikam = run_audit(config, "fabrikam", snapshot=no_endpoint(), now=T0)
    assert _states(contoso, "trusted-ips-private-range")
    assert not _states(fabrikam, "trusted-ips-private-range")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"storage": {"url": "sqlite://"}}, "unknown key 'tenants[1].overrides.storage'"),
        ({"rules": {"imap-pop-enabled": {"enabeld": False}}}, "'tenants[1].overrides.rules.imap-pop-enabled.enabeld'"),
        ({"schedule": {"cron": "daily"}}, "'tenants[1].overrides.schedule.cron'"),
        ({"legacy_mfa": {"trusted_ips": ["nope"]}}, "'tenants[1].overrides.legacy_mfa.trusted_ips"),
        ({"waivers": [{"rule": "x", "entity": "*"}]}, "'tenants[1].overrides.waivers[0].reason'"),
        ({"waivers": [{**WAIVER, "tenant": "contoso"}]}, "'tenants[1].overrides.waivers[0].tenant'"),
        ({"email": {"to": ["a@b.c"]}}, "'tenants[1].overrides.email.sender'"),
    ],
)
def test_invalid_overrides_name_the_key_path(tmp_path: Path, overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        _config(tmp_path, [_tenant("contoso"), _tenant("fabrikam", **overrides)], waivers=[WAIVER])


def test_override_rule_ids_are_checked_against_the_registry(tmp_path: Path) -> None:
    config = _config(tmp_path, [_tenant("contoso"), _tenant("fabrikam", rules={"no-such-rule": {}})])
    with pytest.raises(ConfigError, match=r"'tenants\[1\]\.overrides\.rules\.no-such-rule'"):
        validate_config_rules(config, "cfg.yaml")
    config = _config(tmp_path, [_tenant("contoso", waivers=[{**WAIVER, "rule": "nope"}])], waivers=[WAIVER])
    with pytest.raises(ConfigError, match=r"'tenants\[0\]\.overrides\.waivers\[0\]\.rule'"):
        validate_config_rules(config, "cfg.yaml")


def test_a_global_waiver_naming_an_unknown_tenant_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"'waivers\[0\]\.tenant'.*'nosuch'"):
        _config(tmp_path, [_tenant("contoso")], waivers=[{**WAIVER, "tenant": "nosuch"}])
