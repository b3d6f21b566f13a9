"""Per-tenant run lock in the history database: at most one audit of a tenant at a time, across processes.

A lock is one row of ``tenant_locks``. Acquiring inserts the row; if it exists, the row is taken over
only when it has expired or its holder is a process on this host that no longer exists (a crash or
``kill -9`` must not block the tenant until the TTL runs out). A process is identified by host, PID and
a random incarnation marker (stored with the thread id): a restarted container runs its scheduler as
PID 1 on the same host name again, and the marker tells the new PID 1 from the killed one. While held,
a heartbeat thread pushes ``expires_at`` forward, so a long audit keeps its lock and a dead one loses it
after ``ttl_seconds``.
The lock is re-entrant for the same thread of the same process: an outer caller (the scheduler, the
CLI) and an inner one (the pipeline) may both take it without colliding.
"""

from __future__ import annotations

import os
import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from auditor.errors import AuditorError
from auditor.history.models import tenant_locks

DEFAULT_TTL_SECONDS = 600


class TenantBusy(AuditorError):
    """Another process (or thread) is auditing this tenant right now. Exit code 3."""

    exit_code = 3

    def __init__(self, tenant: str, owner: str, since: datetime) -> None:
        super().__init__(f"tenant {tenant} is being audited by {owner} since {since.strftime('%Y-%m-%d %H:%M:%S UTC')}")
        self.tenant = tenant
        self.owner = owner
        self.since = since


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# Identifies this process incarnation (not a client or connection: a constant chosen at import).
_INCARNATION = uuid.uuid4().hex[:16]


def _holder() -> tuple[str, int, str]:
    return socket.gethostname(), os.getpid(), f"{_INCARNATION}:{threading.get_ident()}"


def _holder_dead(current: dict[str, Any], host: str, pid: int) -> bool:
    """True when the row's holder is a process on this host that no longer exists."""
    if current["host"] != host:
        return False  # another machine: only the TTL can tell
    if current["pid"] != pid:
        return not _pid_alive(current["pid"])
    # Our own PID but not our incarnation: an earlier process with this PID (a restarted container).
    return not str(current["thread"]).startswith(f"{_INCARNATION}:")


class TenantLocks:
    """Acquire/release/refresh tenant locks through ``engine``; ``clock`` returns aware UTC now."""

    def __init__(self, engine: Engine, clock: Callable[[], datetime]) -> None:
        self._engine = engine
        self._clock = clock

    @contextmanager
    def hold(self, tenant: str, owner: str, ttl_seconds: float = DEFAULT_TTL_SECONDS) -> Iterator[None]:
        token = self.acquire(tenant, owner, ttl_seconds)
        if token is None:  # re-entrant: the outer holder releases
            yield
            return
        stop = threading.Event()
        beat = threading.Thread(
            target=self._heartbeat,
            args=(tenant, token, ttl_seconds, stop),
            name=f"tenant-lock-{tenant}",
            daemon=True,
        )
        beat.start()
        try:
            yield
        finally:
            stop.set()
            beat.join(timeout=30)
            self.release(tenant, token)

    def acquire(self, tenant: str, owner: str, ttl_seconds: float) -> str | None:
        """Take the lock; return its token, or None when this thread already holds it."""
        host, pid, thread = _holder()
        token = uuid.uuid4().hex
        now = self._clock()
        row: dict[str, Any] = {
            "tenant": tenant,
            "token": token,
            "owner": owner,
            "host": host,
            "pid": pid,
            "thread": thread,
            "acquired_at": now,
            "expires_at": now + timedelta(seconds=ttl_seconds),
        }
        for _attempt in range(5):
            try:
                with self._engine.connect() as conn:
                    conn.execution_options(sqlite_immediate=True)
                    with conn.begin():
                        conn.execute(insert(tenant_locks), [row])
                return token
            except IntegrityError:
                pass
            current = self._current(tenant)
            if current is None:
                continue  # released between our insert and our read: try again
            if current["host"] == host and current["pid"] == pid and current["thread"] == thread:
                return None
            stale = current["expires_at"] <= now or _holder_dead(current, host, pid)
            if not stale:
                raise TenantBusy(tenant, current["owner"], current["acquired_at"])
            with self._engine.connect() as conn:
                conn.execution_options(sqlite_immediate=True)
                with conn.begin():
                    taken = conn.execute(
                        update(tenant_locks)
                        .where(tenant_locks.c.tenant == tenant, tenant_locks.c.token == current["token"])
                        .values(**row)
                    ).rowcount
            if taken == 1:
                return token
        current = self._current(tenant)
        raise TenantBusy(
            tenant, current["owner"] if current else "another process", current["acquired_at"] if current else now
        )

    def release(self, tenant: str, token: str) -> None:
        with self._engine.connect() as conn, conn.begin():
            conn.execute(delete(tenant_locks).where(tenant_locks.c.tenant == tenant, tenant_locks.c.token == token))

    def refresh(self, tenant: str, token: str, ttl_seconds: float) -> bool:
        """Extend the lock; False when it was lost (expired and taken over)."""
        with self._engine.connect() as conn, conn.begin():
            return (
                conn.execute(
                    update(tenant_locks)
                    .where(tenant_locks.c.tenant == tenant, tenant_locks.c.token == token)
                    .values(expires_at=self._clock() + timedelta(seconds=ttl_seconds))
                ).rowcount
                == 1
            )

    def holder(self, tenant: str) -> dict[str, Any] | None:
        return self._current(tenant)

    def _current(self, tenant: str) -> dict[str, Any] | None:
        with self._engine.connect() as conn:
            row = conn.execute(select(tenant_locks).where(tenant_locks.c.tenant == tenant)).mappings().first()
        return dict(row) if row else None

    def _heartbeat(self, tenant: str, token: str, ttl_seconds: float, stop: threading.Event) -> None:
        interval = max(1.0, min(ttl_seconds / 3, 60.0))
        while not stop.wait(interval):
            try:
                self.refresh(tenant, token, ttl_seconds)
            except Exception:  # noqa: S112 - a missed beat is retried; the TTL covers the rest
                continue
