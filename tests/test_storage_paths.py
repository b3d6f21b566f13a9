"""Relative SQLite paths (issue 12 item 14): ``storage.url`` with a relative SQLite path names a file
next to the configuration file, whatever the working directory of the run."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from auditor.cli import main
from auditor.config import load_config, parse_config
from auditor.demo import demo_snapshot
from auditor.history import HistoryStore
from auditor.pipeline import run_audit

T0 = datetime(2026, 11, 23, 7, 0, tzinfo=UTC)


def _write_config(folder: Path, url: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "auditor.yaml"
    path.write_text(f'storage: {{url: "{url}"}}\nreports: {{dir: "{folder / "reports"}"}}\n')
    return path


def test_relative_sqlite_path_resolves_against_the_config_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config_path = _write_config(tmp_path / "etc", "sqlite:///data/history.db")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    config = load_config(config_path)
    assert config.storage.url == f"sqlite:///{tmp_path / 'etc' / 'data' / 'history.db'}"
    store = HistoryStore(config.storage.url)
    outcome = run_audit(config, snapshot=demo_snapshot(), history=store, now=T0, formats=["json"])
    store.close()
    assert (tmp_path / "etc" / "data" / "history.db").exists()
    assert not (elsewhere / "data").exists()

    third = tmp_path / "third"
    third.mkdir()
    monkeypatch.chdir(third)
    assert main(["history", "-c", str(config_path)]) == 0
    assert outcome.result is not None and outcome.result.run.id[:8] in capsys.readouterr().out
    assert not (third / "data").exists()


@pytest.mark.parametrize(
    "url",
    ["sqlite:////var/lib/entra-auditor/history.db", "sqlite://", "sqlite:///:memory:", "postgresql+psycopg://u@h/db"],
)
def test_absolute_memory_and_server_urls_are_unchanged(tmp_path: Path, url: str) -> None:
    assert load_config(_write_config(tmp_path, url)).storage.url == url


def test_parse_config_without_a_file_keeps_the_url() -> None:
    assert parse_config({"storage": {"url": "sqlite:///rel.db"}}).storage.url == "sqlite:///rel.db"


def test_the_example_config_names_an_absolute_database() -> None:
    example = Path(__file__).resolve().parents[1] / "config" / "auditor.example.yaml"
    url = load_config(example).storage.url
    assert url == "sqlite:////var/lib/entra-auditor/history.db"
