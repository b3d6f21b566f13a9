"""Tenant locks across threads and processes, on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from auditor.history import HistoryStore, TenantBusy
from auditor.history.models import tenant_locks

ROOT = Path(__file__).resolve().parents[2]

HOLDER = textwrap.dedent("""
    import sys, time
    from auditor.history import HistoryStore
    store = HistoryStore(sys.argv[1])
    with store.tenant_lock("contoso", owner="entra-auditor audit (test holder)", ttl_seconds=float(sys.argv[2])):
        print("held", flush=True)
        sys.stdin.readline()       # hold until told to go (or killed)
    print("released", flush=True)
""")


def _holder(url: str, ttl: float = 600) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, url, str(ttl)],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout.readline().strip() == "held", proc.stderr.read()
    return proc


def _contention(url: str) -> None:
    store = HistoryStore(url)
    proc = _holder(url)
    try:
        with pytest.raises(TenantBusy) as info, store.tenant_lock("contoso", owner="scheduler"):
            pytest.fail("acquired a lock held by another live process")
        msg = str(info.value)
        assert msg.startswith("tenant contoso is being audited by entra-auditor audit (test holder) since ")
        assert info.value.exit_code == 3
        with store.tenant_lock("fabrikam", owner="scheduler"):  # other tenants are free
            pass
    finally:
        proc.stdin.write("go\n")
        proc.stdin.flush()
        assert proc.stdout.readline().strip() == "released"
        proc.wait(timeout=30)
    with store.tenant_lock("contoso", owner="scheduler"):
        assert store.lock_holder("contoso")["owner"] == "scheduler"
    assert store.lock_holder("contoso") is None
    store.close()


def test_lock_contention_between_processes_sqlite(sqlite_url):
    HistoryStore(sqlite_url).migrate()
    _contention(sqlite_url)


def test_lock_contention_between_processes_postgresql(pg_fresh_url):
    HistoryStore(pg_fresh_url).migrate()
    _contention(pg_fresh_url)


def test_lock_of_a_killed_process_is_taken_over(sqlite_url):
    HistoryStore(sqlite_url).migrate()
    proc = _holder(sqlite_url)
    proc.kill()
    proc.wait(timeout=30)
    store = HistoryStore(sqlite_url)
    assert store.lock_holder("contoso")["pid"] == proc.pid  # the dead holder's row is still there
    with store.tenant_lock("contoso", owner="after crash"):
        assert store.lock_holder("contoso")["owner"] == "after crash"
    store.close()


def test_expired_lock_is_taken_over_with_injected_clock(sqlite_url):
    now = [datetime(2026, 1, 5, 7, 0, tzinfo=UTC)]
    store = HistoryStore(sqlite_url, clock=lambda: now[0])
    store.migrate()
    # a lock held by a live process on another host (so only the TTL can free it)
    with store.engine.connect() as conn, conn.begin():
        conn.execute(
            tenant_locks.insert(),
            [
                {
                    "tenant": "contoso",
                    "token": "t",
                    "owner": "schedule on other-host",
                    "host": "other-host",
                    "pid": 1,
                    "thread": "1",
                    "acquired_at": now[0],
                    "expires_at": now[0] + timedelta(seconds=60),
                }
            ],
        )
    with (
        pytest.raises(TenantBusy, match="by schedule on other-host since 2026-01-05 07:00:00 UTC"),
        store.tenant_lock("contoso", owner="me"),
    ):
        pass
    now[0] += timedelta(seconds=61)
    with store.tenant_lock("contoso", owner="me"):
        assert store.lock_holder("contoso")["owner"] == "me"
    store.close()


def test_lock_is_reentrant_in_one_thread_but_not_across_threads(sqlite_url):
    store = HistoryStore(sqlite_url)
    errors: list[BaseException] = []

    def other() -> None:
        try:
            with store.tenant_lock("contoso", owner="thread 2"):
                pass
        except TenantBusy as exc:
            errors.append(exc)

    with store.tenant_lock("contoso", owner="outer"):
        with store.tenant_lock("contoso", owner="inner"):  # e.g. scheduler -> pipeline
            assert store.lock_holder("contoso")["owner"] == "outer"
        assert store.lock_holder("contoso")["owner"] == "outer"  # inner exit did not release
        t = threading.Thread(target=other)
        t.start()
        t.join()
    assert len(errors) == 1 and "being audited by outer" in str(errors[0])
    assert store.lock_holder("contoso") is None
    store.close()


def test_heartbeat_extends_a_long_held_lock(sqlite_url):
    store = HistoryStore(sqlite_url)
    with store.tenant_lock("contoso", owner="long", ttl_seconds=3):
        first = store.lock_holder("contoso")["expires_at"]
        deadline = datetime.now(UTC) + timedelta(seconds=20)
        while store.lock_holder("contoso")["expires_at"] == first and datetime.now(UTC) < deadline:
            threading.Event().wait(0.2)
        assert store.lock_holder("contoso")["expires_at"] > first
    store.close()


def test_lock_of_an_earlier_process_with_the_same_pid_is_taken_over(sqlite_url) -> None:
    """A restarted container: same host name and PID, another incarnation; the old row is stale."""
    import os
    import socket
    from datetime import UTC, datetime, timedelta

    from auditor.history.models import tenant_locks

    store = HistoryStore(sqlite_url)
    store.migrate()
    now = datetime.now(UTC)
    with store.engine.begin() as conn:
        conn.execute(
            tenant_locks.insert(),
            [
                {
                    "tenant": "contoso",
                    "token": "dead",
                    "owner": "entra-auditor schedule (pid 1)",
                    "host": socket.gethostname(),
                    "pid": os.getpid(),
                    "thread": "0123456789abcdef:1",
                    "acquired_at": now,
                    "expires_at": now + timedelta(seconds=600),
                }
            ],
        )
    with store.tenant_lock("contoso", owner="new incarnation"):
        assert store.lock_holder("contoso")["owner"] == "new incarnation"
    store.close()
