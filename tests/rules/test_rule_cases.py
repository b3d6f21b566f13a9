"""Every rule's named cases, run by one generic test, and the registry walked for what each rule declares.

A case (``@rule(cases=...)``, beside the rule) is the compliant baseline tenant of ``auditor.testing`` plus
one deviation, with exactly the findings it must produce as ``{(rule_id, entity_name): severity}``; any
other finding fails the case, so a case also proves every other rule stays quiet.
"""

from __future__ import annotations

import pytest

from auditor.config import parse_config
from auditor.engine import evaluate_snapshot
from auditor.findings import AuditResult
from auditor.rules import REGISTRY, Case
from auditor.rules.registry import DERIVED_SOURCES, KNOWN_NEEDS
from auditor.sources import SOURCES
from auditor.testing import NOW, baseline, baseline_config, snapshot_of


def _audit(case: Case, failed: dict[str, str] | None = None) -> AuditResult:
    records = baseline()
    case.mutate(records)
    return evaluate_snapshot(
        snapshot_of(records, failed), parse_config(baseline_config(dict(case.config or {}))), now=NOW
    )


def _cases() -> list[Case]:
    """Every case once (a case may serve several rules), in catalog order."""
    seen: dict[int, Case] = {}
    for spec in REGISTRY.values():
        for case in spec.cases:
            seen.setdefault(id(case), case)
    return list(seen.values())


CASES = _cases()


def test_baseline_is_clean() -> None:
    result = _audit(Case("baseline", lambda r: None, {}))
    assert result.findings == []
    assert {r.status for r in result.rules} == {"assessed"}


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_rule_case(case: Case) -> None:
    records = baseline()
    case.mutate(records)
    result = _audit(case)
    got = {(f.rule_id, f.entity_name): f.severity for f in result.findings}
    assert got == dict(case.expect)
    removed = set(baseline()) - set(records)
    if "mfa_service_policy" in removed:
        removed.add("legacy_mfa_settings")
    expected_not_assessed = {rid for rid, spec in REGISTRY.items() if removed & set(spec.needs)}
    assert {r.id for r in result.rules if r.status == "not_assessed"} == expected_not_assessed


def test_case_names_are_unique() -> None:
    names = [c.name for c in CASES]
    assert len(names) == len(set(names))


@pytest.mark.parametrize("rule_id", list(REGISTRY))
def test_every_rule_has_a_firing_and_a_clean_case(rule_id: str) -> None:
    spec = REGISTRY[rule_id]
    assert any(case.fires(rule_id) for case in spec.cases), f"{rule_id}: no case where it fires"
    assert any(not case.fires(rule_id) for case in spec.cases), f"{rule_id}: no case where it stays clean"


def test_every_rule_fires_in_some_case() -> None:
    fired = {rule for case in CASES for rule, _ in case.expect}
    assert fired == set(REGISTRY)


@pytest.mark.parametrize("rule_id", list(REGISTRY))
def test_every_rule_declares_known_sources_and_documents_itself(rule_id: str) -> None:
    spec = REGISTRY[rule_id]
    assert spec.needs, f"{rule_id} declares no source"
    assert set(spec.needs) | set(spec.optional_needs) <= KNOWN_NEEDS
    assert spec.detection and spec.rationale and spec.remediation


def _sources_behind(need: str) -> list[str]:
    """The collected sources whose absence removes ``need`` (a derived source: the source it comes from)."""
    return ["mfa_service_policy"] if need in DERIVED_SOURCES else [need]


@pytest.mark.parametrize(("rule_id", "need"), [(rid, need) for rid, spec in REGISTRY.items() for need in spec.needs])
def test_removing_a_needed_source_makes_the_rule_not_assessed(rule_id: str, need: str) -> None:
    spec = REGISTRY[rule_id]
    firing = next(case for case in spec.cases if case.fires(rule_id))
    result = _audit(firing, failed=dict.fromkeys(_sources_behind(need), "403 Forbidden: missing permission"))
    outcome = next(r for r in result.rules if r.id == rule_id)
    assert outcome.status == "not_assessed"
    assert "missing permission" in (outcome.reason or "")
    assert not [f for f in result.findings if f.rule_id == rule_id]


def test_every_derived_source_comes_from_a_known_source() -> None:
    assert set(DERIVED_SOURCES) <= KNOWN_NEEDS
    for need in DERIVED_SOURCES:
        assert set(_sources_behind(need)) <= set(SOURCES)
