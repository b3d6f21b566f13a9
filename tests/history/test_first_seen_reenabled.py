"""First seen survives (issue 12 item 13): disabling a rule for a run and enabling it again does not reset
its findings' first-seen dates; findings.json, the e-mail and ``history diff`` agree."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from auditor.config import parse_config
from auditor.demo import demo_snapshot
from auditor.history import HistoryStore
from auditor.pipeline import run_audit
from auditor.render.context import build_report_context
from auditor.render.email import subject_for

T0 = datetime(2026, 11, 2, 7, 0, tzinfo=UTC)
RULE = "imap-pop-enabled"


def _run(tmp_path: Path, store: HistoryStore, when: datetime, *, disabled: bool):
    data: dict = {"reports": {"dir": str(tmp_path / "r")}}
    if disabled:
        data["rules"] = {RULE: {"enabled": False}}
    return run_audit(parse_config(data), snapshot=demo_snapshot(), history=store, now=when, formats=["json"])


def test_reenabled_rule_keeps_first_seen_everywhere(tmp_path: Path) -> None:
    store = HistoryStore(f"sqlite:///{tmp_path}/h.db")
    first = _run(tmp_path, store, T0, disabled=False)
    second = _run(tmp_path, store, T0 + timedelta(days=7), disabled=True)
    third = _run(tmp_path, store, T0 + timedelta(days=14), disabled=False)
    assert any(f.rule_id == RULE for f in first.result.findings)
    assert not any(f.rule_id == RULE for f in second.result.findings)

    doc = json.loads(third.files["json"].read_text())
    imap = [f for f in doc["findings"] if f["rule_id"] == RULE]
    assert imap and {(f["change"], f["first_seen"]) for f in imap} == {("persisting", T0.isoformat())}
    assert not [f for f in doc["findings"] if f["change"] == "new"]

    context = build_report_context(third.result)
    assert not [f for f in context.new if f.rule_id == RULE]
    assert ", 0 new)" in subject_for(context)

    runs = store.list_runs()
    newest, middle, oldest = runs[0].id, runs[1].id, runs[2].id
    across = store.diff(oldest, newest)
    assert not [i for i in across.new if i.rule_id == RULE]
    assert {i.fingerprint for i in across.persisting if i.rule_id == RULE} == {f"{RULE}|{f['entity_id']}" for f in imap}
    last_week = store.diff(middle, newest)
    assert not [i for i in last_week.new if i.rule_id == RULE]  # not assessed then: unknown, never "new"
    # the stored run carries the surviving first-seen date too (the next run's baseline)
    fourth = _run(tmp_path, store, T0 + timedelta(days=21), disabled=False)
    assert {f.first_seen for f in fourth.result.findings if f.rule_id == RULE} == {T0}
    store.close()


def test_a_finding_resolved_before_the_rule_was_disabled_is_new_again(tmp_path: Path) -> None:
    store = HistoryStore(f"sqlite:///{tmp_path}/h.db")
    _run(tmp_path, store, T0, disabled=False)
    gone = demo_snapshot()
    for box in gone.sources["cas_mailboxes"].records:
        box["ImapEnabled"] = box["PopEnabled"] = False
    data = {"reports": {"dir": str(tmp_path / "r")}}
    run_audit(parse_config(data), snapshot=gone, history=store, now=T0 + timedelta(days=7), formats=["json"])
    _run(tmp_path, store, T0 + timedelta(days=14), disabled=True)
    back = _run(tmp_path, store, T0 + timedelta(days=21), disabled=False)
    imap = [f for f in back.result.findings if f.rule_id == RULE]
    assert imap and {(f.change, f.first_seen) for f in imap} == {("new", T0 + timedelta(days=21))}
    store.close()
