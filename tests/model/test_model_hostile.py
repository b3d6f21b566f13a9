"""The model over hostile records: duplicates (first wins), null and wrong-type records (skipped, counted),
and — by Hypothesis — any snapshot that loads gives a model and an evaluation, or one SnapshotError."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auditor.config import AuditorConfig
from auditor.engine import evaluate
from auditor.errors import SnapshotError
from auditor.model import build_model
from auditor.rules import REGISTRY
from auditor.snapshot import Snapshot
from auditor.testing import baseline, snapshot_of

CONFIG = AuditorConfig()


def _evaluate(snapshot: Snapshot) -> Any:
    model = build_model(snapshot, CONFIG.classification, CONFIG.legacy_mfa)
    return model, evaluate(model, REGISTRY, CONFIG.rules, CONFIG.waivers, coverage=snapshot.coverage())


def _coverage(result: Any, source: str) -> dict[str, Any]:
    return next(c for c in result.coverage if c["source"] == source)


def test_duplicate_user_first_wins_and_is_counted() -> None:
    records = baseline()
    twin = copy.deepcopy(records["users"][0])
    twin["displayName"] = "Second copy"
    records["users"].append(twin)
    model, result = _evaluate(snapshot_of(records))
    assert len(model.users) == len(records["users"]) - 1
    assert "Second copy" not in set(model.users["display_name"])
    row = _coverage(result, "users")
    assert row["status"] == "collected" and row["items"] == len(records["users"]) - 1
    assert "1 duplicate record ignored" in row["reason"]
    assert result.run.status == "complete"


@pytest.mark.parametrize("bad", [None, "x", 7, ["nested"]])
@pytest.mark.parametrize("source", ["users", "role_assignments", "per_user_mfa", "cas_mailboxes"])
def test_malformed_records_are_skipped_with_a_count(source: str, bad: Any) -> None:
    records = baseline()
    records[source] = [*records[source], bad, bad]
    _, result = _evaluate(snapshot_of(records))
    assert "2 malformed records skipped" in _coverage(result, source)["reason"]


def test_demo_with_duplicated_users_still_evaluates() -> None:
    from auditor.demo import demo_snapshot

    snap = demo_snapshot()
    users = snap.sources["users"].records
    users.extend(copy.deepcopy(users[:5]))
    model, result = _evaluate(snap)
    assert len(model.users) == len(users) - 5
    assert "5 duplicate records ignored" in _coverage(result, "users")["reason"]


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
LIST_SOURCES = sorted(n for n, v in baseline().items() if isinstance(v, list) and v)


@st.composite
def hostile_snapshots(draw: st.DrawFn) -> Snapshot:
    records = baseline()
    for _ in range(draw(st.integers(1, 4))):
        source = draw(st.sampled_from(LIST_SOURCES))
        items = records[source]
        index = draw(st.integers(0, len(items) - 1))
        action = draw(st.sampled_from(["record", "field", "duplicate", "drop_key"]))
        if action == "record":
            items[index] = draw(JSON)
        elif action == "duplicate":
            items.append(copy.deepcopy(items[index]))
        elif isinstance(items[index], dict) and items[index]:
            key = draw(st.sampled_from(sorted(items[index])))
            if action == "field":
                items[index][key] = draw(JSON)
            else:
                del items[index][key]
    snap = snapshot_of(records)
    return Snapshot.from_dict(snap.to_dict())  # only what would load from a file


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hostile_snapshots())
def test_any_loadable_snapshot_gives_a_model_or_one_clear_error(snapshot: Snapshot) -> None:
    try:
        _evaluate(snapshot)
    except SnapshotError as exc:
        assert "\n" not in str(exc) and len(str(exc)) < 400
