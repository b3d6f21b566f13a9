"""Two schedulers on one database: start A, start B, SIGTERM B — A keeps auditing on schedule (no
``job_orphaned``), on SQLite and on PostgreSQL. The schedulers are real subprocesses (``test_schedule.Child``)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from services import fresh_postgres_database
from test_schedule import Child, runs_recorded


@pytest.fixture(params=["sqlite", "postgresql"])
def shared_url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'history.db'}"
        return
    postgres_url = request.getfixturevalue("postgres_url")
    with fresh_postgres_database(postgres_url, prefix="entra_sched2") as url:
        yield url


def test_survivor_keeps_auditing_after_the_other_scheduler_stops(tmp_path, shared_url) -> None:
    fire = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=12)
    a = Child(tmp_path, shared_url, "many", str(fire.timestamp()))
    b = None
    try:
        a.wait_for("job_scheduled")
        b = Child(tmp_path, shared_url, "many", str(fire.timestamp()))
        b.wait_for("job_scheduled")  # B has replaced the stored job (the last one started wins)
        assert b.terminate() == 0
        assert datetime.now(UTC) < fire, "the machine was too slow to set the scene before the fire time"
        a.wait_for("audit_finished", timeout=60)
        time.sleep(1)
        assert "job_orphaned" not in a.names()
        assert runs_recorded(shared_url) >= 1
        assert a.terminate() == 0
    finally:
        for child in (a, b):
            if child is not None and child.proc.poll() is None:
                child.kill()
