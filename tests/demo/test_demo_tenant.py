"""The bundled demo tenant: loads from package data, equals its regeneration, makes every rule fire."""

from __future__ import annotations

import json
from collections import Counter
from importlib.resources import files

import pytest

from auditor.config import AuditorConfig
from auditor.demo import DEMO_NOW, DEMO_USERS, build_demo_snapshot, demo_snapshot
from auditor.engine import evaluate_snapshot
from auditor.rules import REGISTRY
from auditor.snapshot import Snapshot, load
from auditor.sources import SOURCES


def comparable(snap: Snapshot) -> dict:
    doc = snap.to_dict()
    doc.pop("tool_version")
    return doc


@pytest.fixture(scope="module")
def demo() -> Snapshot:
    return demo_snapshot()


@pytest.fixture(scope="module")
def result(demo: Snapshot):
    return evaluate_snapshot(demo, AuditorConfig(), now=DEMO_NOW)


def test_demo_file_is_small_package_data_loadable_with_snapshot_load() -> None:
    resource = files("auditor.demo").joinpath("demo-tenant.json.gz")
    assert resource.is_file()
    size = len(resource.read_bytes())
    assert 10_000 < size < 300_000, size
    snap = load(str(resource))
    assert snap.tenant["name"] == "contoso" and snap.tenant["default_domain"] == "contoso.com"


def test_demo_snapshot_shape(demo: Snapshot) -> None:
    assert demo.collected_at == DEMO_NOW
    assert demo.sources["users"].items == DEMO_USERS
    assert set(demo.sources) == set(SOURCES)
    assert all(src.status == "collected" for src in demo.sources.values())


def test_demo_equals_regeneration(demo: Snapshot) -> None:
    """The committed file is exactly what the generator produces for the fixed demo arguments."""
    assert comparable(demo) == comparable(build_demo_snapshot())


def test_demo_snapshot_returns_a_fresh_copy(demo: Snapshot) -> None:
    other = demo_snapshot()
    other.sources["users"].records.clear()
    assert demo_snapshot().sources["users"].items == DEMO_USERS
    assert len(demo.sources["users"].records) == DEMO_USERS


def test_every_rule_fires_on_the_demo(result) -> None:
    counts = Counter(f.rule_id for f in result.findings)
    states = {r.id: r.status for r in result.rules}
    silent = [rule_id for rule_id in REGISTRY if counts[rule_id] == 0]
    assert not silent, f"rules without a finding on the demo tenant: {silent}"
    assert all(states[rule_id] == "assessed" for rule_id in REGISTRY)


def _by_rule(result, rule_id: str) -> dict[str, object]:
    return {f.entity_name: f for f in result.findings if f.rule_id == rule_id}


def test_demo_scenarios_give_the_intended_findings(result) -> None:
    app = _by_rule(result, "admin-app-passwords")
    assert app["adele.vance@contoso.com"].severity == "critical"
    assert app["adele.vance@contoso.com"].evidence["confidence"] == "observed"
    assert app["alex.wilber@contoso.com"].severity == "high"
    assert app["alex.wilber@contoso.com"].evidence["confidence"] == "possible"
    assert set(app) == {"adele.vance@contoso.com", "alex.wilber@contoso.com"}

    daily = _by_rule(result, "daily-account-per-user-mfa")
    assert daily["joni.sherman@contoso.com"].severity == "medium"
    assert daily["pradeep.gupta@contoso.com"].severity == "low"
    for clean in ("svc-scanner@contoso.com", "christie.cline@contoso.com", "irvin.sayers@contoso.com"):
        assert clean not in daily, clean

    assert set(_by_rule(result, "admin-no-mfa-method")) == {"lee.gu@contoso.com"}
    assert set(_by_rule(result, "stale-admin")) == {"diego.siciliani@contoso.com", "grady.archie@contoso.com"}
    assert set(_by_rule(result, "guest-admin")) == {"patti.fernandez_fabrikam.com#EXT#@contoso.onmicrosoft.com"}

    mfa_excluded = _by_rule(result, "ca-mfa-excluded")
    assert mfa_excluded["breakglass@contoso.com"].severity == "high"
    assert "svc-scanner@contoso.com" in mfa_excluded
    assert "svc-relay@contoso.com" not in mfa_excluded  # pinned to HQ by location
    assert "nestor.wilke@contoso.com" not in mfa_excluded
    assert set(_by_rule(result, "legacy-auth-block-excluded")) == {"svc-scanner@contoso.com"}

    legacy = _by_rule(result, "legacy-auth-sign-ins")
    for user in ("adele.vance", "svc-scanner", "ryan.hart", "sofia.marin", "tomas.kral"):
        assert f"{user}@contoso.com" in legacy, user
    assert "uma.patel@contoso.com" not in legacy  # failed attempts only
    assert len(legacy["svc-scanner@contoso.com"].evidence["source_ips"]) == 5  # at most 5 of 7

    duplicates = _by_rule(result, "trusted-ips-duplicate-named-locations")
    assert set(duplicates) == {"203.0.113.0/24", "198.51.100.0/24", "203.0.113.128/25", "198.51.102.0/24"}
    private = _by_rule(result, "trusted-ips-private-range")
    assert {"10.20.0.0/16", "192.0.2.0/24", "172.16.0.0/12"} <= set(private)
    assert "52.10.20.0/24" not in private
    assert {"Cloud egress", "172.16.0.0/12"} <= set(_by_rule(result, "trusted-location-too-broad"))

    mailbox_smtp = _by_rule(result, "smtp-auth-mailbox-enabled")
    assert "info@contoso.com" in mailbox_smtp  # the shared mailbox without a user inherits the org setting
    assert "nestor.wilke@contoso.com" not in mailbox_smtp
    imap_pop = _by_rule(result, "imap-pop-enabled")
    assert imap_pop["adele.vance@contoso.com"].severity == "medium"  # admin mailbox
    assert "nestor.wilke@contoso.com" not in imap_pop


def test_demo_findings_evidence_is_strict_json(result) -> None:
    """findings.json must parse everywhere: no NaN/Infinity in evidence (the shared mailbox has no user)."""
    bad = []
    for f in result.findings:
        try:
            json.dumps(f.evidence, allow_nan=False, default=str)
        except ValueError:
            bad.append((f.rule_id, f.entity_name, f.evidence))
    assert not bad, f"evidence with NaN: {bad[:3]}"
