"""The configuration's rules and waivers, checked against the registry: one sentence naming the key and file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from auditor.config import parse_config
from auditor.errors import ConfigError
from auditor.rules.settings import validate_rule_settings


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"rules": {"no-such-rule": {"enabled": False}}}, "unknown rule 'rules.no-such-rule'"),
        ({"rules": {"stale-admin": {"params": {"max_dayz": 3}}}}, "rules.stale-admin.params.max_dayz"),
        ({"rules": {"stale-admin": {"params": {"max_days": "ninety"}}}}, "expected a number"),
        ({"waivers": [{"rule": "nope", "entity": "*", "reason": "r", "approved_by": "me"}]}, "waivers[0].rule"),
    ],
)
def test_invalid_rule_settings_name_the_key(data: dict, message: str) -> None:
    config = parse_config(data, origin="cfg.yaml")
    with pytest.raises(ConfigError) as err:
        validate_rule_settings(config.rules, config.waivers, "cfg.yaml")
    text = str(err.value)
    assert message in text
    assert text.startswith("cfg.yaml")
    assert "\n" not in text


def test_valid_rule_settings_pass() -> None:
    config = parse_config(
        {
            "rules": {"stale-admin": {"params": {"max_days": 30}}, "imap-pop-enabled": {"enabled": False}},
            "waivers": [{"rule": "imap-pop-enabled", "entity": "*", "reason": "r", "approved_by": "me"}],
        }
    )
    validate_rule_settings(config.rules, config.waivers, "cfg.yaml")


@pytest.mark.parametrize(
    ("yaml_text", "message"),
    [
        ("rules:\n  no-such-rule:\n    enabled: false\n", "unknown rule 'rules.no-such-rule'"),
        (
            "waivers:\n  - {rule: nope, entity: '*', reason: r, approved_by: me}\n",
            "unknown rule 'nope' in 'waivers[0].rule'",
        ),
    ],
)
def test_cli_rejects_unknown_rules_with_exit_2(tmp_path: Path, yaml_text: str, message: str) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml_text)
    env = {k: v for k, v in os.environ.items() if k != "ENTRA_AUDITOR_CONFIG"}
    proc = subprocess.run(
        [sys.executable, "-m", "auditor.cli", "audit", "--demo", "-c", str(cfg)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 2
    assert f"{cfg}: {message}" in proc.stderr
    assert "Traceback" not in proc.stderr
