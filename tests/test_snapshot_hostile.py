"""Hostile snapshot files: one SnapshotError sentence (exit 2), never a traceback.

Hypothesis feeds arbitrary JSON documents (and mutations of a valid one) to the loader: the only
outcomes allowed are a ``Snapshot`` or one ``SnapshotError``.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auditor.errors import SnapshotError
from auditor.snapshot import FORMAT, VERSION, Snapshot, load

GOOD: dict[str, Any] = {
    "format": FORMAT,
    "version": VERSION,
    "tenant": {"name": "t", "tenant_id": "x"},
    "collected_at": "2026-01-05T07:00:00+00:00",
    "tool_version": "0",
    "window_days": 30,
    "sources": {
        "users": {"status": "collected", "reason": None, "items": 1, "records": [{"id": "u1"}]},
        "security_defaults": {"status": "collected", "reason": None, "items": 1, "records": {"isEnabled": True}},
    },
}


def _file(tmp_path: Path, raw: bytes) -> Path:
    path = tmp_path / "s.json.gz"
    path.write_bytes(gzip.compress(raw))
    return path


def _doc(**changes: Any) -> bytes:
    doc = json.loads(json.dumps(GOOD))
    for key, value in changes.items():
        doc[key] = value
    return json.dumps(doc).encode()


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b'{"a":' * 100_000 + b"1" + b"}" * 100_000, "nested too deeply"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (_doc(window_days=1e400), "not a finite number"),
        (_doc().replace(b'"window_days": 30', b'"window_days": NaN'), "not a finite number"),
        (_doc().replace(b'"window_days": 30', b'"window_days": -Infinity'), "not a finite number"),
        (_doc(window_days="thirty"), "window_days"),
        (_doc(window_days=-4), "window_days"),
        (_doc(tenant=["a"]), "tenant"),
        (_doc(tenant="contoso"), "tenant"),
        (_doc(sources=["users"]), "sources"),
        (_doc(sources={"users": "collected"}), "users"),
        (_doc(sources={"users": {"status": "collected", "items": 1, "records": "u1"}}), "must be a list"),
        (_doc(sources={"users": {"status": "collected", "items": 1, "records": {"id": "u1"}}}), "must be a list"),
        (_doc(sources={"security_defaults": {"status": "collected", "records": [1, 2]}}), "must be an object"),
        (_doc(sources={"users": {"status": "collected", "items": 1e300, "records": []}}), "items"),
        (_doc(sources={"users": {"status": "failed", "reason": {"x": 1}}}), "reason"),
        (_doc(collected_at=12), "collected_at"),
        (_doc(collected_at="2026-13-45T00:00:00"), "collected_at"),
    ],
)
def test_hostile_snapshot_is_one_sentence(tmp_path: Path, raw: bytes, message: str) -> None:
    path = _file(tmp_path, raw)
    with pytest.raises(SnapshotError) as err:
        load(path)
    text = str(err.value)
    assert message in text
    assert str(path) in text
    assert "\n" not in text and len(text) < 600


def test_good_document_still_loads(tmp_path: Path) -> None:
    snap = load(_file(tmp_path, _doc()))
    assert snap.records("users") == [{"id": "u1"}]
    assert snap.records("security_defaults") == {"isEnabled": True}


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=25,
)
_HYPO = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _only_snapshot_or_error(doc: Any) -> None:
    try:
        snap = Snapshot.from_dict(doc, origin="fuzz")
    except SnapshotError as exc:
        assert str(exc).startswith("fuzz")
    else:
        assert isinstance(snap, Snapshot)
        snap.coverage()


@_HYPO
@given(_json)
def test_any_json_is_a_snapshot_or_one_error(doc: Any) -> None:
    _only_snapshot_or_error(doc)


@_HYPO
@given(st.sampled_from(["tenant", "collected_at", "window_days", "tool_version", "sources"]), _json)
def test_any_top_level_field_value_is_a_snapshot_or_one_error(key: str, value: Any) -> None:
    doc = json.loads(json.dumps(GOOD))
    doc[key] = value
    _only_snapshot_or_error(doc)


@_HYPO
@given(
    st.sampled_from(["users", "security_defaults", "unknown_source"]),
    st.sampled_from(["status", "reason", "items", "records"]),
    _json,
)
def test_any_source_field_value_is_a_snapshot_or_one_error(source: str, key: str, value: Any) -> None:
    doc = json.loads(json.dumps(GOOD))
    doc["sources"].setdefault(source, {"status": "collected", "records": []})[key] = value
    _only_snapshot_or_error(doc)
