"""Snapshot format: round trip, atomic owner-only writes, clear errors for bad files."""

from __future__ import annotations

import gzip
import json
import stat
from pathlib import Path

import pytest

from auditor.errors import SnapshotError
from auditor.snapshot import load, save
from auditor.testing import baseline, snapshot_of


def test_round_trip_keeps_raw_records_and_coverage(tmp_path: Path) -> None:
    snap = snapshot_of(baseline(), failed={"sign_ins": "403 Authorization_RequestDenied (AuditLog.Read.All)"})
    path = save(snap, tmp_path / "s.json.gz")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    back = load(path)
    assert back.records("users") == snap.records("users")
    assert back.collected_at == snap.collected_at
    coverage = {c["source"]: c for c in back.coverage()}
    assert coverage["sign_ins"]["status"] == "failed"
    assert "AuditLog.Read.All" in coverage["sign_ins"]["reason"]
    assert coverage["users"] == {"source": "users", "status": "collected", "items": 5, "reason": None}
    assert list(tmp_path.iterdir()) == [path]  # no temp file left behind


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"not gzip at all", "corrupt or not gzip"),
        (gzip.compress(b"{truncated"), "does not hold valid JSON"),
        (gzip.compress(json.dumps({"hello": 1}).encode()), "not an Entra Auditor snapshot"),
        (gzip.compress(json.dumps({"format": "entra-auditor/snapshot", "version": 99}).encode()), "version 99"),
        (
            gzip.compress(json.dumps({"format": "entra-auditor/snapshot", "version": 1, "sources": {}}).encode()),
            "malformed",
        ),
        (
            gzip.compress(
                b'{"format":"entra-auditor/snapshot","version":1,"collected_at":"2026-01-01T00:00:00Z",'
                b'"sources":{"users":{"status":"weird"}}}'
            ),
            "invalid status",
        ),
    ],
)
def test_bad_snapshots_are_rejected_clearly(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "bad.json.gz"
    path.write_bytes(content)
    with pytest.raises(SnapshotError, match=message):
        load(path)


def test_truncated_gzip_is_rejected(tmp_path: Path) -> None:
    good = save(snapshot_of(baseline()), tmp_path / "good.json.gz")
    cut = tmp_path / "cut.json.gz"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(SnapshotError, match="corrupt"):
        load(cut)


def test_missing_file() -> None:
    with pytest.raises(SnapshotError, match="does not exist"):
        load("/nonexistent.json.gz")
