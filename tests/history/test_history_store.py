"""HistoryStore on a real SQLite file: annotate, record, list, diff, prune, atomicity."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from auditor.errors import StorageError, UsageError
from auditor.history import HistoryStore, format_diff, format_runs
from auditor.history.models import findings as findings_t
from auditor.history.models import runs as runs_t

T0 = datetime(2026, 1, 5, 7, 0, tzinfo=UTC)
WEEK = timedelta(days=7)


@pytest.fixture
def store(sqlite_url):
    s = HistoryStore(sqlite_url)
    yield s
    s.close()


def audit(store, res, report_dir=None):
    store.annotate(res)
    store.record(res, report_dir)
    return res


def test_first_run_everything_new_and_recorded(store, make_result, make_finding, sqlite_url):
    res = audit(store, make_result([make_finding("r1", "u1"), make_finding("r2", "u2", severity="low")]))
    assert [f.change for f in res.findings] == ["new", "new"]
    assert all(f.first_seen == T0 for f in res.findings)
    assert res.resolved == [] and res.previous_run_id is None
    [row] = store.list_runs()
    assert row.id == res.run.id and row.tenant == "contoso" and row.status == "complete"
    assert row.counts["open"]["high"] == 1 and row.counts["open"]["low"] == 1
    assert row.counts["new"] == 2 and row.counts["total"] == 2
    assert row.rules == {"r1": "assessed", "r2": "assessed"}
    db = Path(sqlite_url.removeprefix("sqlite:///"))
    assert oct(db.stat().st_mode & 0o777) == "0o600"


def test_second_run_new_persisting_resolved_and_first_seen(store, make_result, make_finding):
    first = audit(store, make_result([make_finding("r1", "u1"), make_finding("r1", "u2")]))
    second = audit(store, make_result([make_finding("r1", "u1"), make_finding("r1", "u3")], started=T0 + WEEK))
    by_id = {f.entity_id: f for f in second.findings}
    assert by_id["u1"].change == "persisting" and by_id["u1"].first_seen == T0
    assert by_id["u3"].change == "new" and by_id["u3"].first_seen == T0 + WEEK
    assert second.resolved == [{"rule_id": "r1", "entity_id": "u2", "entity_name": "u2@contoso.com"}]
    assert second.previous_run_id == first.run.id
    # first_seen survives a third run
    third = audit(store, make_result([make_finding("r1", "u1")], started=T0 + 2 * WEEK))
    assert third.findings[0].first_seen == T0
    assert store.list_runs()[0].counts["resolved"] == 1


def test_partial_run_is_not_a_baseline_and_not_assessed_is_never_resolved(store, make_result, make_finding):
    base = audit(store, make_result([make_finding("mfa", "u1"), make_finding("legacy", "u2")]))
    # legacy's source failed: its finding is gone but must NOT be reported resolved
    partial = audit(
        store,
        make_result(
            [make_finding("mfa", "u1"), make_finding("mfa", "u9")],
            started=T0 + WEEK,
            status="partial",
            rules={"legacy": "not_assessed"},
        ),
    )
    assert partial.resolved == []
    assert partial.previous_run_id == base.run.id
    # the next complete run compares with the last COMPLETE run (base), not the partial one
    nxt = audit(store, make_result([make_finding("legacy", "u2"), make_finding("mfa", "u9")], started=T0 + 2 * WEEK))
    assert nxt.previous_run_id == base.run.id
    by = {f.fingerprint: f for f in nxt.findings}
    assert by["legacy|u2"].change == "persisting" and by["legacy|u2"].first_seen == T0
    # u9 is new against the baseline, but it was first seen in the partial run
    assert by["mfa|u9"].change == "new" and by["mfa|u9"].first_seen == T0 + WEEK
    assert nxt.resolved == [{"rule_id": "mfa", "entity_id": "u1", "entity_name": "u1@contoso.com"}]


def test_disabled_rule_and_failed_run_resolve_nothing(store, make_result, make_finding):
    audit(store, make_result([make_finding("r1", "u1")]))
    disabled = audit(store, make_result([], started=T0 + WEEK, rules={"r1": "disabled"}))
    assert disabled.resolved == []
    failed = audit(store, make_result([], started=T0 + 2 * WEEK, status="failed", rules={}))
    assert failed.resolved == []
    assert [r.status for r in store.list_runs()] == ["failed", "complete", "complete"]
    assert store.last_complete_run("contoso").id == disabled.run.id


def test_tenants_are_separate(store, make_result, make_finding):
    audit(store, make_result([make_finding("r1", "u1")], tenant="contoso"))
    other = audit(store, make_result([make_finding("r1", "u1")], tenant="fabrikam", started=T0 + WEEK))
    assert other.findings[0].change == "new" and other.previous_run_id is None
    assert [r.tenant for r in store.list_runs("fabrikam")] == ["fabrikam"]
    assert len(store.list_runs(limit=1)) == 1


def test_diff_between_runs_and_prefixes(store, make_result, make_finding):
    a = audit(
        store,
        make_result(
            [make_finding("r1", "u1"), make_finding("r1", "u2"), make_finding("r2", "u5")],
            rules={"r3": "assessed", "r4": "not_assessed"},
        ),
    )
    b = audit(
        store,
        make_result(
            [
                make_finding("r1", "u1"),
                make_finding("r1", "u3", severity="critical"),
                make_finding("r3", "u7"),
                make_finding("r4", "u8"),
            ],
            started=T0 + WEEK,
            status="partial",
            rules={"r2": "not_assessed"},
        ),
    )
    d = store.diff(a.run.id[:10], b.run.id)
    assert [i.entity_id for i in d.new] == ["u3", "u7"]
    assert [i.entity_id for i in d.resolved] == ["u2"]
    assert [i.entity_id for i in d.persisting] == ["u1"]
    # r2 not assessed in b: not resolved; r4 not assessed in a: not new
    assert sorted(i.fingerprint for i in d.unknown) == ["r2|u5", "r4|u8"]
    text = format_diff(d)
    assert "New (2)" in text and "Resolved (1)" in text and "Persisting (1)" in text and "Unknown (2)" in text
    assert "u3@contoso.com" in text and "u1@contoso.com" not in text
    assert "u1@contoso.com" in format_diff(d, show_persisting=True)
    with pytest.raises(UsageError, match="No run with id 'nope'"):
        store.diff("nope", b.run.id)
    with pytest.raises(UsageError, match="No run with id '%'"):
        store.diff("%", b.run.id)


def test_diff_refuses_runs_of_different_tenants(store, make_result, make_finding):
    a = audit(store, make_result([make_finding("r1", "u1")], tenant="contoso"))
    b = audit(store, make_result([make_finding("r1", "u1")], tenant="fabrikam"))
    with pytest.raises(UsageError, match="different tenants"):
        store.diff(a.run.id, b.run.id)


def test_format_runs_table_and_terminal_escapes(store, make_result, make_finding):
    assert format_runs([]) == "No runs recorded."
    audit(store, make_result([make_finding("r1", "u1", severity="critical")]))
    b = audit(store, make_result([make_finding("r1", "evil", name="x\x1b[31mred\x07")], started=T0 + WEEK))
    out = format_runs(store.list_runs())
    lines = out.splitlines()
    assert lines[0].split()[:4] == ["RUN", "TENANT", "STARTED", "(UTC)"]
    assert lines[1].startswith(b.run.id[:12]) and "2026-01-12 07:00" in lines[1]
    assert lines[2].split()[4:7] == ["complete", "1", "0"]  # date, time, status, CRIT=1, HIGH=0
    text = format_diff(store.diff(store.list_runs()[1].id, b.run.id))
    assert "\x1b" not in text and "\x07" not in text and "x?[31mred?" in text


def test_prune_keeps_newest_and_baseline_and_removes_report_dirs(store, make_result, make_finding, tmp_path):
    dirs = []
    statuses = ["complete", "complete", "partial", "partial", "partial"]
    for i, status in enumerate(statuses):
        d = tmp_path / "reports" / "contoso" / f"run{i}"
        d.mkdir(parents=True)
        (d / "report.html").write_text("x")
        dirs.append(d)
        audit(store, make_result([make_finding("r1", f"u{i}")], started=T0 + i * WEEK, status=status), d)
    audit(store, make_result([make_finding("r1", "x")], tenant="fabrikam"), None)
    removed = store.prune("contoso", keep_runs=2)
    # newest two (partial) are kept, plus run1: the newest complete run is the next baseline
    assert sorted(removed) == sorted([dirs[0], dirs[2]])
    assert not dirs[0].exists() and not dirs[2].exists() and dirs[1].exists() and dirs[4].exists()
    assert [r.report_dir for r in store.list_runs("contoso")] == [dirs[4], dirs[3], dirs[1]]
    with store.engine.connect() as conn:  # findings of pruned runs are gone too
        assert conn.execute(select(func.count()).select_from(findings_t)).scalar() == 4
    assert len(store.list_runs("fabrikam")) == 1
    assert store.prune("contoso", keep_runs=2) == []
    with pytest.raises(UsageError):
        store.prune("contoso", keep_runs=0)


def test_prune_never_follows_a_symlinked_report_dir(store, make_result, make_finding, tmp_path):
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "keep.txt").write_text("keep")
    link = tmp_path / "link"
    link.symlink_to(precious)
    audit(store, make_result([make_finding("r1", "u1")]), link)
    audit(store, make_result([make_finding("r1", "u1")], started=T0 + WEEK), None)
    assert store.prune("contoso", keep_runs=1) == []
    assert (precious / "keep.txt").exists()
    assert len(store.list_runs("contoso")) == 1


def test_record_is_one_transaction(store, make_result, make_finding):
    res = make_result([make_finding("r1", "u1"), make_finding("r1", "u2")])
    store.annotate(res)
    res.findings[1].entity_id = None  # violates NOT NULL on the second finding row
    with pytest.raises(StorageError, match="Could not write to the history database sqlite:///"):
        store.record(res)
    with store.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(runs_t)).scalar() == 0
        assert conn.execute(select(func.count()).select_from(findings_t)).scalar() == 0


CRASH_CHILD = textwrap.dedent("""
    import os, sys
    from sqlalchemy import event
    from auditor.findings import AuditResult, Finding, RunInfo
    from auditor.history import HistoryStore
    store = HistoryStore(sys.argv[1])
    store.migrate()
    def crash(conn, clauseelement, multiparams, params, execution_options, result):
        if "findings" in str(clauseelement):
            os._exit(9)  # the process dies after the run row and findings were sent, before COMMIT
    event.listen(store.engine, "after_execute", crash)
    fs = [Finding("r1", "high", "user", f"u{i}", f"u{i}", {}) for i in range(1000)]
    res = AuditResult(tenant={"name": "contoso"}, run=RunInfo(), coverage=[], rules=[], findings=fs)
    store.record(res)
""")


def test_crash_mid_record_leaves_no_run(sqlite_url, tmp_path):
    script = tmp_path / "crash.py"
    script.write_text(CRASH_CHILD)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    proc = subprocess.run([sys.executable, str(script), sqlite_url], env=env, capture_output=True, timeout=120)
    assert proc.returncode == 9, proc.stderr.decode()
    store = HistoryStore(sqlite_url)
    assert store.list_runs() == []
    with store.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(findings_t)).scalar() == 0
    store.close()


def test_bulk_record_of_100k_findings(store, make_result, make_finding):
    fs = [
        make_finding(f"rule-{i % 7}", f"user-{i}", evidence={"i": i, "roles": ["Global Administrator"]})
        for i in range(100_000)
    ]
    res = audit(store, make_result(fs))
    assert store.list_runs()[0].counts["total"] == 100_000
    fs2 = [make_finding(f"rule-{i % 7}", f"user-{i}") for i in range(1, 100_001)]
    res2 = audit(store, make_result(fs2, started=T0 + WEEK))
    assert sum(f.change == "new" for f in res2.findings) == 1
    assert res2.resolved == [{"rule_id": "rule-0", "entity_id": "user-0", "entity_name": "user-0@contoso.com"}]
    d = store.diff(res.run.id, res2.run.id)
    assert (len(d.new), len(d.resolved), len(d.persisting)) == (1, 1, 99_999)


def test_unusable_location_is_one_clear_error(tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    with pytest.raises(StorageError, match=r"Cannot create the directory .*not-a-dir/sub for the history database"):
        HistoryStore(f"sqlite:///{blocker / 'sub' / 'h.db'}").migrate()


def test_password_is_masked_in_errors():
    store = HistoryStore("postgresql+psycopg://auditor:s3cr3t@127.0.0.1:1/nodb")
    with pytest.raises(StorageError) as info:
        store.list_runs()
    assert "s3cr3t" not in str(info.value) and "***" in str(info.value)
    store.close()
