"""Several processes opening a brand-new SQLite file at once (workers starting together) all get a
connection: switching the file to WAL answers "database is locked" without waiting, so it is retried."""

from __future__ import annotations

import threading
from pathlib import Path

from sqlalchemy import text

from auditor.history.db import make_engine


def test_concurrent_first_connections_to_a_new_sqlite_file(tmp_path: Path) -> None:
    errors: list[BaseException] = []
    for round_no in range(40):  # the race lost about one round in sixteen before the retry
        engines = [make_engine(f"sqlite:///{tmp_path / f'h{round_no}.db'}") for _ in range(4)]

        def connect(engine):
            try:
                with engine.connect() as conn:
                    assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=connect, args=(e,)) for e in engines]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        for e in engines:
            e.dispose()
    assert errors == []
