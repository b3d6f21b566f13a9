"""Migration-plan progress end to end: two runs of the real pipeline (history on SQLite and on PostgreSQL, the
e-mail through a real SMTP server on loopback). Run 2 has one user fewer on per-user MFA, and its e-mail says
who moved off; run 1 has nothing to compare with and says only how many users are on per-user MFA."""

from __future__ import annotations

import email
import email.policy
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "plan"))
import test_deliver as td
from plan_tenants import all_safe
from services import fresh_postgres_database

from auditor.config import AuditorConfig
from auditor.history import HistoryStore
from auditor.pipeline import run_audit
from auditor.testing import add_admin, set_mfa, snapshot_of

ca, ca_file, server_context, smtp_server, _env = td.ca, td.ca_file, td.server_context, td.smtp_server, td._env
T0 = datetime(2026, 11, 23, 7, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
def history_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'history.db'}"
        return
    with fresh_postgres_database(request.getfixturevalue("postgres_url"), prefix="entra_plan") as url:
        yield url


def _config(port: int, ca_file: str, reports: Path, url: str) -> AuditorConfig:
    config = td.smtp_config(port, ca_file).model_dump()
    return AuditorConfig.model_validate(
        {"email": config["email"], "reports": {"dir": str(reports)}, "storage": {"url": url}}
    )


def _bodies(inbox: td.Inbox, index: int) -> tuple[str, str]:
    got = email.message_from_bytes(inbox.messages[index]["data"], policy=email.policy.default)
    text = got.get_body(("plain",)).get_content().replace("\r\n", "\n")
    return text, got.get_body(("html",)).get_content()


def test_second_run_email_shows_users_moved_off(smtp_server, ca_file, tmp_path, history_url) -> None:
    inbox, port = smtp_server
    config = _config(port, ca_file, tmp_path / "reports", history_url)
    store = HistoryStore(history_url)
    week1 = all_safe()  # bob, carol and erin on per-user MFA, all in wave 1
    first = run_audit(config, snapshot=snapshot_of(week1), history=store, email=True, formats=["json", "html"], now=T0)
    week2 = all_safe()
    set_mfa(week2, "u-erin", "disabled")  # erin moved to Conditional Access
    add_admin(week2, "u-fay", "fay@contoso.com")
    set_mfa(week2, "u-fay", "enabled")  # a new admin turned up with per-user MFA on
    second = run_audit(
        config,
        snapshot=snapshot_of(week2),
        history=store,
        email=True,
        formats=["json", "html"],
        now=T0 + timedelta(days=7),
    )
    assert first.email_sent and second.email_sent and len(inbox.messages) == 2

    text1, html1 = _bodies(inbox, 0)
    assert "Migration off per-user MFA: 3 users still on per-user MFA." in text1
    assert "moved off" not in text1 and "moved off" not in html1
    assert 'id="plan-progress"' not in first.files["html"].read_text()

    text2, html2 = _bodies(inbox, 1)
    # exact, not netted: erin left, fay joined (a count difference would say 0 moved off)
    assert "Migration off per-user MFA: 1 user moved off per-user MFA since the last run (3 remain)." in text2
    assert "  Moved off: erin@contoso.com\n" in text2
    assert "Newly on per-user MFA since the last run: 1 user." in text2
    assert "- Wave 1 - Nothing to break: 2 (was 3)" in text2
    assert "<b>1</b> user moved off per-user MFA since the last run (<b>3</b> remain)" in html2
    assert "Moved off: erin@contoso.com." in html2
    report = second.files["html"].read_text()
    assert (
        '<p id="plan-progress">Migration off per-user MFA: <b>1</b> user moved off per-user MFA since the last run'
        " (<b>3</b> remain): erin@contoso.com. Newly on per-user MFA: <b>1</b>." in report
    )
    plan = store.plan_of(second.result.run.id)
    assert plan is not None and set(plan.users) == {"u-bob", "u-carol", "u-fay"}
    store.close()


def test_no_history_means_no_moved_off_line(smtp_server, ca_file, tmp_path) -> None:
    inbox, port = smtp_server
    config = _config(port, ca_file, tmp_path / "reports", f"sqlite:///{tmp_path / 'unused.db'}")
    run_audit(config, snapshot=snapshot_of(all_safe()), email=True, formats=["json"], now=T0)
    run_audit(config, snapshot=snapshot_of(all_safe()), email=True, formats=["json"], now=T0 + timedelta(days=7))
    text, _html = _bodies(inbox, 1)
    assert "3 users still on per-user MFA." in text and "moved off" not in text
