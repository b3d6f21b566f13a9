"""The history database holds tenant data: it is readable by its owner only."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import pytest

from auditor.history.db import make_engine

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX file modes")


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_new_database_is_created_0600(tmp_path: Path) -> None:
    db = tmp_path / "h.db"
    make_engine(f"sqlite:///{db}").dispose()
    assert _mode(db) == 0o600


def test_existing_world_readable_database_is_made_0600(tmp_path: Path) -> None:
    db = tmp_path / "h.db"
    db.touch()
    os.chmod(db, 0o644)
    make_engine(f"sqlite:///{db}").dispose()
    assert _mode(db) == 0o600
