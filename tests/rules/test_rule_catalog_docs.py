"""The README's rule list is the registry's, and every rule id of the catalog is registered."""

from __future__ import annotations

from pathlib import Path

from auditor.rules import REGISTRY
from auditor.rules.catalog import refresh

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_rule_table_is_current() -> None:
    text = README.read_text()
    assert refresh(text) == text, "run: python -m auditor.rules.catalog --write README.md"


def test_every_rule_is_in_the_readme() -> None:
    text = README.read_text()
    for rule_id in REGISTRY:
        assert f"`{rule_id}`" in text
