"""Engine: not_assessed for missing sources, disabled rules, severity overrides, waivers, run status."""

from __future__ import annotations

from typing import Any

import pytest

from auditor.config import AuditorConfig, parse_config
from auditor.engine import evaluate, evaluate_snapshot
from auditor.findings import AuditResult
from auditor.model import build_model
from auditor.rules import REGISTRY
from auditor.rules.registry import KNOWN_NEEDS
from auditor.sources import SOURCES
from auditor.testing import NOW, Records, baseline, set_mfa, sign_in, snapshot_of


def run(records: Records, config: dict[str, Any] | None = None, failed: dict[str, str] | None = None) -> AuditResult:
    return evaluate_snapshot(snapshot_of(records, failed), parse_config(config or {}), now=NOW)


def _noisy() -> dict:
    """Baseline plus deviations that make many rules fire."""
    r = baseline()
    set_mfa(r, "u-alice", "enforced")
    set_mfa(r, "u-bob", "enabled")
    r["transport_config"]["SmtpClientAuthenticationDisabled"] = False
    r["cas_mailboxes"][1]["ImapEnabled"] = True
    r["mfa_service_policy"]["allowAppPasswords"] = True
    return r


def test_every_need_is_a_known_source() -> None:
    for spec in REGISTRY.values():
        assert set(spec.needs) <= KNOWN_NEEDS, spec.id
        assert spec.detection, spec.id
        assert spec.rationale and spec.remediation, spec.id


@pytest.mark.parametrize("source", sorted(SOURCES))
def test_a_failed_source_makes_exactly_its_rules_not_assessed(source: str) -> None:
    result = run(_noisy(), failed={source: "403 Forbidden: missing permission"})
    not_assessed = {r.id: r.reason for r in result.rules if r.status == "not_assessed"}
    expected = {rid for rid, spec in REGISTRY.items() if source in spec.needs}
    if source == "mfa_service_policy":
        expected |= {rid for rid, spec in REGISTRY.items() if "legacy_mfa_settings" in spec.needs}
    assert set(not_assessed) == expected
    for reason in not_assessed.values():
        assert "missing permission" in reason
    assert not [f for f in result.findings if f.rule_id in expected]


def test_config_legacy_mfa_is_the_fallback_for_the_service_policy() -> None:
    result = run(
        _noisy(),
        config={"legacy_mfa": {"trusted_ips": ["10.1.0.0/16"], "allow_app_passwords": True}},
        failed={"mfa_service_policy": "404 not found"},
    )
    status = {r.id: r.status for r in result.rules}
    assert status["trusted-ips-private-range"] == "assessed"
    assert status["remember-mfa-long"] == "not_assessed"  # the config did not say
    assert {f.entity_name for f in result.findings if f.rule_id == "trusted-ips-private-range"} == {"10.1.0.0/16"}


def test_optional_source_missing_is_assessed_with_a_reason() -> None:
    result = run(_noisy(), failed={"sign_ins": "licence missing"})
    rule = next(r for r in result.rules if r.id == "admin-app-passwords")
    assert rule.status == "assessed"
    assert "sign_ins" in rule.reason
    finding = next(f for f in result.findings if f.rule_id == "admin-app-passwords")
    assert finding.evidence["legacy_sign_ins"] == "not collected"
    assert result.run.status == "partial"


def test_run_status_partial_when_any_source_failed_but_not_when_skipped() -> None:
    skipped = evaluate_snapshot(
        snapshot_of(_noisy(), skipped={"role_eligibility": "no Entra ID P2 licence"}), parse_config({}), now=NOW
    )
    assert skipped.run.status == "complete"
    rule = next(r for r in skipped.rules if r.id == "admin-app-passwords")
    assert "no Entra ID P2 licence" in rule.reason
    assert run(_noisy(), failed={"role_eligibility": "P2 licence missing"}).run.status == "partial"
    assert run(_noisy(), failed={"users": "boom"}).run.status == "partial"


def test_disabled_rule_and_severity_override() -> None:
    result = run(
        _noisy(),
        config={"rules": {"imap-pop-enabled": {"enabled": False}, "smtp-auth-org-enabled": {"severity": "critical"}}},
    )
    status = {r.id: r.status for r in result.rules}
    assert status["imap-pop-enabled"] == "disabled"
    assert not [f for f in result.findings if f.rule_id == "imap-pop-enabled"]
    assert [f.severity for f in result.findings if f.rule_id == "smtp-auth-org-enabled"] == ["critical"]


def test_parameters_change_behaviour() -> None:
    r = baseline()
    r["users"][0]["signInActivity"]["lastSignInDateTime"] = "2026-10-01T00:00:00Z"
    r["users"][0]["signInActivity"]["lastNonInteractiveSignInDateTime"] = "2026-10-01T00:00:00Z"
    assert not [f for f in run(r).findings if f.rule_id == "stale-admin"]
    tight = run(r, config={"rules": {"stale-admin": {"params": {"max_days": 30}}}})
    assert [f.entity_name for f in tight.findings if f.rule_id == "stale-admin"] == ["alice@contoso.com"]


def test_waivers_apply_expire_and_are_reported() -> None:
    waivers = [
        {
            "rule": "daily-account-per-user-mfa",
            "entity": "BOB@contoso.com",
            "reason": "migration",
            "expires": "2027-01-01",
            "approved_by": "ciso",
        },
        {
            "rule": "daily-account-per-user-mfa",
            "entity": "u-alice",
            "reason": "old",
            "expires": "2026-01-01",
            "approved_by": "ciso",
        },
        {"rule": "smtp-auth-org-enabled", "entity": "*", "reason": "relay", "approved_by": "ciso"},
    ]
    result = run(_noisy(), config={"waivers": waivers})
    by = {(f.rule_id, f.entity_name): f for f in result.findings}
    bob = by[("daily-account-per-user-mfa", "bob@contoso.com")]
    assert bob.status == "waived" and bob.waiver["approved_by"] == "ciso" and not bob.waiver["expired"]
    alice = by[("daily-account-per-user-mfa", "alice@contoso.com")]
    assert alice.status == "open" and alice.waiver["expired"] is True
    assert by[("smtp-auth-org-enabled", "Contoso")].status == "waived"
    assert result.expired_waivers == [
        {
            "rule": "daily-account-per-user-mfa",
            "entity": "u-alice",
            "reason": "old",
            "expires": "2026-01-01",
            "approved_by": "ciso",
            "expired": True,
            "matched_findings": 1,
        }
    ]
    summary = result.summary()
    assert summary["waived"] == 2
    assert result.run.started == NOW


def test_waiver_by_upn_matches_the_users_mailbox_even_with_another_smtp_address() -> None:
    r = _noisy()
    r["cas_mailboxes"][1]["PrimarySmtpAddress"] = "robert@contoso.com"  # bob's mailbox, another address
    # v2 reports IMAP/POP per mailbox only where it is used (or for privileged admins): bob uses IMAP.
    r["sign_ins"] = [sign_in("u-bob", "bob@contoso.com", "IMAP4")]
    waivers = [{"rule": "imap-pop-enabled", "entity": "bob@contoso.com", "reason": "scanner", "approved_by": "ciso"}]
    finding = next(f for f in run(r, config={"waivers": waivers}).findings if f.rule_id == "imap-pop-enabled")
    assert finding.entity_name == "robert@contoso.com"
    assert finding.status == "waived"


def test_evaluate_runs_the_given_registry_on_a_prebuilt_model_with_the_given_slices() -> None:
    snapshot = snapshot_of(_noisy(), failed={"sign_ins": "licence missing"})
    config = AuditorConfig()
    model = build_model(snapshot, config.classification, config.legacy_mfa)
    registry = {rid: REGISTRY[rid] for rid in ("imap-pop-enabled", "smtp-auth-org-enabled")}
    settings = parse_config({"rules": {"smtp-auth-org-enabled": {"severity": "critical"}}}).rules
    result = evaluate(model, registry, settings, [], coverage=snapshot.coverage(), now=NOW)
    assert [r.id for r in result.rules] == ["imap-pop-enabled", "smtp-auth-org-enabled"]
    assert {(f.rule_id, f.severity) for f in result.findings} == {
        ("imap-pop-enabled", "low"),
        ("smtp-auth-org-enabled", "critical"),
    }
    assert result.run.status == "partial"  # decided by the coverage passed in
    assert result.coverage == snapshot.coverage()
    assert result.tenant["name"] == "contoso" and result.tenant["display_name"] == "Contoso"
    assert [h.rule_ids for h in result.headlines if h.key == "legacy-protocols"] == [
        ("imap-pop-enabled", "smtp-auth-org-enabled")
    ]  # the given registry's rules, in its order
    clean = evaluate(model, registry, {}, [], coverage=[{"source": "users", "status": "collected"}], now=NOW)
    assert clean.run.status == "complete"


def test_a_partial_source_makes_the_run_partial_and_its_readers_say_so(tmp_path) -> None:
    # a partial source (records known to be incomplete) is read, survives a snapshot round trip, and is
    # never a silent pass: the run is partial and every rule that reads it names what it lacked
    from auditor.rules.admins import _group_held_admin
    from auditor.snapshot import SourceData, load, save

    def records_() -> Records:
        r = _noisy()
        _group_held_admin(r)  # an admin through a group: found only by reading group_members
        return r

    records = records_()
    snap = snapshot_of(records)
    snap.sources["group_members"] = SourceData.partial(records["group_members"], "groups could not be listed (403)")
    snap = load(save(snap, tmp_path / "s.json.gz"))
    assert snap.sources["group_members"].status == "partial"
    config = parse_config({"classification": {"service_accounts": {"groups": ["Batch Jobs"]}}})
    result = evaluate_snapshot(snap, config, now=NOW)
    full = evaluate_snapshot(snapshot_of(records_()), config, now=NOW)
    assert result.run.status == "partial" and full.run.status == "complete"
    assert [f.fingerprint for f in result.findings] == [f.fingerprint for f in full.findings]  # records were read
    assert any(f.entity_id == "u-grp" for f in result.findings)
    for outcome in result.rules:
        spec = REGISTRY[outcome.id]
        if "group_members" in (*spec.needs, *spec.optional_needs):
            assert outcome.status == "assessed", outcome.id
            assert outcome.reason and "the members of groups Batch Jobs; part of group_members (groups could" in (
                outcome.reason
            )
        else:
            assert "group_members" not in (outcome.reason or ""), outcome.id
    assert {"source": "group_members", "status": "partial"}.items() <= next(
        c for c in result.coverage if c["source"] == "group_members"
    ).items()
