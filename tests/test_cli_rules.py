"""`entra-auditor rules`: the catalog export with references, `rules show ID`, `rules -c FILE`."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from auditor.cli import main
from auditor.rules import REGISTRY


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_json_export_lists_every_rule_with_its_references(capsys) -> None:
    code, out, _ = run(capsys, "rules", "--format", "json")
    assert code == 0
    doc = json.loads(out)
    assert doc["schema"] == "entra-auditor/rules/v1"
    assert [r["id"] for r in doc["rules"]] == list(REGISTRY)
    for rule in doc["rules"]:
        spec = REGISTRY[rule["id"]]
        assert [(r["framework"], r["id"]) for r in rule["references"]] == [(r.framework, r.id) for r in spec.references]
        assert rule["rationale"] == spec.rationale and rule["params"] == spec.params
    smtp = next(r for r in doc["rules"] if r["id"] == "smtp-auth-org-enabled")
    assert any(r["framework"] == "CIS M365 v7.0" and r["id"] == "6.5.4" for r in smtp["references"])


def test_csv_export_one_row_per_rule(capsys) -> None:
    code, out, _ = run(capsys, "rules", "--format", "csv")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["id"] for r in rows] == list(REGISTRY)
    by_id = {r["id"]: r for r in rows}
    assert "CIS M365 v7.0 6.5.4" in by_id["smtp-auth-org-enabled"]["references"]
    assert "CIS M365 v7.0 5.1.2.1 (adjacent)" in by_id["daily-account-per-user-mfa"]["references"]
    for rule_id, spec in REGISTRY.items():
        for ref in spec.references:
            if ref.url:
                assert ref.url in by_id[rule_id]["reference_urls"]


def test_markdown_export(capsys) -> None:
    code, out, _ = run(capsys, "rules", "--format", "md")
    assert code == 0 and out.startswith("| id |")
    for rule_id in REGISTRY:
        assert f"`{rule_id}`" in out
    assert "CIS M365 v7.0 6.5.4" in out


def test_rules_show(capsys) -> None:
    spec = REGISTRY["stale-admin"]
    code, out, _ = run(capsys, "rules", "show", "stale-admin")
    assert code == 0
    assert spec.rationale in out and spec.remediation in out
    assert "max_days = 90" in out
    for ref in spec.references:
        assert ref.url in out
        if ref.framework != "Microsoft Learn":
            assert f"{ref.framework} {ref.id}" in out
    code, _out, err = run(capsys, "rules", "show", "no-such-rule")
    assert code == 2 and "Unknown rule 'no-such-rule'" in err
    code, _out, err = run(capsys, "rules", "show")
    assert code == 2 and "needs a rule id" in err


def test_rules_with_config_shows_the_configured_state(capsys, tmp_path: Path) -> None:
    config = tmp_path / "auditor.yaml"
    config.write_text(
        "rules:\n"
        "  stale-admin:\n    params:\n      max_days: 30\n"
        "  imap-pop-enabled:\n    enabled: false\n"
        "  smtp-auth-org-enabled:\n    severity: critical\n"
        "waivers:\n  - {rule: stale-admin, entity: x@contoso.com, reason: test, approved_by: me}\n"
    )
    code, out, _ = run(capsys, "rules", "-c", str(config))
    assert code == 0
    lines = {line.split()[0]: line for line in out.splitlines()[3:] if line.strip()}
    assert set(lines) == set(REGISTRY)
    assert lines["imap-pop-enabled"].split()[1] == "NO*"
    assert lines["admin-app-passwords"].split()[1] == "yes"
    assert "critical* (default high)" in lines["smtp-auth-org-enabled"]
    assert "max_days=30*" in lines["stale-admin"] and lines["stale-admin"].split()[3] == "1"
    assert "max_days=7" in lines["remember-mfa-long"] and "*" not in lines["remember-mfa-long"]


def test_rules_with_a_config_naming_an_unknown_rule_fails(capsys, tmp_path: Path) -> None:
    config = tmp_path / "auditor.yaml"
    config.write_text("rules:\n  no-such-rule:\n    enabled: false\n")
    code, _out, err = run(capsys, "rules", "-c", str(config))
    assert code == 2 and "no-such-rule" in err
