"""History records each run's migration plan (users on per-user MFA, per wave, and who) so the next run can say
who moved off per-user MFA; databases from before revision 0003 upgrade in place, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from plan_values import make_plan
from sqlalchemy import func, select, text

from auditor.history import HistoryStore
from auditor.history.models import plan_users

T0 = datetime.fromisoformat("2026-01-05T07:00:00+00:00")
WEEK = timedelta(days=7)


def _run(store, make_result, make_finding, plan, started, **kw):
    res = make_result([make_finding("r1", "u1")], started=started, **kw)
    res.migration_plan = plan
    store.annotate(res)
    store.record(res)
    return res


def test_the_next_run_gets_the_baselines_plan_with_its_users(sqlite_url, make_result, make_finding):
    store = HistoryStore(sqlite_url)
    first = _run(store, make_result, make_finding, make_plan(("ann@c.com", 1), ("bo@c.com", 2), ("cy@c.com", 2)), T0)
    assert first.previous_plan is None  # first run: nothing to compare with
    [row] = store.list_runs()
    assert row.plan == {"status": "assessed", "total": 3, "waves": {"0": 0, "1": 1, "2": 2, "3": 0}}

    second = _run(store, make_result, make_finding, make_plan(("bo@c.com", 2)), T0 + WEEK)
    base = second.previous_plan
    assert base is not None and base.run_id == first.run.id and base.started == T0
    assert (base.total, base.waves, base.assessed) == (3, {0: 0, 1: 1, 2: 2, 3: 0}, True)
    assert base.users == {"ann": "ann@c.com", "bo": "bo@c.com", "cy": "cy@c.com"}
    assert store.plan_of(second.run.id[:10]).users == {"bo": "bo@c.com"}
    store.close()


def test_plan_not_assessed_or_absent_is_not_a_count(sqlite_url, make_result, make_finding):
    store = HistoryStore(sqlite_url)
    _run(store, make_result, make_finding, make_plan(status="not_assessed"), T0)
    second = _run(store, make_result, make_finding, None, T0 + WEEK)  # a run without a plan (e.g. older code)
    assert second.previous_plan is not None and second.previous_plan.total is None
    assert not second.previous_plan.assessed and second.previous_plan.users == {}
    third = _run(store, make_result, make_finding, make_plan(("ann@c.com", 1)), T0 + 2 * WEEK)
    assert third.previous_plan is None
    assert [r.plan for r in store.list_runs()][1:] == [None, {"status": "not_assessed", "total": None, "waves": {}}]
    store.close()


def test_the_baseline_is_the_previous_complete_run(sqlite_url, make_result, make_finding):
    store = HistoryStore(sqlite_url)
    first = _run(store, make_result, make_finding, make_plan(("ann@c.com", 1), ("bo@c.com", 1)), T0)
    _run(store, make_result, make_finding, make_plan(("bo@c.com", 1)), T0 + WEEK, status="partial")
    third = _run(store, make_result, make_finding, make_plan(), T0 + 2 * WEEK)
    assert third.previous_plan.run_id == first.run.id and third.previous_plan.total == 2
    store.close()


def test_prune_removes_the_plan_users_of_pruned_runs(sqlite_url, make_result, make_finding):
    store = HistoryStore(sqlite_url)
    for week in range(3):
        _run(store, make_result, make_finding, make_plan(("ann@c.com", 1), ("bo@c.com", 3)), T0 + week * WEEK)
    with store.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(plan_users)).scalar() == 6
    store.prune("contoso", keep_runs=1)
    with store.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(plan_users)).scalar() == 2
    store.close()


def _old_run(store: HistoryStore) -> None:
    """A run as the revision-0002 code recorded it (no plan column, no plan_users table)."""
    with store.engine.connect() as conn, conn.begin():
        conn.execute(
            text(
                "INSERT INTO runs (id, tenant, tenant_id, started, finished, recorded_at, status, tool_version,"
                " coverage, counts, previous_run_id, report_dir, rules, errors) VALUES ('oldrun', 'contoso', 'cid',"
                " :s, :s, :s, 'complete', '0.1.0', '[]', :counts, NULL, NULL, :rules, '[]')"
            ),
            {"s": T0.replace(tzinfo=None), "counts": json.dumps({"total": 1}), "rules": json.dumps({"r1": "assessed"})},
        )
        conn.execute(
            text(
                "INSERT INTO findings (run_id, fingerprint, rule_id, entity_type, entity_id, entity_name, severity,"
                " status, change, evidence, first_seen) VALUES ('oldrun', 'r1|u1', 'r1', 'user', 'u1', 'u1@c.com',"
                " 'high', 'open', 'new', '{}', :s)"
            ),
            {"s": T0.replace(tzinfo=None)},
        )


def _upgrade_keeps_runs_and_starts_recording_plans(url: str, make_result, make_finding) -> None:
    old = HistoryStore(url)
    old.migrate("0002")
    _old_run(old)
    old.close()

    store = HistoryStore(url)
    store.migrate()
    assert store.current_revision() == "0003"
    [row] = store.list_runs()
    assert (row.id, row.counts["total"], row.rules, row.plan) == ("oldrun", 1, {"r1": "assessed"}, None)
    assert store.plan_of("oldrun") is None
    second = _run(store, make_result, make_finding, make_plan(("ann@c.com", 1), ("bo@c.com", 2)), T0 + WEEK)
    assert second.previous_run_id == "oldrun" and second.previous_plan is None  # the old run recorded no plan
    assert second.findings[0].change == "persisting"
    third = _run(store, make_result, make_finding, make_plan(("bo@c.com", 2)), T0 + 2 * WEEK)
    assert third.previous_plan.users == {"ann": "ann@c.com", "bo": "bo@c.com"}
    assert store.plan_of(third.run.id).waves == {0: 0, 1: 0, 2: 1, 3: 0}
    store.close()


def test_upgrade_from_revision_2_on_sqlite(sqlite_url, make_result, make_finding):
    _upgrade_keeps_runs_and_starts_recording_plans(sqlite_url, make_result, make_finding)


def test_upgrade_from_revision_2_on_postgresql(pg_fresh_url, make_result, make_finding):
    _upgrade_keeps_runs_and_starts_recording_plans(pg_fresh_url, make_result, make_finding)
