"""``entra-auditor waivers import report.xlsx``: "Accept risk" rows of a reviewed workbook as waiver drafts.

A row becomes a waiver entry (``auditor.config.Waiver``: rule, entity, reason, approved_by, expires,
tenant) when its Decision is "Accept risk" and it has a reason (Notes), an approver (Owner) and an expiry
(Due date, not in the past); every other "Accept risk" row is reported with what it lacks. The result is
YAML for a person to review and copy under ``waivers:``: the live configuration is never edited.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

import yaml

from auditor.config import Waiver
from auditor.findings import Review
from auditor.review.workbook import ReviewedWorkbook, ReviewRow, merged

ACCEPT = "Accept risk"


@dataclass
class Drafts:
    waivers: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def _entity(row: ReviewRow) -> str:
    """``*`` for a tenant-level finding, else the name (UPN, CIDR, ...) or, without one, the object id."""
    if row.entity_type == "tenant":
        return "*"
    return row.entity_name or row.entity_id


def waiver_drafts(read: ReviewedWorkbook, today: date) -> Drafts:
    """The waiver entries of the "Accept risk" rows (one per finding, Findings sheet first)."""
    by_fp: dict[str, list[ReviewRow]] = {}
    for row in read.rows:
        by_fp.setdefault(row.fingerprint, []).append(row)
    out = Drafts()
    for rows in by_fp.values():
        review = Review(**dict(merged(rows, Review())))
        if review.decision != ACCEPT:
            continue
        row = rows[0]
        lacks = [
            what
            for what, missing in (
                ("a reason in Notes", not review.notes),
                ("an approver in Owner", not review.owner),
                ("an expiry in Due date", review.due is None),
            )
            if missing
        ]
        if review.due is not None and review.due < today:
            lacks.append(f"a Due date that is not past ({review.due.isoformat()})")
        if lacks:
            out.skipped.append(f"{read.path}: {row.where} ({row.rule_id}, {row.entity_id}): needs {', '.join(lacks)}")
            continue
        doc: dict[str, Any] = {
            "rule": row.rule_id,
            "entity": _entity(row),
            "reason": review.notes,
            "approved_by": review.owner,
            "expires": review.due,
        }
        if read.tenant:
            doc["tenant"] = read.tenant
        Waiver.model_validate(doc)  # loadable as it stands
        out.waivers.append(doc)
    return out


def drafts_yaml(drafts: Drafts, source: str, today: date) -> str:
    """The draft file: a comment saying where it came from and what to do with it, then ``waivers:``."""
    name = "".join(ch for ch in source if ch.isprintable())[:200]
    head = (
        f"# Waiver drafts from the 'Accept risk' rows of {name} ({today.isoformat()}).\n"
        "# Review each entry, then copy it under 'waivers:' in the configuration; nothing was changed there.\n"
    )
    body = yaml.safe_dump({"waivers": drafts.waivers}, sort_keys=False, allow_unicode=True, width=120)
    return head + body
