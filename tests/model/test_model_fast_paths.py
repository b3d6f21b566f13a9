"""The model's fast paths for the common case (records one per user, in order; no duplicates; every mailbox
with a known object id) give exactly what the general, record-by-record paths give (issue 8 benchmarks)."""

from __future__ import annotations

import copy
from datetime import UTC, datetime

import pandas as pd
import pytest

from auditor.config import AuditorConfig
from auditor.engine import evaluate
from auditor.model import build_model
from auditor.model import records as records_module
from auditor.model.auth_methods import add_method_columns
from auditor.model.users import build_users
from auditor.rules import REGISTRY
from auditor.sim.tenant_gen import generate_tenant
from auditor.snapshot import Snapshot

NOW = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def snapshot() -> Snapshot:
    return generate_tenant(1500, seed=3, now=NOW)


def _findings(snapshot: Snapshot) -> list[tuple[str, str, str, str]]:
    config = AuditorConfig()
    model = build_model(snapshot, config.classification, config.legacy_mfa)
    result = evaluate(model, REGISTRY, config.rules, config.waivers, coverage=snapshot.coverage(), now=NOW)
    return sorted((f.rule_id, f.entity_id, f.severity, repr(sorted(f.evidence.items()))) for f in result.findings)


def test_users_table_is_the_same_whatever_the_order_of_the_joined_records(snapshot: Snapshot) -> None:
    users = snapshot.records("users")
    mfa, registration = snapshot.records("per_user_mfa"), snapshot.records("registration_details")
    aligned = build_users(users, mfa, registration)
    shuffled = build_users(users, list(reversed(mfa)), list(reversed(registration)))
    pd.testing.assert_frame_equal(aligned, shuffled)
    assert aligned["per_user_mfa"].notna().any() and aligned["mfa_registered"].notna().any()  # the join did join


def test_method_columns_are_the_same_whatever_the_order_of_the_raw_users(snapshot: Snapshot) -> None:
    raw = snapshot.records("users")
    users = build_users(raw, None, None)
    required = [[] for _ in range(len(users))]
    aligned = add_method_columns(users, raw, None, required)
    shuffled = add_method_columns(users, list(reversed(raw)), None, required)
    pd.testing.assert_frame_equal(aligned, shuffled)
    assert aligned["licensed"].any() and aligned["last_interactive"].notna().any()


def test_findings_are_the_same_when_every_source_takes_the_record_by_record_path(
    snapshot: Snapshot, monkeypatch: pytest.MonkeyPatch
) -> None:
    fast = _findings(copy.deepcopy(snapshot))
    slow_snapshot = copy.deepcopy(snapshot)
    for name in ("per_user_mfa", "registration_details"):  # the joins by id instead of by position
        slow_snapshot.sources[name].records = list(reversed(slow_snapshot.sources[name].records))
    for box in slow_snapshot.sources["cas_mailboxes"].records[::7]:  # joined by address instead of object id
        box["ExternalDirectoryObjectId"] = None
    monkeypatch.setattr(records_module, "_all_distinct", lambda records: False)  # dedup record by record
    assert _findings(slow_snapshot) == fast
    assert len(fast) > 50


def test_distinct_check_agrees_with_the_record_by_record_dedup() -> None:
    graph = [{"id": "a"}, {"id": "b"}]
    exchange = [{"Guid": "G-1"}, {"Guid": "g-2"}]
    assert records_module._all_distinct(graph) and records_module._all_distinct(exchange)
    assert records_module._all_distinct([])
    assert not records_module._all_distinct([{"id": "a"}, {"id": "a"}])
    assert not records_module._all_distinct([{"Guid": "G-1"}, {"Guid": "g-1"}])  # ids compare case-insensitively
    assert not records_module._all_distinct([{"id": "a"}, {"Guid": "b"}])  # mixed kinds: record by record
    assert not records_module._all_distinct([{"id": "a"}, None])  # malformed
    assert not records_module._all_distinct([{"id": ""}, {"id": "b"}])
