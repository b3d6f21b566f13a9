"""Plain records the history store returns: runs with their counts, and run-to-run diffs."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from auditor.history.diff import DiffItem


@dataclass
class RunRow:
    """One recorded run. ``counts`` holds ``open`` (per severity), ``waived``, ``total``, ``new``,
    ``persisting``, ``resolved``, ``not_assessed`` (rules) and ``failed_sources``; ``plan`` the migration
    plan's summary (``auditor.history.plans``)."""

    id: str
    tenant: str
    tenant_id: str
    started: datetime
    finished: datetime | None
    status: str
    tool_version: str
    counts: dict[str, Any]
    coverage: list[dict[str, Any]] = field(default_factory=list)
    rules: dict[str, str] | None = None
    previous_run_id: str | None = None
    report_dir: Path | None = None
    errors: list[str] = field(default_factory=list)
    plan: dict[str, Any] | None = None  # the migration plan's {status, total, waves}; None: none recorded

    @property
    def open_total(self) -> int:
        return sum(int(v) for v in (self.counts.get("open") or {}).values())


@dataclass
class RunDiff:
    """``run_b`` compared with ``run_a`` (a is the older baseline).

    ``unknown`` lists findings that cannot be compared because their rule was not assessed in one of
    the two runs (a failed data source): they are neither new nor resolved.
    """

    run_a: RunRow
    run_b: RunRow
    new: list[DiffItem]
    resolved: list[DiffItem]
    persisting: list[DiffItem]
    unknown: list[DiffItem] = field(default_factory=list)
