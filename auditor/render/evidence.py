"""Evidence as readable text: the one place that turns evidence values into strings for every report."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

SUMMARY_CHARS = 300


def thousands(value: Any) -> str:
    """A count with thousands separators (73327 -> "73,327"); anything else (text, None, bool) as it is."""
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return "" if value is None else str(value)


def fmt_value(value: Any) -> str:
    """Readable text for one evidence value (lists joined, dates as ISO, None as empty, counts as 73,327)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M UTC") if value.tzinfo else value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return "; ".join(f"{k}: {fmt_value(v)}" for k, v in value.items())
    if isinstance(value, list | tuple | set | frozenset):
        parts = [fmt_value(v) for v in value]
        sep = " | " if any(isinstance(v, dict) for v in value) else ", "
        return sep.join(p for p in parts if p)
    return str(value)


def flatten_evidence(evidence: dict[str, Any] | None, prefix: str = "") -> list[tuple[str, str]]:
    """Evidence as (label, text) pairs; nested objects become dotted labels."""
    out: list[tuple[str, str]] = []
    for key, value in (evidence or {}).items():
        label = f"{prefix}{key}"
        if isinstance(value, dict) and value and len(value) <= 8:
            out.extend(flatten_evidence(value, prefix=f"{label}."))
        else:
            out.append((label, fmt_value(value)))
    return out


def evidence_summary(evidence: dict[str, Any] | None, limit: int = SUMMARY_CHARS) -> str:
    """All evidence on one line, cut at ``limit`` characters."""
    text = "; ".join(f"{k}: {v}" for k, v in flatten_evidence(evidence) if v != "")
    return text if len(text) <= limit else text[: limit - 1] + "…"
