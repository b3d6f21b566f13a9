"""Engine creation for the history database (SQLite by default, PostgreSQL for shared deployments).

SQLite notes: the stdlib driver opens transactions lazily and never before DDL, so we take over
(``isolation_level=None`` + our own ``BEGIN``) to make migrations and multi-row writes atomic. A
connection can ask for ``BEGIN IMMEDIATE`` (take the write lock up front, so two processes serialise
instead of failing on a lock upgrade) with ``conn.execution_options(sqlite_immediate=True)``.
WAL mode lets readers (``history``) work while a run is being recorded. A new database file is
created with owner-only permissions (0600; its directory 0700 when we create it); an existing one that
others may read is narrowed to 0600 (or a warning says it could not be).
"""

from __future__ import annotations

import json
import logging
import os
import re
import sqlite3
import stat
import time
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.pool import NullPool, StaticPool

from auditor.errors import StorageError

SQLITE_BUSY_TIMEOUT_SECONDS = 60
log = logging.getLogger("auditor.history.db")


def _json_dumps(value: Any) -> str:
    return json.dumps(value, default=str, separators=(",", ":"), ensure_ascii=False)


_USERINFO = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)[^/@\s]*@", re.IGNORECASE)


def parse_url(url: str) -> URL:
    try:
        return make_url(url)
    except (ArgumentError, ValueError) as exc:  # ValueError: e.g. a non-numeric port
        # The URL may carry a password: never repeat the user-info part (or the parser's text, which
        # may quote it).
        shown = _USERINFO.sub(r"\g<scheme>***@", url) if "@" in url else url
        if "://" not in shown and "@" in shown:
            shown = "<unparseable URL>"
        raise StorageError(f"storage.url {shown!r} is not a valid database URL.") from exc


def safe_url(url: URL | str) -> str:
    """The URL with any password masked, for messages and logs."""
    if isinstance(url, str):
        try:
            url = make_url(url)
        except ArgumentError:
            return "<invalid database URL>"
    return url.render_as_string(hide_password=True)


def _prepare_sqlite_file(url: URL) -> None:
    database = url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    path = Path(database)
    if not path.parent.exists():
        try:
            path.parent.mkdir(parents=True, mode=0o700, exist_ok=True)
        except OSError as exc:
            raise StorageError(
                f"Cannot create the directory {path.parent} for the history database ({exc.strerror})."
            ) from exc
    if not path.exists():
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
            os.close(fd)
        except FileExistsError:
            pass
        except OSError as exc:
            raise StorageError(f"Cannot create the history database {path} ({exc.strerror}).") from exc
    else:
        _owner_only(path)


def _owner_only(path: Path) -> None:
    """Narrow an existing database file that group or others may access to 0600."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077 and path.is_file():
            os.chmod(path, mode & 0o700)
    except OSError as exc:
        log.warning(
            "The history database %s is readable by other users and its mode cannot be changed to 0600 (%s).",
            path,
            exc.strerror,
        )


def make_engine(url: str | URL) -> Engine:
    """An engine for ``url`` with the project's SQLite/PostgreSQL settings."""
    parsed = parse_url(url) if isinstance(url, str) else url
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        _prepare_sqlite_file(parsed)
        memory = parsed.database in (None, "", ":memory:")
        engine = create_engine(
            parsed,
            json_serializer=_json_dumps,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS, "check_same_thread": False},
            poolclass=StaticPool if memory else NullPool,  # one shared connection keeps a memory DB alive
        )
        _install_sqlite_transactions(engine)
        return engine
    if backend == "postgresql":
        return create_engine(parsed, json_serializer=_json_dumps, pool_pre_ping=True, pool_size=5)
    try:
        return create_engine(parsed, json_serializer=_json_dumps)
    except Exception as exc:  # unknown dialect / missing driver
        raise StorageError(f"Cannot use the history database {safe_url(parsed)} ({exc}).") from exc


def _set_wal(cur: Any) -> None:
    """``PRAGMA journal_mode=WAL``, waiting for the lock it needs. Switching a new database file to WAL takes
    an exclusive lock, and SQLite answers "database is locked" at once (no busy handler) when several
    processes open the fresh file together (workers starting at once); once the file is in WAL mode the
    pragma is a no-op that never waits."""
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_SECONDS
    delay = 0.01
    while True:
        try:
            cur.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() + delay > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.5)


def _install_sqlite_transactions(engine: Engine) -> None:
    memory = engine.url.database in (None, "", ":memory:")

    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA foreign_keys=ON")
        if not memory:
            _set_wal(cur)
            cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        immediate = conn.get_execution_options().get("sqlite_immediate", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
