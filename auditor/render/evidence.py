"""Evidence as readable text: the one place that turns evidence values into strings for every report."""

from __future__ import annotations

import re
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


# Evidence keys that carry an API's own negated flag, shown the positive way round in the workbook
# ("SMTP AUTH: Enabled", never "SmtpClientAuthenticationDisabled: no").
NEGATED_FLAGS = {"SmtpClientAuthenticationDisabled": "SMTP AUTH"}
_ACRONYMS = {"mfa": "MFA", "ca": "CA", "ip": "IP", "ips": "IPs", "smtp": "SMTP", "imap": "IMAP", "pop": "POP"}
_ACRONYMS |= {"id": "ID", "upn": "UPN", "sms": "SMS", "oauth": "OAuth", "cas": "CAS", "url": "URL", "pim": "PIM"}


def evidence_label(key: str) -> str:
    """An evidence key as a column header: ``per_user_mfa`` -> ``Per-user MFA``, ``mfa_registered`` ->
    ``MFA registered``; a negated API flag by what it controls (``SMTP AUTH``)."""
    if key in NEGATED_FLAGS:
        return NEGATED_FLAGS[key]
    if "_" not in key and not key.islower():
        return key  # already a name (an API property or a label)
    words = [_ACRONYMS.get(w, w) for w in key.split("_") if w]
    text = " ".join(words).replace("per user", "per-user").replace("sign in", "sign-in")
    return text[:1].upper() + text[1:]


_ISO = re.compile(r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})?)?")


def evidence_cell(key: str, value: Any) -> Any:
    """One evidence value as a workbook cell: booleans as Yes/No, a negated flag as Enabled/Disabled (None:
    inherited from the organisation), an ISO date or timestamp as a date, everything else as
    :func:`fmt_value` text."""
    if key in NEGATED_FLAGS and (value is None or isinstance(value, bool)):
        return "Inherited" if value is None else "Disabled" if value else "Enabled"
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, str) and _ISO.fullmatch(value):
        try:
            return date.fromisoformat(value) if len(value) == 10 else datetime.fromisoformat(value)
        except ValueError:
            return value
    return fmt_value(value)
