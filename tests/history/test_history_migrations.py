"""Alembic migrations shipped in the package: idempotent, concurrent-safe, data-preserving."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import inspect, text

from auditor.history import HistoryStore
from auditor.history.models import metadata

ROOT = Path(__file__).resolve().parents[2]
HEAD = "0003"  # the newest revision in auditor/history/migrations/versions


def test_fresh_database_migrates_to_head_matching_models(sqlite_url):
    store = HistoryStore(sqlite_url)
    assert store.current_revision() is None
    store.migrate()
    store.migrate()  # idempotent
    assert store.current_revision() == HEAD
    insp = inspect(store.engine)
    for table in metadata.sorted_tables:
        assert {c["name"] for c in insp.get_columns(table.name)} == {c.name for c in table.columns}, table.name
    store.close()


def test_upgrade_from_revision_1_keeps_rows(sqlite_url, make_result, make_finding):
    old = HistoryStore(sqlite_url)
    old.migrate("0001")
    assert old.current_revision() == "0001"
    # rows as the revision-1 code wrote them
    started = datetime(2025, 12, 29, 7, 0)
    with old.engine.connect() as conn, conn.begin():
        conn.execute(
            text(
                "INSERT INTO runs (id, tenant, tenant_id, started, finished, recorded_at, status, tool_version,"
                " coverage, counts, previous_run_id, report_dir) VALUES ('oldrun', 'contoso', 'cid', :s, :s, :s,"
                " 'complete', '0.0.9', '[]', :counts, NULL, NULL)"
            ),
            {"s": started, "counts": json.dumps({"open": {"high": 2}, "total": 2})},
        )
        for ent in ("u1", "u2"):
            conn.execute(
                text(
                    "INSERT INTO findings (run_id, fingerprint, rule_id, entity_type, entity_id, entity_name, severity,"
                    " status, change, evidence, first_seen) VALUES ('oldrun', :fp, 'r1', 'user', :e, :n, 'high',"
                    " 'open', 'new', '{}', :s)"
                ),
                {"fp": f"r1|{ent}", "e": ent, "n": f"{ent}@contoso.com", "s": started},
            )
    old.close()

    store = HistoryStore(sqlite_url)
    store.migrate()
    assert store.current_revision() == HEAD
    [row] = store.list_runs()
    assert (row.id, row.tool_version, row.counts["total"], row.rules) == ("oldrun", "0.0.9", 2, None)
    assert row.started == started.replace(tzinfo=UTC)
    # the old run is a working baseline for the new code
    res = make_result([make_finding("r1", "u1")])
    store.annotate(res)
    assert res.previous_run_id == "oldrun"
    assert res.findings[0].change == "persisting" and res.findings[0].first_seen == started.replace(tzinfo=UTC)
    assert res.resolved == [{"rule_id": "r1", "entity_id": "u2", "entity_name": "u2@contoso.com"}]
    store.record(res)
    diff = store.diff("oldrun", res.run.id)  # old run has no rule statuses: treated as assessed
    assert [i.entity_id for i in diff.resolved] == ["u2"] and diff.unknown == []
    store.close()


CHILD = "import sys; from auditor.history import HistoryStore; HistoryStore(sys.argv[1]).migrate(); print('ok')"


def _concurrent_migrations(url: str, n: int = 3) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [
        subprocess.Popen([sys.executable, "-c", CHILD, url], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(n)
    ]
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0 and out.strip() == b"ok", err.decode()


def test_concurrent_migrations_sqlite(sqlite_url):
    _concurrent_migrations(sqlite_url)
    assert HistoryStore(sqlite_url).current_revision() == HEAD


def test_migrations_and_store_on_postgresql(pg_fresh_url, make_result, make_finding):
    _concurrent_migrations(pg_fresh_url)
    store = HistoryStore(pg_fresh_url)
    assert store.current_revision() == HEAD
    a = make_result([make_finding("r1", "u1"), make_finding("r1", "u2", evidence={"when": datetime.now(UTC)})])
    store.annotate(a)
    store.record(a)
    b = make_result([make_finding("r1", "u1")], started=a.run.started.replace(day=12))
    store.annotate(b)
    store.record(b)
    assert b.findings[0].change == "persisting" and b.resolved[0]["entity_id"] == "u2"
    assert [r.id for r in store.list_runs("contoso")] == [b.run.id, a.run.id]
    assert store.list_runs()[1].started == a.run.started
    d = store.diff(a.run.id[:8], b.run.id[:8])
    assert [i.entity_id for i in d.resolved] == ["u2"]
    assert store.prune("contoso", keep_runs=1) == []
    assert [r.id for r in store.list_runs()] == [b.run.id]
    store.close()
