"""The result of one audit: findings, per-rule status, coverage and run metadata.

This is the one view model every renderer, the history store and the e-mail read. Renderers present
it; they never decide findings.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from auditor import __version__

SEVERITIES: tuple[str, ...] = ("critical", "high", "medium", "low", "info")
SEVERITY_RANK = {name: rank for rank, name in enumerate(reversed(SEVERITIES))}  # info=0 … critical=4

Severity = Literal["critical", "high", "medium", "low", "info"]
RuleState = Literal["assessed", "not_assessed", "disabled"]
RunStatus = Literal["complete", "partial", "failed"]
Change = Literal["new", "persisting"]


def at_least(severity: str, threshold: str) -> bool:
    return SEVERITY_RANK[severity] >= SEVERITY_RANK[threshold]


@dataclass(slots=True)
class Finding:
    rule_id: str
    severity: str
    entity_type: str
    entity_id: str
    entity_name: str
    evidence: dict[str, Any]
    title: str = ""
    remediation: str = ""
    status: Literal["open", "waived"] = "open"
    waiver: dict[str, Any] | None = None
    change: Change | None = None
    first_seen: datetime | None = None

    @property
    def fingerprint(self) -> str:
        return f"{self.rule_id}|{self.entity_id}"

    def to_dict(self) -> dict[str, Any]:
        doc = asdict(self)
        doc["first_seen"] = self.first_seen.isoformat() if self.first_seen else None
        return doc


@dataclass(frozen=True)
class Headline:
    """One of the headline risks: a group of rules shown first in every report."""

    key: str
    title: str
    summary: str
    rule_ids: tuple[str, ...]


@dataclass(frozen=True)
class RollUp:
    """A finding that stands for many entities: its evidence ``key`` holds how many (an int), and one fix covers
    them all. Reports show it as a line such as "71,083 mailboxes inherit the organisation's SMTP AUTH setting —
    fix once at the organisation (…)" instead of leaving the count in the evidence.

    ``one`` / ``many`` are the sentence for a count of one / more, with ``{n}`` where the count goes."""

    key: str
    one: str
    many: str
    fix: str

    def text(self, count: int) -> str:
        return (self.one if count == 1 else self.many).replace("{n}", f"{count:,}")


@dataclass
class RuleOutcome:
    """What happened to one rule in one run, with all the rule's metadata the reports need.

    Renderers read rule metadata only from here (never from the rule registry).
    """

    id: str
    title: str
    severity: str
    status: RuleState
    reason: str | None = None
    findings: int = 0
    needs: tuple[str, ...] = ()
    rationale: str = ""
    remediation: str = ""
    detection: str = ""
    escalation: str = ""
    headline: str | None = None  # key of the Headline group the rule belongs to
    sheet: str | None = None  # title of the rule's own workbook sheet, if it has one
    params: dict[str, Any] = field(default_factory=dict)
    references: list[dict[str, Any]] = field(default_factory=list)
    """The controls and pages the rule rests on: ``{framework, id, title, url, relation, note}`` each."""
    rollup: RollUp | None = None  # the rule's findings may stand for many entities (see RollUp)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "status": self.status,
            "reason": self.reason,
            "findings": self.findings,
            "references": [dict(r) for r in self.references],
        }


@dataclass
class RunInfo:
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    started: datetime = field(default_factory=lambda: datetime.now(UTC))
    finished: datetime | None = None
    status: RunStatus = "complete"
    tool_version: str = __version__
    errors: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "started": self.started.isoformat(),
            "finished": (self.finished or self.started).isoformat(),
            "status": self.status,
            "tool_version": self.tool_version,
        }


@dataclass
class AuditResult:
    tenant: dict[str, Any]
    run: RunInfo
    coverage: list[dict[str, Any]]
    rules: list[RuleOutcome]
    findings: list[Finding]
    resolved: list[dict[str, Any]] = field(default_factory=list)
    expired_waivers: list[dict[str, Any]] = field(default_factory=list)
    previous_run_id: str | None = None
    headlines: tuple[Headline, ...] = ()
    migration_plan: Any = None
    """The per-user MFA → Conditional Access migration plan (an ``auditor.plan.MigrationPlan``; typed loosely
    because the plan stage sits above this module). Set by ``run_audit``; None when not computed."""
    previous_plan: Any = None
    """The migration plan recorded for the baseline run (an ``auditor.history.plans.RecordedPlan``), set by
    ``HistoryStore.annotate``; None without history or when the baseline recorded no plan."""

    @property
    def open_findings(self) -> list[Finding]:
        return [f for f in self.findings if f.status == "open"]

    def summary(self) -> dict[str, Any]:
        counts = dict.fromkeys(SEVERITIES, 0)
        waived = 0
        for f in self.findings:
            if f.status == "waived":
                waived += 1
            else:
                counts[f.severity] += 1
        return {"open": counts, "waived": waived}

    def failed_sources(self) -> list[dict[str, Any]]:
        return [c for c in self.coverage if c["status"] == "failed"]

    def not_assessed(self) -> list[RuleOutcome]:
        return [r for r in self.rules if r.status == "not_assessed"]
