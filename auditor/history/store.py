"""The history store: runs and findings in SQLite or PostgreSQL, drift against the previous run,
retention and the per-tenant lock.

Baseline: a run is compared with the previous **complete** run of the same tenant. Partial and failed
runs are recorded (and listed) but never become a baseline. See ``auditor.history.diff`` for how rules
that were not assessed are kept out of "resolved".
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, delete, func, insert, select, text
from sqlalchemy.exc import SQLAlchemyError

from auditor.errors import StorageError, UsageError
from auditor.findings import SEVERITIES
from auditor.history import diff as drift
from auditor.history.db import make_engine, parse_url, safe_url
from auditor.history.diff import DiffItem
from auditor.history.locks import DEFAULT_TTL_SECONDS, TenantLocks
from auditor.history.models import VERSION_TABLE, findings, plan_users, runs
from auditor.history.orphans import orphan_folders
from auditor.history.plans import RecordedPlan, plan_summary, plan_user_rows, recorded_plan
from auditor.history.rows import RunDiff, RunRow
from auditor.history.trend import TrendPoint, recent_open_counts

if TYPE_CHECKING:
    from auditor.findings import AuditResult

_CHUNK = 500
_MIGRATION_LOCK_KEY = 0x45A0D17  # pg_advisory_xact_lock key shared by every migrating process


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class HistoryStore:
    """History of runs for one database URL (``sqlite:///path`` or ``postgresql+psycopg://...``).

    The schema is migrated lazily on first use (``migrate()`` may also be called explicitly).
    ``clock`` (aware UTC ``now``) is injectable for tests. Database failures raise ``StorageError``
    with one sentence naming the database (password masked).
    """

    def __init__(self, url: str, *, clock: Callable[[], datetime] | None = None) -> None:
        self.url = parse_url(url)
        self.display_url = safe_url(self.url)
        self._clock = clock or _utcnow
        self._engine: Engine | None = None
        self._migrated = False

    # -- plumbing ---------------------------------------------------------------------------------
    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = make_engine(self.url)
        return self._engine

    def new_engine(self) -> Engine:
        """A separate engine with the same settings (e.g. for the scheduler's job store)."""
        return make_engine(self.url)

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    def __enter__(self) -> HistoryStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _errors(self, action: str) -> Iterator[None]:
        try:
            yield
        except SQLAlchemyError as exc:
            detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
            raise StorageError(f"Could not {action} the history database {self.display_url} ({detail}).") from exc

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        """One write transaction (BEGIN IMMEDIATE on SQLite)."""
        self._ensure_schema()
        with self.engine.connect() as conn:
            conn.execution_options(sqlite_immediate=True)
            with conn.begin():
                yield conn

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        self._ensure_schema()
        with self.engine.connect() as conn:
            yield conn

    def _ensure_schema(self) -> None:
        if not self._migrated:
            self.migrate()

    # -- migrations -------------------------------------------------------------------------------
    def migrate(self, revision: str = "head") -> None:
        """Upgrade the schema to ``revision`` (Alembic). Idempotent; concurrent callers serialise on a
        database lock (PostgreSQL advisory lock, SQLite write lock) and the DDL is transactional."""
        from alembic import command
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
        with self._errors("migrate"), self.engine.connect() as conn:
            conn.execution_options(sqlite_immediate=True)
            with conn.begin():
                if conn.dialect.name == "postgresql":
                    conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _MIGRATION_LOCK_KEY})
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, revision)
        self._migrated = revision == "head"

    def current_revision(self) -> str | None:
        with self._errors("read"), self.engine.connect() as conn:
            if not conn.dialect.has_table(conn, VERSION_TABLE):
                return None
            return conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar()  # noqa: S608

    # -- runs ---------------------------------------------------------------------------------------
    def last_complete_run(self, tenant: str, *, exclude: str | None = None) -> RunRow | None:
        with self._errors("read"), self._read() as conn:
            row = self._last_complete(conn, tenant, exclude)
        return _run_row(row) if row else None

    def list_runs(self, tenant: str | None = None, limit: int = 50) -> list[RunRow]:
        """Newest first, with counts."""
        query = select(runs).order_by(runs.c.started.desc(), runs.c.recorded_at.desc()).limit(limit)
        if tenant is not None:
            query = query.where(runs.c.tenant == tenant)
        with self._errors("read"), self._read() as conn:
            return [_run_row(r) for r in conn.execute(query).mappings()]

    def trend(self, tenant: str, limit: int, *, exclude: str | None = None) -> list[TrendPoint]:
        """Open findings per severity of the tenant's newest ``limit`` recorded runs (not ``exclude``),
        oldest first (``auditor.history.trend``)."""
        with self._errors("read"), self._read() as conn:
            return recent_open_counts(conn, tenant, limit, exclude=exclude)

    def get_run(self, run_id: str) -> RunRow:
        """A run by id or unique id prefix; ``UsageError`` when unknown or ambiguous."""
        with self._errors("read"), self._read() as conn:
            return _run_row(self._resolve(conn, run_id))

    def annotate(self, result: AuditResult) -> None:
        """Set ``change``/``first_seen`` on each finding, ``result.resolved``, ``previous_run_id`` and
        ``previous_plan`` (the baseline's recorded migration plan), compared with the previous complete run of
        the same tenant."""
        tenant = _tenant_name(result)
        with self._errors("read"), self._read() as conn:
            base = self._last_complete(conn, tenant, result.run.id)
            base_items, base_first = self._items(conn, base["id"]) if base else ([], {})
            seen_since = self._seen_since(conn, tenant, base["started"] if base else None, result.run.id)
            unassessed = {
                f.rule_id for f in result.findings if base and not drift.rule_assessed(base["rules"], f.rule_id)
            }
            earlier = self._last_assessed_first_seen(conn, tenant, base, unassessed) if unassessed else {}
            previous_plan = self._recorded_plan(conn, base) if base else None
        started = _aware(result.run.started)
        for finding in result.findings:
            fp = finding.fingerprint
            if fp in base_first:
                finding.change = "persisting"
                finding.first_seen = base_first[fp]
            elif fp in earlier:  # its rule was disabled / not assessed in the baseline: open since then
                finding.change = "persisting"
                finding.first_seen = earlier[fp]
            else:
                finding.change = "new"
                finding.first_seen = min(seen_since.get(fp, started), started)
        current = [DiffItem(f.rule_id, f.entity_id, f.entity_name, f.entity_type, f.severity) for f in result.findings]
        rules = {r.id: r.status for r in result.rules}
        result.resolved = [item.to_dict() for item in drift.compare(base_items, current, rules).resolved]
        result.previous_run_id = base["id"] if base else None
        result.previous_plan = previous_plan

    def record(self, result: AuditResult, report_dir: Path | None = None) -> RunRow:
        """Store the run and all its findings in ONE transaction (a crash leaves no run behind).
        Call ``annotate`` first so changes and first-seen dates are stored too."""
        run_row = _run_values(result, report_dir, self._clock())
        started = run_row["started"]
        rows = [
            {
                "run_id": run_row["id"],
                "fingerprint": f.fingerprint,
                "rule_id": f.rule_id,
                "entity_type": f.entity_type,
                "entity_id": f.entity_id,
                "entity_name": f.entity_name,
                "severity": f.severity,
                "status": f.status,
                "change": f.change,
                "evidence": f.evidence,
                "first_seen": f.first_seen or started,
            }
            for f in result.findings
        ]
        planned = plan_user_rows(run_row["id"], result.migration_plan)
        with self._errors("write to"), self._write() as conn:
            conn.execute(insert(runs), [run_row])
            for start in range(0, len(rows), 20_000):
                conn.execute(insert(findings), rows[start : start + 20_000])
            for start in range(0, len(planned), 20_000):
                conn.execute(insert(plan_users), planned[start : start + 20_000])
        return _run_row(run_row)

    def diff(self, run_a: str, run_b: str) -> RunDiff:
        """Findings of ``run_b`` against ``run_a`` (ids or unique prefixes) of the same tenant."""
        with self._errors("read"), self._read() as conn:
            a, b = self._resolve(conn, run_a), self._resolve(conn, run_b)
            if a["tenant"] != b["tenant"]:
                raise UsageError(
                    f"Runs {a['id']} ({a['tenant']}) and {b['id']} ({b['tenant']}) belong to different tenants."
                )
            items_a, _ = self._items(conn, a["id"])
            items_b, _ = self._items(conn, b["id"])
        result = drift.compare(items_a, items_b, b["rules"], before_rules=a["rules"])
        return RunDiff(_run_row(a), _run_row(b), result.new, result.resolved, result.persisting, result.unknown)

    def prune(self, tenant: str, keep_runs: int) -> list[Path]:
        """Delete all but the newest ``keep_runs`` runs of ``tenant`` and their report folders.
        The newest complete run is always kept (it is the next run's baseline). Returns the folders
        removed. Rows go first (one transaction), folders after: a failure never leaves a run whose
        report is gone."""
        if keep_runs < 1:
            raise UsageError("keep_runs must be at least 1.")
        with self._errors("prune"), self._write() as conn:
            listed = conn.execute(
                select(runs.c.id, runs.c.status, runs.c.report_dir)
                .where(runs.c.tenant == tenant)
                .order_by(runs.c.started.desc(), runs.c.recorded_at.desc())
            ).all()
            keep = {r.id for r in listed[:keep_runs]}
            baseline = next((r.id for r in listed if r.status == "complete"), None)
            if baseline:
                keep.add(baseline)
            doomed = [r for r in listed if r.id not in keep]
            ids = [r.id for r in doomed]
            for start in range(0, len(ids), _CHUNK):
                chunk = ids[start : start + _CHUNK]
                conn.execute(delete(findings).where(findings.c.run_id.in_(chunk)))
                conn.execute(delete(plan_users).where(plan_users.c.run_id.in_(chunk)))
                conn.execute(delete(runs).where(runs.c.id.in_(chunk)))
        kept_dirs = {Path(r.report_dir).resolve() for r in listed if r.id in keep and r.report_dir}
        removed: list[Path] = []
        for r in doomed:
            if r.report_dir and _remove_report_dir(Path(r.report_dir), kept_dirs):
                removed.append(Path(r.report_dir))
        # leftovers of killed or unrecorded runs in the tenant's folders (history does not know them)
        tenant_dirs = {Path(r.report_dir).parent for r in listed if r.report_dir}
        for orphan in orphan_folders(tenant_dirs, kept_dirs):
            if _remove_report_dir(orphan, kept_dirs):
                removed.append(orphan)
        return removed

    def plan_of(self, run_id: str) -> RecordedPlan | None:
        """The migration plan recorded for a run (id or unique prefix); None when it recorded none."""
        with self._errors("read"), self._read() as conn:
            return self._recorded_plan(conn, self._resolve(conn, run_id))

    # -- locks --------------------------------------------------------------------------------------
    def tenant_lock(
        self, tenant: str, owner: str, ttl_seconds: float = DEFAULT_TTL_SECONDS
    ) -> AbstractContextManager[None]:
        """Hold the tenant's run lock; raises ``TenantBusy`` when another live holder has it."""
        self._ensure_schema()
        return _guarded(self, TenantLocks(self.engine, self._clock).hold(tenant, owner, ttl_seconds))

    def lock_holder(self, tenant: str) -> dict[str, Any] | None:
        self._ensure_schema()
        with self._errors("read"):
            return TenantLocks(self.engine, self._clock).holder(tenant)

    # -- queries ------------------------------------------------------------------------------------
    def _last_complete(self, conn: Connection, tenant: str, exclude: str | None) -> Any:
        query = (
            select(runs)
            .where(runs.c.tenant == tenant, runs.c.status == "complete")
            .order_by(runs.c.started.desc(), runs.c.recorded_at.desc())
            .limit(1)
        )
        if exclude:
            query = query.where(runs.c.id != exclude)
        return conn.execute(query).mappings().first()

    def _recorded_plan(self, conn: Connection, run: Any) -> RecordedPlan | None:
        summary = run.get("plan")
        if not isinstance(summary, dict):
            return None
        query = select(plan_users.c.user_id, plan_users.c.upn).where(plan_users.c.run_id == run["id"])
        users = {str(uid): str(upn) for uid, upn in conn.execute(query)}
        return recorded_plan(run["id"], _aware(run["started"]), summary, users)

    def _items(self, conn: Connection, run_id: str) -> tuple[list[DiffItem], dict[str, datetime]]:
        cols = (
            findings.c.rule_id,
            findings.c.entity_id,
            findings.c.entity_name,
            findings.c.entity_type,
            findings.c.severity,
            findings.c.first_seen,
        )
        items, first = [], {}
        for row in conn.execute(select(*cols).where(findings.c.run_id == run_id)):
            item = DiffItem(row[0], row[1], row[2], row[3], row[4])
            items.append(item)
            first[item.fingerprint] = row[5]
        return items, first

    def _last_assessed_first_seen(
        self, conn: Connection, tenant: str, base: Any, rule_ids: set[str]
    ) -> dict[str, datetime]:
        """first_seen per fingerprint of ``rule_ids``' findings in the newest complete run before ``base``
        that assessed each rule (a rule disabled or not assessed in the baseline is looked up further
        back, so re-enabling it does not reset its findings' first-seen dates). A finding absent from
        that run was resolved then and is new again."""
        older = conn.execute(
            select(runs.c.id, runs.c.rules)
            .where(runs.c.tenant == tenant, runs.c.status == "complete", runs.c.started < base["started"])
            .order_by(runs.c.started.desc(), runs.c.recorded_at.desc())
        )
        pending, source_run = set(rule_ids), {}
        for run_id, rules in older:
            for rule_id in [r for r in pending if drift.rule_assessed(rules, r)]:
                source_run[rule_id] = run_id
                pending.discard(rule_id)
            if not pending:
                break
        out: dict[str, datetime] = {}
        for run_id in set(source_run.values()):
            wanted = [r for r, rid in source_run.items() if rid == run_id]
            query = select(findings.c.fingerprint, findings.c.first_seen).where(
                findings.c.run_id == run_id, findings.c.rule_id.in_(wanted)
            )
            out.update({fp: _aware(seen) for fp, seen in conn.execute(query) if seen is not None})
        return out

    def _seen_since(self, conn: Connection, tenant: str, since: datetime | None, exclude: str) -> dict[str, datetime]:
        """Earliest first_seen per fingerprint in partial runs newer than the baseline."""
        partial = select(runs.c.id).where(runs.c.tenant == tenant, runs.c.status == "partial", runs.c.id != exclude)
        if since is not None:
            partial = partial.where(runs.c.started > since)
        query = (
            select(findings.c.fingerprint, func.min(findings.c.first_seen))
            .where(findings.c.run_id.in_(partial.scalar_subquery()))
            .group_by(findings.c.fingerprint)
        )
        return {fp: _aware(seen) for fp, seen in conn.execute(query) if seen is not None}

    def _resolve(self, conn: Connection, run_id: str) -> Any:
        run_id = run_id.strip()
        if not run_id:
            raise UsageError("A run id is required.")
        exact = conn.execute(select(runs).where(runs.c.id == run_id)).mappings().first()
        if exact:
            return exact
        escaped = run_id.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        matches = conn.execute(select(runs).where(runs.c.id.like(f"{escaped}%", escape="\\")).limit(2)).mappings().all()
        if not matches:
            raise UsageError(f"No run with id {run_id!r} in the history database {self.display_url}.")
        if len(matches) > 1:
            raise UsageError(f"Run id prefix {run_id!r} is ambiguous; give more characters.")
        return matches[0]


@contextmanager
def _guarded(store: HistoryStore, inner: AbstractContextManager[None]) -> Iterator[None]:
    with store._errors("lock a tenant in"):
        inner.__enter__()
    try:
        yield
    except BaseException as exc:
        if not inner.__exit__(type(exc), exc, exc.__traceback__):
            raise
    else:
        with store._errors("unlock a tenant in"):
            inner.__exit__(None, None, None)


def _tenant_name(result: AuditResult) -> str:
    tenant = result.tenant or {}
    return str(tenant.get("name") or tenant.get("tenant_id") or "tenant")


def _counts(result: AuditResult) -> dict[str, Any]:
    summary = result.summary()
    return {
        "open": {sev: summary["open"].get(sev, 0) for sev in SEVERITIES},
        "waived": summary["waived"],
        "total": len(result.findings),
        "new": sum(1 for f in result.findings if f.change == "new"),
        "persisting": sum(1 for f in result.findings if f.change == "persisting"),
        "resolved": len(result.resolved),
        "not_assessed": sum(1 for r in result.rules if r.status == "not_assessed"),
        "failed_sources": sum(1 for c in result.coverage if c.get("status") == "failed"),
    }


def _run_values(result: AuditResult, report_dir: Path | None, now: datetime) -> dict[str, Any]:
    return {
        "id": result.run.id,
        "tenant": _tenant_name(result),
        "tenant_id": str((result.tenant or {}).get("tenant_id") or ""),
        "started": _aware(result.run.started),
        "finished": _aware(result.run.finished) if result.run.finished else None,
        "recorded_at": now,
        "status": result.run.status,
        "tool_version": result.run.tool_version,
        "coverage": list(result.coverage),
        "counts": _counts(result),
        "previous_run_id": result.previous_run_id,
        "report_dir": str(report_dir) if report_dir is not None else None,
        "rules": {r.id: r.status for r in result.rules},
        "errors": list(result.run.errors),
        "plan": plan_summary(result.migration_plan),
    }


def _run_row(row: Any) -> RunRow:
    return RunRow(
        id=row["id"],
        tenant=row["tenant"],
        tenant_id=row["tenant_id"],
        started=row["started"],
        finished=row["finished"],
        status=row["status"],
        tool_version=row["tool_version"],
        counts=dict(row["counts"] or {}),
        coverage=list(row["coverage"] or []),
        rules=dict(row["rules"]) if row.get("rules") is not None else None,
        previous_run_id=row["previous_run_id"],
        report_dir=Path(row["report_dir"]) if row["report_dir"] else None,
        errors=list(row.get("errors") or []),
        plan=dict(row["plan"]) if isinstance(row.get("plan"), dict) else None,
    )


def _remove_report_dir(path: Path, kept: set[Path]) -> bool:
    """Remove one run's report folder; never a symlink, the root, home, or a kept run's ancestor."""
    if path.is_symlink() or not path.is_dir():
        return False
    real = path.resolve()
    if real in (Path("/"), Path.home()) or len(real.parts) < 3:
        return False
    if any(real == k or real in k.parents for k in kept):
        return False
    shutil.rmtree(real)
    return True
