"""Hostile configuration files: every one gives one sentence (ConfigError, exit 2), never a traceback.

The property-based tests (Hypothesis) feed arbitrary YAML-shaped data and arbitrary bytes to the loader:
the only outcomes allowed are an ``AuditorConfig`` or one ``ConfigError``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auditor.config import AuditorConfig, load_config, parse_config
from auditor.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
TENANT = "tenants:\n- name: t\n  tenant_id: x\n  client_id: y\n"


def _write(tmp_path: Path, data: bytes | str, name: str = "c.yaml") -> Path:
    path = tmp_path / name
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"reports:\n  dir: \xff\xfe\n", "is not UTF-8 text"),
        (
            "waivers:\n- rule: stale-admin\n  entity: '*'\n  reason: r\n  approved_by: me\n  expires: 2027-13-45\n",
            "'waivers[0].expires'",
        ),
        ("reports: " + "[" * 5000 + "]" * 5000 + "\n", "nested more than 64 levels"),
        ("reports: " + "{a: " * 3000 + "1" + "}" * 3000 + "\n", "nested more than 64 levels"),
        (
            "rules:\n  stale-admin:\n    params:\n      max_days: .nan\n",
            "'rules.stale-admin.params.max_days': not a finite",
        ),
        ("rules:\n  stale-admin:\n    params:\n      max_days: .inf\n", "not a finite number"),
        ("collect:\n  timeout_seconds: .inf\n", "'collect.timeout_seconds'"),
        ("reports:\n  dir: a\nreports:\n  dir: b\n", "duplicate key 'reports'"),
        ("reports:\n  dir: a\n  dir: b\n", "duplicate key 'dir'"),
        ("a: &x [*x]\n", "not valid YAML"),
        ("? [a, b]\n: 1\n", "not valid YAML"),
    ],
)
def test_hostile_config_is_one_sentence(tmp_path: Path, content: bytes | str, message: str) -> None:
    path = _write(tmp_path, content)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    text = str(err.value)
    assert message in text
    assert str(path) in text
    assert "\n" not in text


def test_yaml_merge_keys_still_work(tmp_path: Path) -> None:
    path = _write(tmp_path, "reports:\n  <<: {dir: a, keep_runs: 3}\n  dir: b\n")
    config = load_config(path)
    assert config.reports.dir == "b" and config.reports.keep_runs == 3


def test_oversized_config_is_refused_quickly(tmp_path: Path) -> None:
    path = _write(tmp_path, "# " + "x" * (2 * 1024 * 1024) + "\n")
    with pytest.raises(ConfigError, match="larger than 1 MiB"):
        load_config(path)


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
def test_dev_zero_config_exits_2_without_hanging(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "auditor.cli", "audit", "--demo", "-c", "/dev/zero"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert "/dev/zero" in proc.stderr


def test_binary_secret_file_is_one_sentence(tmp_path: Path) -> None:
    secret = _write(tmp_path, b"\x86\xff\x00\x01binary", "secret.bin")
    config = parse_config(
        {"tenants": [{"name": "t", "tenant_id": "x", "client_id": "y", "client_secret_file": str(secret)}]}
    )
    with pytest.raises(ConfigError, match="is not text"):
        config.tenants[0].client_secret()


def test_huge_secret_file_is_refused(tmp_path: Path) -> None:
    secret = _write(tmp_path, "s" * (1024 * 1024), "secret.txt")
    config = parse_config(
        {"tenants": [{"name": "t", "tenant_id": "x", "client_id": "y", "client_secret_file": str(secret)}]}
    )
    with pytest.raises(ConfigError, match="too large"):
        config.tenants[0].client_secret()


# ------------------------------------------------------------------ property-based

_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.dates(),
)
_json_like = st.recursive(
    _scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.text(max_size=10), children, max_size=4),
    ),
    max_leaves=20,
)
_keys = st.sampled_from(
    [
        "tenants",
        "schedule",
        "storage",
        "reports",
        "email",
        "classification",
        "rules",
        "waivers",
        "legacy_mfa",
        "collect",
        "other",
    ]
)
_section_keys = st.sampled_from(
    [
        "name",
        "tenant_id",
        "client_id",
        "client_secret_env",
        "cloud",
        "cron",
        "timezone",
        "url",
        "dir",
        "formats",
        "keep_runs",
        "sender",
        "to",
        "transport",
        "rule",
        "entity",
        "reason",
        "expires",
        "approved_by",
        "trusted_ips",
        "timeout_seconds",
        "max_retries",
        "params",
        "enabled",
        "severity",
        "stale-admin",
        "mfa-admins",
        "max_days",
    ]
)
_config_like = st.dictionaries(
    _keys,
    st.one_of(
        _json_like,
        st.dictionaries(_section_keys, _json_like, max_size=5),
        st.lists(st.dictionaries(_section_keys, _json_like, max_size=6), max_size=2),
    ),
    max_size=5,
)
_HYPO = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_HYPO
@given(_config_like)
def test_parse_config_gives_a_config_or_one_config_error(data: dict) -> None:
    try:
        config = parse_config(data, origin="fuzz.yaml")
    except ConfigError as exc:
        assert str(exc).startswith("fuzz.yaml")
    else:
        assert isinstance(config, AuditorConfig)


@_HYPO
@given(st.one_of(_config_like, _json_like))
def test_yaml_round_trip_gives_a_config_or_one_config_error(
    tmp_path_factory: pytest.TempPathFactory, data: object
) -> None:
    path = tmp_path_factory.mktemp("cfg") / "c.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    try:
        load_config(path)
    except ConfigError as exc:
        assert str(path) in str(exc)


@_HYPO
@given(st.binary(max_size=400) | st.text(max_size=400).map(str.encode))
def test_arbitrary_bytes_give_a_config_or_one_config_error(
    tmp_path_factory: pytest.TempPathFactory, raw: bytes
) -> None:
    path = tmp_path_factory.mktemp("cfg") / "c.yaml"
    path.write_bytes(raw)
    try:
        load_config(path)
    except ConfigError as exc:
        assert "\n" not in str(exc)
