"""Read the reviewer columns back from an edited report.xlsx.

The workbook has been through someone's hands (or mailbox), so it is untrusted input:

* size caps before anything is parsed: the file, and each part of the zip that is read (a zip bomb stops
  with an error, not with the memory of the host);
* only sheets whose header row holds ``Rule``, ``Entity ID`` and the reviewer columns are read, and of
  them only those columns (plus Entity / Entity type for waiver drafts);
* formulas are never evaluated: a formula in a reviewer cell is ignored with a warning naming the cell;
* text is capped in length and a Decision must be one of ``DECISIONS``; whatever is carried forward is
  written into the next workbook through the same formula neutralisation as every tenant value.

Every problem names the file, the sheet and the cell. Problems with single cells are warnings (the rest of
the workbook still counts); a file that is not a workbook of this tool raises ``ReviewError``.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from auditor.errors import AuditorError
from auditor.findings import DECISIONS, Review
from auditor.render.safe import FORMULA_PREFIXES

MAX_FILE_BYTES = 512 * 1024 * 1024
MAX_PART_BYTES = 2 * 1024 * 1024 * 1024  # one uncompressed part (a sheet's XML)
MAX_SHARED_BYTES = 512 * 1024 * 1024  # the shared strings are held in memory whole
MAX_OWNER_CHARS = 256
MAX_NOTES_CHARS = 4000
REVIEWER = ("Owner", "Decision", "Due date", "Notes")
KEYS = ("Rule", "Entity ID")
_DECISIONS = {d.lower(): d for d in DECISIONS}
_BAD: Any = object()  # an unreadable cell (warned about): neither a value nor an emptied cell


class ReviewError(AuditorError):
    """An edited workbook that cannot be read (exit 2: give a report.xlsx of this tool)."""

    exit_code = 2


@dataclass(frozen=True)
class ReviewRow:
    """One finding's reviewer cells in one sheet row (``where``: ``'Sheet'!A5``, for messages)."""

    rule_id: str
    entity_id: str
    entity_name: str
    entity_type: str
    review: Review
    where: str
    ignored: frozenset[str] = frozenset()
    """Reviewer fields whose cell could not be read (a formula, no date, an unknown decision): no edit."""

    @property
    def fingerprint(self) -> str:
        return f"{self.rule_id}|{self.entity_id}"


@dataclass
class ReviewedWorkbook:
    path: Path
    rows: list[ReviewRow] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    tenant: str | None = None
    sheets: list[str] = field(default_factory=list)


def _col(index: int) -> str:
    out = ""
    while index:
        index, rem = divmod(index - 1, 26)
        out = chr(65 + rem) + out
    return out


def _check_zip(path: Path) -> None:
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise ReviewError(f"Cannot read {path}: {exc.strerror or exc}.") from exc
    if size > MAX_FILE_BYTES:
        raise ReviewError(
            f"{path} is {size // 2**20} MiB; a review workbook over {MAX_FILE_BYTES // 2**20} MiB is refused."
        )
    try:
        with zipfile.ZipFile(path) as zf:
            for info in zf.infolist():
                cap = MAX_SHARED_BYTES if info.filename.endswith("sharedStrings.xml") else MAX_PART_BYTES
                if info.file_size > cap:
                    raise ReviewError(
                        f"{path}: part {info.filename} unpacks to {info.file_size // 2**20} MiB (limit "
                        f"{cap // 2**20} MiB); refused."
                    )
    except zipfile.BadZipFile as exc:
        raise ReviewError(f"{path} is not an .xlsx workbook (not a zip file).") from exc


def read_reviews(path: Path | str) -> ReviewedWorkbook:
    """The reviewer rows of every findings sheet of ``path`` (Findings first, then the per-rule sheets)."""
    import openpyxl

    path = Path(path)
    _check_zip(path)
    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=False, keep_links=False)
    except Exception as exc:  # openpyxl raises many types for a broken file
        raise ReviewError(f"{path} cannot be read as a workbook ({type(exc).__name__}).") from exc
    out = ReviewedWorkbook(path)
    try:
        for ws in wb.worksheets:
            if ws.title == "Summary":
                out.tenant = _summary_tenant(ws)
                continue
            rows = ws.iter_rows()
            header = [c.value if isinstance(c.value, str) else None for c in next(rows, ())]
            if not all(k in header for k in (*KEYS, *REVIEWER)):
                continue
            out.sheets.append(ws.title)
            index = {name: header.index(name) for name in header if name}
            for number, cells in enumerate(rows, start=2):
                row = _row(out, ws.title, number, cells, index)
                if row is not None:
                    out.rows.append(row)
    except ReviewError:
        raise
    except Exception as exc:
        raise ReviewError(f"{path} cannot be read as a workbook ({type(exc).__name__}: {exc}).") from exc
    finally:
        wb.close()
    if not out.sheets:
        raise ReviewError(
            f"{path} has no sheet with the columns Rule, Entity ID, Owner, Decision, Due date and Notes; "
            "is it a report.xlsx of entra-auditor?"
        )
    return out


def _summary_tenant(ws: Any) -> str | None:
    for cells in ws.iter_rows(max_row=12, max_col=2, values_only=True):
        if len(cells) == 2 and cells[0] == "Tenant" and isinstance(cells[1], str):
            return cells[1].strip()[:MAX_OWNER_CHARS] or None
    return None


def _row(out: ReviewedWorkbook, sheet: str, number: int, cells: Any, index: dict[str, int]) -> ReviewRow | None:
    cells = tuple(cells)

    def cell(name: str) -> tuple[Any, str]:
        i = index[name]
        where = f"'{sheet}'!{_col(i + 1)}{number}"
        if i >= len(cells):
            return None, where
        c = cells[i]
        if getattr(c, "data_type", None) == "f":
            out.warnings.append(f"{out.path}: {where} holds a formula; formulas are not read, the cell is ignored.")
            return _BAD, where
        return c.value, where

    rule, _ = cell("Rule")
    entity_id, _ = cell("Entity ID")
    if not isinstance(rule, str) or not rule.strip() or not isinstance(entity_id, str | int) or entity_id == "":
        return None
    values = {
        "owner": _text(out, *cell("Owner"), MAX_OWNER_CHARS),
        "decision": _decision(out, *cell("Decision")),
        "due": _due(out, *cell("Due date")),
        "notes": _text(out, *cell("Notes"), MAX_NOTES_CHARS),
    }
    ignored = frozenset(k for k, v in values.items() if v is _BAD)
    clean = {k: (None if v is _BAD else v) for k, v in values.items()}
    name = cell("Entity")[0] if "Entity" in index else None
    kind = cell("Entity type")[0] if "Entity type" in index else None
    return ReviewRow(
        rule.strip()[:MAX_OWNER_CHARS],
        str(entity_id).strip()[:MAX_OWNER_CHARS],
        unneutralised(name.strip())[:MAX_OWNER_CHARS] if isinstance(name, str) else "",
        kind.strip()[:40] if isinstance(kind, str) else "",
        Review(**clean),
        f"'{sheet}'!row {number}",
        ignored,
    )


def unneutralised(text: str) -> str:
    """Text as typed: the apostrophe the writer puts before a formula-like value (``'=x``) taken off again,
    so a value read back and written again stays the same (the writer adds it anew)."""
    return text[1:] if text[:1] == "'" and text[1:2] in FORMULA_PREFIXES else text


def _text(out: ReviewedWorkbook, value: Any, where: str, limit: int) -> Any:
    if value is None or value is _BAD:
        return value
    text = value.isoformat() if isinstance(value, date) else str(value)
    text = unneutralised(text.strip())
    if len(text) > limit:
        out.warnings.append(f"{out.path}: {where} is longer than {limit} characters; kept the first {limit}.")
        text = text[:limit]
    return text or None


def _decision(out: ReviewedWorkbook, value: Any, where: str) -> Any:
    if value is None or value is _BAD or (isinstance(value, str) and not value.strip()):
        return None if value is not _BAD else _BAD
    decision = _DECISIONS.get(str(value).strip().lower())
    if decision is None:
        out.warnings.append(
            f"{out.path}: {where}: Decision {str(value)[:40]!r} is not one of {', '.join(DECISIONS)}; ignored."
        )
        return _BAD
    return decision


def _due(out: ReviewedWorkbook, value: Any, where: str) -> Any:
    if value is None or value is _BAD or (isinstance(value, str) and not value.strip()):
        return None if value is not _BAD else _BAD
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip().lstrip("'")[:10])
        except ValueError:
            pass
    out.warnings.append(f"{out.path}: {where}: Due date {str(value)[:40]!r} is not a date (YYYY-MM-DD); ignored.")
    return _BAD


def merged(rows: list[ReviewRow], current: Review) -> Iterator[tuple[str, Any]]:
    """Per reviewer field, the first value among ``rows`` (one finding on several sheets, Findings first)
    that differs from ``current``: the edit; fields nobody changed keep ``current``'s value."""
    for name in ("owner", "decision", "due", "notes"):
        now = getattr(current, name)
        edits = [getattr(r.review, name) for r in rows if name not in r.ignored and getattr(r.review, name) != now]
        yield name, edits[0] if edits else now
