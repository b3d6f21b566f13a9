"""Fixtures for the history tests: result builders, a SQLite URL and a fresh PostgreSQL database."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from services import fresh_postgres_database

from auditor.findings import AuditResult, Finding, RuleOutcome, RunInfo

T0 = datetime(2026, 1, 5, 7, 0, tzinfo=UTC)  # a Monday 07:00


def finding(rule: str, entity: str, severity: str = "high", **kw: Any) -> Finding:
    return Finding(
        rule_id=rule,
        severity=severity,
        entity_type=kw.pop("entity_type", "user"),
        entity_id=entity,
        entity_name=kw.pop("name", f"{entity}@contoso.com"),
        evidence=kw.pop("evidence", {"why": entity}),
        **kw,
    )


def result(
    findings: list[Finding],
    *,
    tenant: str = "contoso",
    started: datetime = T0,
    status: str = "complete",
    rules: dict[str, str] | None = None,
    run_id: str | None = None,
) -> AuditResult:
    """An AuditResult; every rule that has a finding is 'assessed' unless ``rules`` says otherwise."""
    statuses = {f.rule_id: "assessed" for f in findings}
    statuses.update(rules or {})
    outcomes = [RuleOutcome(id=r, title=r, severity="high", status=s) for r, s in statuses.items()]
    run = RunInfo(started=started, finished=started + timedelta(minutes=3), status=status)
    if run_id:
        run.id = run_id
    return AuditResult(
        tenant={"name": tenant, "tenant_id": f"{tenant}-id"},
        run=run,
        coverage=[{"source": "users", "status": "collected", "items": 1, "reason": None}],
        rules=outcomes,
        findings=findings,
    )


@pytest.fixture
def make_result() -> Callable[..., AuditResult]:
    return result


@pytest.fixture
def make_finding() -> Callable[..., Finding]:
    return finding


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'db' / 'history.db'}"


@pytest.fixture
def pg_fresh_url(postgres_url: str) -> Iterator[str]:
    """A new, empty PostgreSQL database for this test, dropped afterwards."""
    with fresh_postgres_database(postgres_url, prefix="entra_hist") as url:
        yield url
