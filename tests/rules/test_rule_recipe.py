"""CONTRIBUTING's rule recipe is true: one ``@rule`` function (metadata, references and cases on the
decorator) is evaluated, configurable, listed and documented-or-flagged, with no other list to update."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from auditor.config import parse_config
from auditor.engine import evaluate_snapshot
from auditor.errors import ConfigError
from auditor.findings import Finding
from auditor.model.tenant import TenantModel
from auditor.rules import REGISTRY, Case, RuleContext, rule
from auditor.rules.catalog import refresh
from auditor.rules.common import rows
from auditor.rules.references import Reference
from auditor.rules.settings import validate_rule_settings
from auditor.testing import NOW, baseline, baseline_config, snapshot_of

RULE_ID = "recipe-disabled-member"
README = Path(__file__).resolve().parents[2] / "README.md"


def _disable_bob(records: dict[str, Any]) -> None:
    for u in records["users"]:
        if u["id"] == "u-bob":
            u["accountEnabled"] = False


CASES = (
    Case("recipe: a disabled member is reported", _disable_bob, {(RULE_ID, "bob"): "low"}),
    Case("recipe: every member enabled", lambda r: None, {}),
)


def _disabled_members(model: TenantModel, ctx: RuleContext) -> Iterator[Finding]:
    """Members whose account is disabled (``accountEnabled`` false); guests are left out."""
    users = model.users
    for row in rows(users[~users["enabled"] & ~users["is_guest"]]):
        yield ctx.finding("user", row.id, row.display_name, {"upn": row.upn})


@pytest.fixture
def recipe_rule() -> Iterator[str]:
    """Registered the way a rule module registers its rules."""
    rule(
        id=RULE_ID,
        order=99_000,
        title="Disabled member accounts (a throwaway rule of the recipe test)",
        severity="low",
        needs=("users",),
        rationale="A disabled account is one to clean up.",
        remediation="Delete the account when it is no longer needed.",
        references=(
            Reference("Microsoft Learn", "users-delete", "Delete a user", "https://learn.microsoft.com/entra/"),
        ),
        cases=CASES,
    )(_disabled_members)
    try:
        yield RULE_ID
    finally:
        REGISTRY.pop(RULE_ID, None)


def _audit(case: Case, config: dict[str, Any] | None = None) -> dict[tuple[str, str], str]:
    records = baseline()
    case.mutate(records)
    result = evaluate_snapshot(snapshot_of(records), parse_config(baseline_config(config or {})), now=NOW)
    return {(f.rule_id, f.entity_name): f.severity for f in result.findings}


def test_a_registered_rule_runs_its_cases_and_obeys_config(recipe_rule: str) -> None:
    assert list(REGISTRY)[-1] == recipe_rule  # catalog order comes from ``order=``
    for case in REGISTRY[recipe_rule].cases:
        assert _audit(case) == dict(case.expect), case.name
    fires = REGISTRY[recipe_rule].cases[0]
    assert _audit(fires, {"rules": {recipe_rule: {"severity": "high"}}}) == {(recipe_rule, "bob"): "high"}
    assert _audit(fires, {"rules": {recipe_rule: {"enabled": False}}}) == {}
    config = parse_config({"rules": {recipe_rule: {"enabled": False}}})
    validate_rule_settings(config.rules, config.waivers, "cfg.yaml")  # the id is known once registered


def test_a_registered_rule_is_flagged_until_the_readme_is_refreshed(recipe_rule: str) -> None:
    text = README.read_text()
    assert recipe_rule in refresh(text) and refresh(text) != text


def test_an_unregistered_rule_is_refused_by_config() -> None:
    config = parse_config({"rules": {RULE_ID: {"enabled": False}}})
    with pytest.raises(ConfigError, match=f"unknown rule 'rules.{RULE_ID}'"):
        validate_rule_settings(config.rules, config.waivers, "cfg.yaml")


def test_inconsistent_metadata_is_refused_at_import() -> None:
    with pytest.raises(ValueError, match="unknown sources"):
        rule(
            id="recipe-bad-source",
            order=99_001,
            title="t",
            severity="low",
            needs=("no_such_source",),
            rationale="r",
            remediation="m",
            references=(Reference("Microsoft Learn", "x", "x", "https://learn.microsoft.com/"),),
        )(_disabled_members)
    assert "recipe-bad-source" not in REGISTRY
