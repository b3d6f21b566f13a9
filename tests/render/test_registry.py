"""The renderer registry and the report context: one module adds a format; no pandas past the context."""

from __future__ import annotations

import argparse
import dataclasses
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from render_sample import make_context

from auditor.cli import _config, _formats
from auditor.config import AuditorConfig, parse_config
from auditor.errors import ConfigError, UsageError
from auditor.pipeline import run_audit
from auditor.render import registry
from auditor.render.atomic import atomic_write
from auditor.render.context import ReportContext


def test_builtin_formats_and_attachments() -> None:
    assert registry.formats() == ("html", "xlsx", "json", "csv")
    assert {r.format: r.filename for r in registry.renderers()} == {
        "html": "report.html",
        "xlsx": "report.xlsx",
        "json": "findings.json",
        "csv": "findings.csv",
    }
    assert sorted(r.format for r in registry.attachments()) == ["html", "xlsx"]
    assert AuditorConfig().reports.formats is None  # every default format (csv only when asked for)
    assert _formats(None, AuditorConfig()) == ["html", "xlsx", "json"]
    assert registry.content_type("report.xlsx") == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _write_txt(ctx: ReportContext, path: Path) -> Path:
    return atomic_write(path, f"{ctx.tenant_name}: {ctx.open_total} open, {len(ctx.users)} users\n")


@pytest.fixture
def txt_format() -> Iterator[str]:
    """A throwaway output format, registered the way a new module would register it."""
    registry.renderer("txt", filename="report.txt", attach=True, order=99)(_write_txt)
    try:
        yield "txt"
    finally:
        registry.unregister("txt")


def test_a_registered_format_is_validated_written_and_attached(txt_format: str, tmp_path: Path) -> None:
    assert registry.formats()[-1] == "txt"
    assert "txt" in {r.format for r in registry.attachments()}
    registry.validate_formats(parse_config({"reports": {"formats": ["txt"]}}).reports.formats, "cfg.yaml")
    assert _formats(None, AuditorConfig()) == ["html", "xlsx", "json", "txt"]
    assert _formats("txt,json", AuditorConfig()) == ["txt", "json"]
    outcome = run_audit(AuditorConfig(), demo=True, out_dir=tmp_path, formats=["txt", "json"])
    assert outcome.result is not None
    assert set(outcome.files) == {"snapshot", "txt", "json"}
    text = outcome.files["txt"].read_text()
    assert outcome.files["txt"].name == "report.txt" and outcome.files["txt"].stat().st_mode & 0o777 == 0o600
    open_count = len(outcome.result.open_findings)
    assert text.startswith(f"{outcome.tenant}: {open_count} open, ") and not text.endswith(" 0 users\n")


def test_unregistered_format_is_refused_everywhere(tmp_path: Path) -> None:
    formats = parse_config({"reports": {"formats": ["pdf"]}}, origin="cfg.yaml").reports.formats
    with pytest.raises(ConfigError) as err:
        registry.validate_formats(formats, "cfg.yaml")
    assert str(err.value).startswith("cfg.yaml") and "'reports.formats[0]'" in str(err.value)
    config_file = tmp_path / "auditor.yaml"
    config_file.write_text("reports:\n  formats: [html, txt]\n")
    with pytest.raises(ConfigError, match=r"'reports.formats\[1\]': unknown format 'txt'"):
        _config(argparse.Namespace(config=str(config_file)))
    with pytest.raises(UsageError, match="Unknown --format txt; available formats: html, xlsx, json"):
        _formats("txt", AuditorConfig())
    with pytest.raises(ConfigError, match="Unknown output format 'txt'"):
        run_audit(AuditorConfig(), demo=True, out_dir=tmp_path, formats=["txt"])


def test_a_second_renderer_for_a_format_is_refused() -> None:
    with pytest.raises(ValueError, match="already registered"):
        registry.renderer("html", filename="other.html")(_write_txt)
    with pytest.raises(ValueError, match="plain file name"):
        registry.renderer("evil", filename="../x.txt")


def _values(value: Any, depth: int = 0) -> Iterator[Any]:
    """Every value reachable from the context's fields (rows, lists, dicts, dataclasses)."""
    yield value
    if depth > 6:
        return
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        for f in dataclasses.fields(value):
            yield from _values(getattr(value, f.name), depth + 1)
    elif isinstance(value, dict):
        for v in value.values():
            yield from _values(v, depth + 1)
    elif isinstance(value, list | tuple):
        for v in value:
            yield from _values(v, depth + 1)


def test_context_holds_plain_rows_and_no_pandas_table() -> None:
    ctx = make_context()
    assert [u.upn for u in ctx.users][:2] == ["ann@contoso.com", "x@contoso.com"]
    assert ctx.users[0].classification == "admin, daily" and ctx.users[0].open_findings == 1
    assert {r.cidr for r in ctx.ip_ranges if r.legacy} == {"203.0.113.0/24"}
    assert ctx.ca_policies[0].name == "Require MFA =cmd"
    assert type(ctx.users[0].last_sign_in) is datetime and ctx.users[1].last_sign_in is None  # not NaT
    kinds = {type(v).__module__.split(".")[0] for v in _values(ctx)}
    assert not kinds & {"pandas", "numpy"}


def test_renderers_do_not_import_pandas() -> None:
    """The report layer runs on the context alone: importing every renderer pulls in no pandas or numpy."""
    code = (
        "import sys; from auditor.render import registry; registry.renderers(); "
        "import auditor.render.email; print(sorted(m for m in ('pandas', 'numpy') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "[]"
