"""Pruning removes what history does not know: leftovers of killed runs (``.partial``) and stamped folders
of runs never recorded — but only run-shaped folders, not recent ones, never a kept run's."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta

from auditor.history import HistoryStore
from auditor.history.orphans import ORPHAN_MIN_AGE_S

T0 = datetime(2026, 1, 5, 7, 0, tzinfo=UTC)


def _old(path, seconds: float = ORPHAN_MIN_AGE_S + 60) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


def test_prune_removes_orphan_run_folders(sqlite_url, tmp_path, make_result, make_finding) -> None:
    store = HistoryStore(sqlite_url)
    store.migrate()
    tenant_dir = tmp_path / "reports" / "contoso"
    known = []
    for i in range(2):
        d = tenant_dir / f"2026010{i + 5}T070000Z"
        d.mkdir(parents=True)
        r = make_result([make_finding("r1", f"u{i}")], started=T0 + timedelta(days=7 * i))
        store.annotate(r)
        store.record(r, d)
        known.append(d)
    killed = tenant_dir / ".20260120T070000Z-ab12.partial"
    unrecorded = tenant_dir / "20260119T070000Z"
    running = tenant_dir / ".20260121T070000Z-cd34.partial"  # another process may still write it
    notes = tenant_dir / "notes"  # not a run folder: never touched
    for d in (killed, unrecorded, running, notes):
        d.mkdir()
        (d / "snapshot.json.gz").write_bytes(b"x")
    for d in (*known, killed, unrecorded, notes):
        _old(d)
    removed = store.prune("contoso", keep_runs=5)
    assert sorted(removed) == sorted([killed, unrecorded])
    assert not killed.exists() and not unrecorded.exists()
    assert running.exists() and notes.exists() and all(d.exists() for d in known)
