"""The trend of open findings per severity: recorded runs through the real pipeline (SQLite and PostgreSQL)
show in report.html as an inline SVG with one dot per run and severity plus a table, and in both parts of
the e-mail (sent to a real SMTP server on loopback); the first run says there is no trend yet."""

from __future__ import annotations

import email
import re
import socket
from datetime import UTC, datetime, timedelta
from email.message import Message
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import update

from auditor.config import parse_config
from auditor.demo import demo_snapshot
from auditor.errors import ConfigError
from auditor.findings import SEVERITIES
from auditor.history import HistoryStore, TrendPoint
from auditor.history.models import runs
from auditor.pipeline import RunOutcome, run_audit
from auditor.render.trend import nice_ceiling, trend_chart

T0 = datetime(2026, 11, 2, 7, 0, tzinfo=UTC)


class Inbox:
    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 OK"


@pytest.fixture
def inbox():
    box = Inbox()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        box.port = probe.getsockname()[1]
    controller = Controller(box, hostname="127.0.0.1", port=box.port)
    controller.start()
    yield box
    controller.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def history_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'db' / 'history.db'}"
    return request.getfixturevalue("pg_fresh_url")


def _snapshot(week: int):
    """The demo tenant, a little better each week: org SMTP AUTH off from week 1, IMAP closed on more
    mailboxes from week 2."""
    snap = demo_snapshot()
    if week >= 1:
        snap.sources["transport_config"].records["SmtpClientAuthenticationDisabled"] = True
    if week >= 2:
        for box in snap.sources["cas_mailboxes"].records:
            box["ImapEnabled"] = False
            box["PopEnabled"] = False
    return snap


def _config(tmp_path: Path, url: str, port: int | None = None, **reports):
    raw = {"storage": {"url": url}, "reports": {"dir": str(tmp_path / "r"), "formats": ["html"], **reports}}
    if port is not None:
        raw["email"] = {
            "transport": "smtp",
            "sender": "audit@contoso.test",
            "to": ["secops@contoso.test"],
            "smtp": {"host": "127.0.0.1", "port": port, "starttls": False, "timeout_seconds": 10},
        }
    return parse_config(raw)


def _open(outcome: RunOutcome) -> dict[str, int]:
    assert outcome.result is not None
    return outcome.result.summary()["open"]


def _trend_section(html: str) -> str:
    match = re.search(r'<section id="trend">.*?</section>', html, re.S)
    assert match, "no trend section"
    return match.group(0)


def _dots(fragment: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for sev, value in re.findall(r'data-sev="(\w+)"[^>]*>\s*<title>[\d-]+: (\d+) \w+</title>', fragment):
        out.setdefault(sev, []).append(value)
    return out


def _table(fragment: str) -> list[list[str]]:
    body = re.search(r'<table class="trend-table".*?<tbody>(.*?)</tbody>', fragment, re.S)
    assert body, "no trend table"
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", body.group(1), re.S)
    return [[re.sub(r"<[^>]+>", "", cell) for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)] for row in rows]


def _parts(message: Message) -> tuple[str, str]:
    text = html = ""
    for part in message.walk():
        if part.get_content_type() == "text/plain" and not part.get_filename():
            text = part.get_payload(decode=True).decode()
        elif part.get_content_type() == "text/html" and not part.get_filename():
            html = part.get_payload(decode=True).decode()
    return text, html


def test_three_recorded_runs_draw_three_points_per_severity(tmp_path, history_url, inbox) -> None:
    config = _config(tmp_path, history_url, inbox.port)
    store = HistoryStore(history_url)
    outcomes = [
        run_audit(config, snapshot=_snapshot(week), history=store, now=T0 + timedelta(days=7 * week), email=True)
        for week in range(3)
    ]
    assert all(o.email_sent for o in outcomes)
    counts = [_open(o) for o in outcomes]
    assert len({sum(c.values()) for c in counts}) == 3, counts  # the tenant really changed each week

    # The first run: no trend yet (report and e-mail), no chart.
    first = _trend_section(outcomes[0].files["html"].read_text())
    assert "No trend yet" in first and "<svg" not in first
    first_text, first_html = _parts(inbox.messages[0])
    assert "No trend yet" in first_html and "Trend: none yet" in first_text

    # The third run: one dot per run and severity, oldest first, with the values of each run.
    section = _trend_section(outcomes[2].files["html"].read_text())
    assert section.count("<svg") == 1
    dots = _dots(section)
    assert set(dots) == set(SEVERITIES)
    for sev in SEVERITIES:
        assert dots[sev] == [str(c[sev]) for c in counts], sev
    assert " style=" not in section  # the report's CSP allows hashed styles only
    table = _table(section)
    assert len(table) == 3  # newest first, this run marked
    assert table[0][0] == "2026-11-16 07:00 (this run)" and table[2][0] == "2026-11-02 07:00"
    for row, c in zip(table, reversed(counts), strict=True):
        assert row[1] == "complete"
        assert row[2:7] == [str(c[s]) for s in SEVERITIES]
        assert row[7] == str(sum(c.values()))

    # The e-mail of the third run: the same SVG and table, and the plain-text alternative.
    text, html = _parts(inbox.messages[2])
    mail = html[html.index("Trend: open findings per run") :]
    assert mail.count("<svg") >= 1 and _dots(mail.split("</svg>")[0]) == dots
    assert "trend-table" in mail and "(this run)" in mail
    assert "Open findings over the last 3 runs (newest first):" in text
    for week, c in enumerate(counts):
        day = (T0 + timedelta(days=7 * week)).strftime("%Y-%m-%d")
        assert f"{day}: {sum(c.values())} open ({c['critical']} critical, {c['high']} high" in text
    assert [p.run_id for p in store.trend("contoso", 12)] == [o.result.run.id for o in outcomes]


def test_trend_runs_limits_the_series_and_zero_leaves_it_out(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'h.db'}"
    store = HistoryStore(url)
    for week in range(3):
        last = run_audit(
            _config(tmp_path, url, trend_runs=2),
            snapshot=_snapshot(week),
            history=store,
            now=T0 + timedelta(weeks=week),
        )
    section = _trend_section(last.files["html"].read_text())
    assert {sev: len(v) for sev, v in _dots(section).items()} == dict.fromkeys(SEVERITIES, 2)
    assert len(_table(section)) == 2
    off = run_audit(
        _config(tmp_path, url, trend_runs=0), snapshot=_snapshot(2), history=store, now=T0 + timedelta(weeks=3)
    )
    assert 'id="trend"' not in off.files["html"].read_text()
    with pytest.raises(ConfigError, match="trend_runs"):
        _config(tmp_path, url, trend_runs=1)
    with pytest.raises(ConfigError, match="trend_runs"):
        _config(tmp_path, url, trend_runs=-1)


def test_runs_without_stored_counts_are_counted_from_their_findings(tmp_path, history_url) -> None:
    store = HistoryStore(history_url)
    config = _config(tmp_path, history_url)
    outcomes = [run_audit(config, snapshot=_snapshot(w), history=store, now=T0 + timedelta(weeks=w)) for w in range(2)]
    with store.engine.begin() as conn:  # e.g. written by an older tool: no per-severity counts
        conn.execute(update(runs).where(runs.c.id == outcomes[0].result.run.id).values(counts={"total": 1}))
    points = store.trend("contoso", 5)
    assert [p.open for p in points] == [_open(o) for o in outcomes]
    assert store.trend("contoso", 5, exclude=outcomes[1].result.run.id)[-1].run_id == outcomes[0].result.run.id
    assert store.trend("other-tenant", 5) == [] and store.trend("contoso", 0) == []


def test_the_chart_marks_incomplete_runs_and_scales_to_the_worst_count() -> None:
    points = [
        TrendPoint("a", T0, "complete", {"critical": 1, "high": 7}),
        TrendPoint("b", T0 + timedelta(weeks=1), "partial", {"critical": 0, "high": 3}),
        TrendPoint("c", T0 + timedelta(weeks=2), "complete", {"critical": 0, "high": 0}, current=True),
    ]
    chart = trend_chart(points)
    high = next(s for s in chart["series"] if s.severity == "high")
    assert [d["hollow"] for d in high.dots] == [False, True, False]
    assert [d["value"] for d in high.dots] == [7, 3, 0]
    assert high.dots[0]["y"] < high.dots[1]["y"] < high.dots[2]["y"] == chart["axis_y"]
    assert [g["value"] for g in chart["grid"]] == [0, 5, 10]
    assert [nice_ceiling(v) for v in (0, 1, 3, 7, 10, 11, 99, 101)] == [1, 1, 5, 10, 10, 20, 100, 200]
    many = [TrendPoint(str(i), T0 + timedelta(weeks=i), "complete", {}) for i in range(12)]
    labels = [lab["text"] for lab in trend_chart(many)["labels"]]
    assert labels[0] == "11-02" and labels[-1] == (T0 + timedelta(weeks=11)).strftime("%m-%d") and len(labels) <= 8
