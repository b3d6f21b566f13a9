"""Configuration: the example loads; bad input is one sentence naming the key and the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from auditor.config import load_config, parse_config, resolve_config_path
from auditor.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "config" / "auditor.example.yaml"
TENANT = {"name": "contoso", "tenant_id": "t", "client_id": "c", "client_secret_env": "X"}


def test_example_config_loads_and_covers_every_section() -> None:
    config = load_config(EXAMPLE)
    assert config.tenants[0].name == "contoso"
    assert config.email is not None and config.email.smtp is not None
    assert config.legacy_mfa is not None and config.legacy_mfa.trusted_ips == ["203.0.113.0/24"]
    assert config.waivers[0].rule == "imap-pop-enabled"
    written = set(__import__("yaml").safe_load(EXAMPLE.read_text()))
    assert written == set(type(config).model_fields)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"tenants": [{**TENANT, "clien_id": "x"}]}, "unknown key 'tenants[0].clien_id'"),
        ({"schedule": {"cron": "every monday"}}, "'schedule.cron'"),
        ({"schedule": {"timezone": "Mars/Olympus"}}, "unknown time zone"),
        ({"tenants": [{k: v for k, v in TENANT.items() if k != "client_secret_env"}]}, "set exactly one of"),
        ({"tenants": [{**TENANT, "cloud": "custom"}]}, "authority_host must be an https:// URL"),
        ({"tenants": [TENANT, TENANT]}, "used twice"),
        (
            {"waivers": [{"rule": "stale-admin", "entity": "*", "reason": "r"}]},
            "missing required key 'waivers[0].approved_by'",
        ),
        ({"legacy_mfa": {"trusted_ips": ["2001:db8::/48"]}}, "IPv4 only"),
        ({"legacy_mfa": {"trusted_ips": ["not-an-ip"]}}, "is not an IP range"),
        ({"classification": {"service_accounts": {"upn_patterns": ["("]}}}, "invalid regular expression"),
        (["a list"], "top level must be a mapping"),
    ],
)
def test_invalid_config_names_the_key(data: object, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(data, origin="cfg.yaml")
    text = str(err.value)
    assert message in text
    assert text.startswith("cfg.yaml")
    assert "\n" not in text


def test_config_alone_does_not_know_the_rules() -> None:
    """Rule ids are checked against the registry by auditor.rules.settings, not here (no import cycle)."""
    config = parse_config({"rules": {"no-such-rule": {"enabled": False}}})
    assert "no-such-rule" in config.rules


def test_yaml_syntax_error_gives_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("tenants:\n  - name: [unclosed\n")
    with pytest.raises(ConfigError, match=r"bad.yaml is not valid YAML at line \d"):
        load_config(bad)


def test_missing_file() -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config("/nonexistent/auditor.yaml")


def test_secrets_read_lazily_from_env_and_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = parse_config({"tenants": [TENANT]})
    with pytest.raises(ConfigError, match="environment variable X, which is not set"):
        config.tenants[0].client_secret()
    monkeypatch.setenv("X", "s3cret")
    assert config.tenants[0].client_secret() == "s3cret"
    secret = tmp_path / "secret"
    secret.write_text("from-file\n")
    config = parse_config({"tenants": [{**TENANT, "client_secret_env": None, "client_secret_file": str(secret)}]})
    assert config.tenants[0].client_secret() == "from-file"


def test_config_path_resolution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ENTRA_AUDITOR_CONFIG", raising=False)
    assert resolve_config_path(None) is None
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "auditor.yaml").write_text("{}")
    assert resolve_config_path(None) == Path("config/auditor.yaml")
    monkeypatch.setenv("ENTRA_AUDITOR_CONFIG", "/etc/x.yaml")
    assert resolve_config_path(None) == Path("/etc/x.yaml")
    assert resolve_config_path("mine.yaml") == Path("mine.yaml")
