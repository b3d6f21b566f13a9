"""The claim table on real SQLite and PostgreSQL databases."""

from __future__ import annotations

import threading
from datetime import datetime

import pytest
from scale_fixtures import FakeClock
from services import fresh_postgres_database
from sqlalchemy import inspect

from auditor.history.db import make_engine
from auditor.scale.claims import ClaimLost, ClaimStore, Heartbeat


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'history.db'}"
        return
    postgres_url = request.getfixturevalue("postgres_url")
    with fresh_postgres_database(postgres_url) as url:
        yield url


@pytest.fixture
def clock():
    return FakeClock(datetime(2026, 11, 23, 7, 0, 0))


@pytest.fixture
def store(db_url, clock):
    engine = make_engine(db_url)
    s = ClaimStore(engine, lease_seconds=60, max_attempts=3, clock=clock)
    s.ensure_schema()
    yield s
    engine.dispose()


def test_schema_is_created_idempotently(store):
    store.ensure_schema()
    store.ensure_schema()
    assert "scale_claims" in inspect(store.engine).get_table_names()


def test_second_worker_cannot_take_a_live_claim(store):
    first = store.acquire("contoso", "P1", "w1:1")
    assert first.kind == "acquired" and first.claim.attempt == 1
    second = store.acquire("contoso", "P1", "w2:2")
    assert second.kind == "held"
    assert second.holder == "w1:1"
    assert second.lease_expires == store.clock() + store.lease
    # Another tenant or another period is independent.
    assert store.acquire("fabrikam", "P1", "w2:2").kind == "acquired"
    assert store.acquire("contoso", "P2", "w2:2").kind == "acquired"


def test_expired_lease_is_taken_over_and_the_old_holder_is_fenced(store, clock):
    old = store.acquire("contoso", "P1", "w1:1").claim
    clock.advance(30)
    assert store.heartbeat(old)  # alive: the lease moves to now + 60 s
    clock.advance(59)
    assert store.acquire("contoso", "P1", "w2:2").kind == "held"
    clock.advance(2)  # the holder stopped beating 61 s ago: dead
    new = store.acquire("contoso", "P1", "w2:2")
    assert new.kind == "acquired" and new.claim.attempt == 2
    # The stalled first holder wakes up: it can neither extend, record nor complete.
    assert not store.heartbeat(old)
    with pytest.raises(ClaimLost, match="contoso"):
        store.ensure_held(old)
    with pytest.raises(ClaimLost):
        store.complete(old, run_id="r-old", run_status="complete")
    store.complete(new.claim, run_id="r-new", run_status="complete")
    row = store.get("contoso", "P1")
    assert (row["state"], row["run_id"], row["attempts"], row["worker"]) == ("done", "r-new", 2, "w2:2")


def test_done_claim_makes_redeliveries_no_ops(store, clock):
    claim = store.acquire("contoso", "P1", "w1:1").claim
    store.complete(claim, run_id="run-1", run_status="partial")
    clock.advance(3600)
    for _ in range(3):
        again = store.acquire("contoso", "P1", "w2:2")
        assert again.kind == "done" and again.run_id == "run-1"
    row = store.get("contoso", "P1")
    assert row["duplicates"] == 3 and row["attempts"] == 1 and row["run_status"] == "partial"


def test_failed_claim_is_retried_until_attempts_run_out(store):
    for attempt in (1, 2, 3):
        found = store.acquire("contoso", "P1", f"w{attempt}:1")
        assert found.kind == "acquired" and found.claim.attempt == attempt
        store.fail(found.claim, "StorageError: database is locked")
    exhausted = store.acquire("contoso", "P1", "w4:1")
    assert exhausted.kind == "exhausted" and "locked" in exhausted.error


def test_final_failure_stops_at_once(store):
    claim = store.acquire("contoso", "P1", "w1:1").claim
    store.fail(claim, "config: unknown tenant", final=True)
    assert store.acquire("contoso", "P1", "w2:1").kind == "exhausted"


def test_register_enqueues_once_and_requeues_only_stale_queued_claims(store, clock):
    assert store.register("contoso", "P1") is True
    assert store.register("contoso", "P1") is False
    assert store.register("contoso", "P1", requeue_after=600) is False
    clock.advance(601)
    assert store.register("contoso", "P1", requeue_after=600) is True  # message presumed lost
    store.acquire("contoso", "P1", "w1:1")
    clock.advance(10_000)
    assert store.register("contoso", "P1", requeue_after=600) is False  # started: never requeued
    store.unregister("contoso", "P1")  # only queued rows can be forgotten
    assert store.get("contoso", "P1")["state"] == "running"
    assert store.summary("P1") == {"running": 1}


def test_concurrent_acquires_have_exactly_one_winner(db_url):
    """Eight threads with their own connections race for one claim, several rounds."""
    engine = make_engine(db_url)
    store = ClaimStore(engine, lease_seconds=60)
    store.ensure_schema()
    for round_ in range(5):
        barrier = threading.Barrier(8)
        kinds: list[str] = []
        lock = threading.Lock()

        def race(i, round_=round_, barrier=barrier, kinds=kinds, lock=lock):
            barrier.wait()
            kind = store.acquire("contoso", f"R{round_}", f"w{i}:1").kind
            with lock:
                kinds.append(kind)

        threads = [threading.Thread(target=race, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert sorted(kinds) == ["acquired"] + ["held"] * 7
    engine.dispose()


def test_concurrent_schema_creation(db_url):
    engines = [make_engine(db_url) for _ in range(4)]
    errors: list[BaseException] = []

    def create(engine):
        try:
            ClaimStore(engine).ensure_schema()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=create, args=(e,)) for e in engines]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    for e in engines:
        e.dispose()


def test_heartbeat_thread_keeps_the_lease_and_notices_loss(db_url):
    engine = make_engine(db_url)
    store = ClaimStore(engine, lease_seconds=60)
    store.ensure_schema()
    claim = store.acquire("contoso", "P1", "w1:1").claim
    before = store.get("contoso", "P1")["lease_expires"]
    beat = threading.Event()
    original = store.heartbeat

    def spy(c):
        ok = original(c)
        beat.set()
        return ok

    store.heartbeat = spy
    with Heartbeat(store, claim, interval=0.05) as hb:
        assert beat.wait(10)
        assert not hb.lost.is_set()
    assert store.get("contoso", "P1")["lease_expires"] >= before
    store.complete(claim, run_id="r", run_status="complete")
    with Heartbeat(store, claim, interval=0.05) as hb:
        assert hb.lost.wait(10)  # the claim is done: no longer held
    engine.dispose()
