"""End-of-run notes on waivers that did nothing: expired ones, and ones that matched no finding."""

from __future__ import annotations

from collections.abc import Sequence

from auditor.config import Waiver
from auditor.findings import AuditResult


def waiver_warnings(waivers: Sequence[Waiver], results: Sequence[AuditResult]) -> list[str]:
    """One sentence per waiver that expired (in any tenant's run) or matched no finding in any of ``results``."""
    if not results:
        return []
    lines: list[str] = []
    for waiver in waivers:
        key = (waiver.rule, waiver.entity)
        expired = [w for r in results for w in r.expired_waivers if (w.get("rule"), w.get("entity")) == key]
        label = f"waiver {waiver.rule} / {waiver.entity}"
        if expired:
            reopened = sum(int(w.get("matched_findings") or 0) for w in expired)
            lines.append(
                f"{label} expired on {waiver.expires}; it no longer applies ({reopened} finding(s) open again)."
            )
            continue
        used = any(
            f.waiver and (f.waiver.get("rule"), f.waiver.get("entity")) == key for r in results for f in r.findings
        )
        if not used:
            lines.append(f"{label} matched no finding in this run; remove it or check its entity.")
    return lines
