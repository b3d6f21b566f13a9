"""Claims: at most one audit of a tenant per period, across every worker machine.

A claim is one row of ``scale_claims`` in the history database, keyed ``(tenant, period)``::

    queued ──acquire──► running ──complete──► done        (redeliveries of a done claim are no-ops)
                          │  ▲
                 fail ────┘  └── acquire again once the lease has expired (the holder died) or,
                 ▼               for a failed claim, while attempts < max_attempts
               failed

A running claim carries a *lease*: the holder extends it with a heartbeat every few seconds; a worker
that dies stops heart-beating, its lease expires, and the redelivered task takes the claim over. Every
acquisition gets a fresh ``token``; heartbeat, complete and fail only act on the row when the token
still matches, so a holder that lost its claim (a stalled process whose lease expired) can neither
extend nor complete it (fencing).

Acquisition is one conditional ``UPDATE ... WHERE state/lease allows``: PostgreSQL re-checks the
condition on the locked row (READ COMMITTED), SQLite serialises writers, so two workers can never both
win. Times are naive UTC from the injected clock; worker clocks must be NTP-synchronised to well within
the lease (seconds against minutes).
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import (
    Column,
    Connection,
    DateTime,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    and_,
    delete,
    func,
    insert,
    inspect,
    or_,
    select,
    update,
)
from sqlalchemy.exc import DBAPIError, IntegrityError

from auditor.errors import StorageError
from auditor.scale.settings import redact

log = logging.getLogger(__name__)

TABLE_NAME = "scale_claims"
metadata = MetaData()
claims_table = Table(
    TABLE_NAME,
    metadata,
    Column("tenant", String(64), primary_key=True),
    Column("period", String(40), primary_key=True),
    Column("state", String(16), nullable=False),  # queued | running | done | failed
    Column("token", String(32)),
    Column("worker", String(255)),
    Column("attempts", Integer, nullable=False, default=0),
    Column("duplicates", Integer, nullable=False, default=0),
    Column("queued_at", DateTime),
    Column("started_at", DateTime),
    Column("heartbeat_at", DateTime),
    Column("lease_expires", DateTime),
    Column("finished_at", DateTime),
    Column("run_id", String(64)),
    Column("run_status", String(16)),
    Column("error", Text),
)

# One row per dispatched period whose cross-tenant roll-up a worker took on (``take_rollup``): the
# roll-up is written once per period, by the worker that settled the period's last tenant.
ROLLUP_TABLE = "scale_rollups"
rollups_table = Table(
    ROLLUP_TABLE,
    metadata,
    Column("period", String(40), primary_key=True),
    Column("state", String(16), nullable=False),  # running | done | failed
    Column("token", String(32)),
    Column("worker", String(255)),
    Column("attempts", Integer, nullable=False, default=0),
    Column("started_at", DateTime),
    Column("lease_expires", DateTime),
    Column("finished_at", DateTime),
    Column("folder", Text),
    Column("error", Text),
)

Clock = Callable[[], datetime]
OutcomeKind = Literal["acquired", "held", "done", "exhausted"]


def utcnow() -> datetime:
    """Naive UTC now: the form stored in the table on every backend."""
    return datetime.now(UTC).replace(tzinfo=None)


class ClaimLost(StorageError):
    """The claim was taken over by another worker (this holder's lease had expired)."""


@dataclass(frozen=True)
class Claim:
    """A claim this process holds: ``token`` proves it on every later write."""

    tenant: str
    period: str
    token: str
    worker: str
    attempt: int
    noted_run_id: str | None = None  # run id a previous holder was about to record


@dataclass(frozen=True)
class AcquireOutcome:
    """What ``acquire`` found. ``claim`` is set only when ``kind == 'acquired'``."""

    kind: OutcomeKind
    claim: Claim | None = None
    holder: str | None = None
    lease_expires: datetime | None = None
    run_id: str | None = None
    error: str | None = None


class ClaimStore:
    """The claim table in a SQLAlchemy database (SQLite or PostgreSQL)."""

    def __init__(
        self,
        engine: Engine,
        *,
        lease_seconds: float = 300.0,
        max_attempts: int = 3,
        clock: Clock = utcnow,
    ) -> None:
        if lease_seconds <= 0:
            raise ValueError("lease_seconds must be positive")
        self.engine = engine
        self.lease = timedelta(seconds=lease_seconds)
        self.max_attempts = max_attempts
        self.clock = clock

    # -- schema -------------------------------------------------------------------------------------
    def ensure_schema(self) -> None:
        """Create the table when missing; safe when several workers start at once."""
        try:
            # One write transaction (BEGIN IMMEDIATE on SQLite): a deferred one that read the schema and
            # then writes fails at once with "database is locked" when another worker created the table
            # in between, instead of waiting on the busy timeout.
            with self._write() as conn:
                metadata.create_all(conn, tables=[claims_table, rollups_table], checkfirst=True)
        except DBAPIError as exc:
            # Another process created it between our check and our CREATE (PostgreSQL reports a
            # unique violation, SQLite "already exists"): fine if the tables are there now.
            inspector = inspect(self.engine)
            if not (inspector.has_table(TABLE_NAME) and inspector.has_table(ROLLUP_TABLE)):
                raise StorageError(f"Could not create the {TABLE_NAME} table: {redact(str(exc.orig))}.") from exc

    # -- dispatcher side ------------------------------------------------------------------------------
    def register(self, tenant: str, period: str, *, requeue_after: float | None = None) -> bool:
        """Record that (tenant, period) is due. True when a task should be enqueued for it.

        True for a new claim, and for one still ``queued`` since more than ``requeue_after`` seconds
        (its message was lost, e.g. the dispatcher died between the insert and the publish).
        """
        now = self.clock()
        with self._write() as conn:
            if self._insert_queued(conn, tenant, period, now):
                return True
            if requeue_after is None:
                return False
            stale = now - timedelta(seconds=requeue_after)
            res = conn.execute(
                update(claims_table)
                .where(self._key(tenant, period), claims_table.c.state == "queued", claims_table.c.queued_at < stale)
                .values(queued_at=now)
            )
            return res.rowcount == 1

    def unregister(self, tenant: str, period: str) -> None:
        """Forget a claim that was registered but never enqueued (the publish failed)."""
        with self._write() as conn:
            conn.execute(delete(claims_table).where(self._key(tenant, period), claims_table.c.state == "queued"))

    # -- worker side ------------------------------------------------------------------------------------
    def acquire(self, tenant: str, period: str, worker: str) -> AcquireOutcome:
        """Take the claim if nobody live holds it and it is not done."""
        now = self.clock()
        token = uuid.uuid4().hex
        c = claims_table.c
        takeable = or_(
            c.state == "queued",
            and_(c.state == "running", c.lease_expires < now),
            and_(c.state == "failed", c.attempts < self.max_attempts),
        )
        with self._write() as conn:
            self._insert_queued(conn, tenant, period, now)
            res = conn.execute(
                update(claims_table)
                .where(self._key(tenant, period), takeable)
                .values(
                    state="running",
                    token=token,
                    worker=worker[:255],
                    attempts=c.attempts + 1,
                    started_at=now,
                    heartbeat_at=now,
                    lease_expires=now + self.lease,
                    error=None,
                )
            )
            if res.rowcount == 1:
                attempts, noted = conn.execute(select(c.attempts, c.run_id).where(self._key(tenant, period))).one()
                claim = Claim(tenant, period, token, worker, int(attempts), noted)
                return AcquireOutcome("acquired", claim=claim)
            row = conn.execute(select(claims_table).where(self._key(tenant, period))).mappings().one()
            if row["state"] == "done":
                conn.execute(update(claims_table).where(self._key(tenant, period)).values(duplicates=c.duplicates + 1))
                return AcquireOutcome("done", holder=row["worker"], run_id=row["run_id"])
            if row["state"] == "running":
                return AcquireOutcome("held", holder=row["worker"], lease_expires=row["lease_expires"])
            return AcquireOutcome("exhausted", holder=row["worker"], error=row["error"])

    def heartbeat(self, claim: Claim) -> bool:
        """Extend the lease. False when the claim is no longer ours."""
        now = self.clock()
        with self._write() as conn:
            res = conn.execute(
                update(claims_table).where(self._held(claim)).values(heartbeat_at=now, lease_expires=now + self.lease)
            )
            return res.rowcount == 1

    def ensure_held(self, claim: Claim) -> None:
        """Raise ``ClaimLost`` unless the claim is still ours (and extend it): the fencing check."""
        if not self.heartbeat(claim):
            raise ClaimLost(
                f"The claim on tenant {claim.tenant} for period {claim.period} was taken over by another "
                "worker; this run is abandoned."
            )

    def note_run(self, claim: Claim, run_id: str) -> None:
        """Remember the run id about to be recorded (see ``Claim.noted_run_id``)."""
        with self._write() as conn:
            res = conn.execute(update(claims_table).where(self._held(claim)).values(run_id=run_id))
        if res.rowcount != 1:
            raise ClaimLost(f"The claim on tenant {claim.tenant} for period {claim.period} was lost.")

    def release(self, claim: Claim) -> None:
        """Give a claim back untouched (the attempt does not count): someone else must run first."""
        c = claims_table.c
        with self._write() as conn:
            conn.execute(
                update(claims_table)
                .where(self._held(claim))
                .values(state="queued", token=None, lease_expires=None, attempts=c.attempts - 1)
            )

    def complete(self, claim: Claim, *, run_id: str | None, run_status: str | None) -> None:
        now = self.clock()
        with self._write() as conn:
            res = conn.execute(
                update(claims_table)
                .where(self._held(claim))
                .values(
                    state="done", finished_at=now, lease_expires=None, run_id=run_id, run_status=run_status, error=None
                )
            )
        if res.rowcount != 1:
            raise ClaimLost(f"The claim on tenant {claim.tenant} for period {claim.period} was lost before completion.")

    def fail(self, claim: Claim, error: str, *, final: bool = False) -> None:
        """Mark a failed attempt. ``final`` also forbids further attempts in this period."""
        now = self.clock()
        values: dict[str, Any] = {"state": "failed", "finished_at": now, "lease_expires": None, "error": error[:2000]}
        if final:
            values["attempts"] = max(self.max_attempts, claim.attempt)
        with self._write() as conn:
            conn.execute(update(claims_table).where(self._held(claim)).values(**values))

    # -- the period's roll-up ------------------------------------------------------------------------------
    def settled(self, period: str) -> list[dict[str, Any]] | None:
        """The period's claims when every one is settled (done, or failed with no attempt left), else None."""
        rows = self.list(period)
        for row in rows:
            if row["state"] == "done":
                continue
            if row["state"] == "failed" and int(row["attempts"] or 0) >= self.max_attempts:
                continue
            return None
        return rows

    def take_rollup(self, period: str, worker: str) -> str | None:
        """Take on writing the period's roll-up: a token when this worker should write it now; None when it
        is done, being written by a live worker (its lease has not expired) or has failed
        ``max_attempts`` times."""
        now = self.clock()
        token = uuid.uuid4().hex
        c = rollups_table.c
        takeable = or_(
            and_(c.state == "running", or_(c.lease_expires.is_(None), c.lease_expires < now)),
            and_(c.state == "failed", c.attempts < self.max_attempts),
        )
        values = {"state": "running", "token": token, "worker": worker[:255], "started_at": now}
        values["lease_expires"] = now + self.lease
        with self._write() as conn:
            try:
                with conn.begin_nested():
                    conn.execute(insert(rollups_table).values(period=period, attempts=1, **values))
                return token
            except IntegrityError:
                pass
            res = conn.execute(
                update(rollups_table)
                .where(c.period == period, takeable)
                .values(attempts=c.attempts + 1, error=None, **values)
            )
            return token if res.rowcount == 1 else None

    def finish_rollup(self, period: str, token: str, *, folder: str | None = None, error: str | None = None) -> None:
        """Mark the roll-up ``token`` took on as done (or failed, with ``error``)."""
        c = rollups_table.c
        state = "failed" if error else "done"
        with self._write() as conn:
            conn.execute(
                update(rollups_table)
                .where(c.period == period, c.token == token, c.state == "running")
                .values(state=state, finished_at=self.clock(), lease_expires=None, folder=folder, error=error)
            )

    def rollup(self, period: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(rollups_table).where(rollups_table.c.period == period)).mappings().first()
            return dict(row) if row else None

    # -- reading ----------------------------------------------------------------------------------------
    def get(self, tenant: str, period: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(claims_table).where(self._key(tenant, period))).mappings().first()
            return dict(row) if row else None

    def list(self, period: str | None = None) -> list[dict[str, Any]]:
        query = select(claims_table).order_by(claims_table.c.period, claims_table.c.tenant)
        if period is not None:
            query = query.where(claims_table.c.period == period)
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]

    def summary(self, period: str) -> dict[str, int]:
        """Number of claims per state for one period."""
        c = claims_table.c
        with self.engine.connect() as conn:
            rows = conn.execute(select(c.state, func.count()).where(c.period == period).group_by(c.state)).all()
        return {state: int(count) for state, count in rows}

    # -- helpers ----------------------------------------------------------------------------------------
    @contextmanager
    def _write(self) -> Iterator[Connection]:
        """One write transaction; on SQLite it takes the write lock up front (BEGIN IMMEDIATE) when the
        engine comes from ``auditor.history.db.make_engine`` (the option is ignored elsewhere)."""
        with self.engine.connect() as conn:
            conn.execution_options(sqlite_immediate=True)
            with conn.begin():
                yield conn

    @staticmethod
    def _key(tenant: str, period: str) -> Any:
        return and_(claims_table.c.tenant == tenant, claims_table.c.period == period)

    def _held(self, claim: Claim) -> Any:
        c = claims_table.c
        return and_(self._key(claim.tenant, claim.period), c.token == claim.token, c.state == "running")

    def _insert_queued(self, conn: Any, tenant: str, period: str, now: datetime) -> bool:
        """Insert a queued row unless one exists. True when this call inserted it."""
        values = {
            "tenant": tenant,
            "period": period,
            "state": "queued",
            "attempts": 0,
            "duplicates": 0,
            "queued_at": now,
        }
        dialect = conn.dialect.name
        if dialect in ("postgresql", "sqlite"):
            if dialect == "postgresql":
                from sqlalchemy.dialects.postgresql import insert as dialect_insert
            else:
                from sqlalchemy.dialects.sqlite import insert as dialect_insert  # type: ignore[assignment]
            stmt = dialect_insert(claims_table).values(**values).on_conflict_do_nothing()
            # RETURNING, not rowcount: some drivers report -1 for INSERT ... ON CONFLICT.
            return conn.execute(stmt.returning(claims_table.c.tenant)).first() is not None
        exists = conn.execute(select(claims_table.c.state).where(self._key(tenant, period))).first()
        if exists:
            return False
        try:
            with conn.begin_nested():
                conn.execute(insert(claims_table).values(**values))
        except IntegrityError:
            return False
        return True


class Heartbeat:
    """Extend a claim's lease from a daemon thread while a run is in progress.

    ``lost`` becomes set when a heartbeat finds the claim gone; transient database errors are logged
    and retried at the next beat (the lease is several beats long).
    """

    def __init__(self, store: ClaimStore, claim: Claim, interval: float) -> None:
        self.store = store
        self.claim = claim
        self.interval = interval
        self.lost = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"heartbeat-{claim.tenant}", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=self.interval + 5)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                if not self.store.heartbeat(self.claim):
                    self.lost.set()
                    return
            except DBAPIError as exc:
                log.warning("heartbeat for %s failed: %s", self.claim.tenant, type(exc).__name__)
