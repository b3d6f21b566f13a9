"""Read the reviewer columns back from an edited report.xlsx.

The workbook has been through someone's hands (or mailbox), so it is untrusted input:

* size caps before anything is parsed: the file, and each part of the zip (a zip bomb stops with an
  error, not with the memory of the host); parsed by ``auditor.review.xlsx_read`` (streaming, expat);
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
from auditor.gcpause import gc_paused
from auditor.render.safe import FORMULA_PREFIXES
from auditor.render.xlsx_stream import col_letter
from auditor.review.xlsx_read import Cell, XlsxReader

MAX_FILE_BYTES = 512 * 1024 * 1024
MAX_PART_BYTES = 2 * 1024 * 1024 * 1024  # one uncompressed part (a sheet's XML)
MAX_SHARED_BYTES = 512 * 1024 * 1024  # the shared strings are held in memory whole
MAX_META_BYTES = 64 * 1024 * 1024  # workbook.xml, styles.xml, relationships: parsed whole
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


def _cap(name: str) -> int:
    if name.startswith("xl/worksheets/"):
        return MAX_PART_BYTES
    return MAX_SHARED_BYTES if name.endswith("sharedStrings.xml") else MAX_META_BYTES


def _open_zip(path: Path) -> zipfile.ZipFile:
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise ReviewError(f"Cannot read {path}: {exc.strerror or exc}.") from exc
    if size > MAX_FILE_BYTES:
        raise ReviewError(
            f"{path} is {size // 2**20} MiB; a review workbook over {MAX_FILE_BYTES // 2**20} MiB is refused."
        )
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise ReviewError(f"{path} is not an .xlsx workbook (not a zip file).") from exc
    for info in zf.infolist():  # the reader never takes more than a part's stated size (zipfile stops there)
        cap = _cap(info.filename)
        if info.file_size > cap:
            zf.close()
            raise ReviewError(
                f"{path}: part {info.filename} unpacks to {info.file_size // 2**20} MiB (limit "
                f"{cap // 2**20} MiB); refused."
            )
    return zf


def read_reviews(path: Path | str) -> ReviewedWorkbook:
    """The reviewer rows of every findings sheet of ``path`` (Findings first, then the per-rule sheets)."""
    path = Path(path)
    out = ReviewedWorkbook(path)
    with _open_zip(path) as zf, gc_paused():  # a row's elements are freed as read; nothing forms a cycle
        try:
            reader = XlsxReader(zf)
            for title in reader.titles:
                _sheet(out, reader, title)
        except ReviewError:
            raise
        except Exception as exc:  # broken XML, bad numbers, missing parts: one sentence naming the file
            raise ReviewError(f"{path} cannot be read as a workbook ({type(exc).__name__}: {exc}).") from exc
    if not out.sheets:
        raise ReviewError(
            f"{path} has no sheet with the columns Rule, Entity ID, Owner, Decision, Due date and Notes; "
            "is it a report.xlsx of entra-auditor?"
        )
    return out


def _sheet(out: ReviewedWorkbook, reader: XlsxReader, title: str) -> None:
    wanted: set[int] = set()
    rows = reader.rows(title, wanted)
    first = next(rows, None)
    if first is None:
        return
    header = {c.value: i for i, c in sorted(first[1].items(), reverse=True) if isinstance(c.value, str)}
    if title == "Summary":
        wanted.update((1, 2))
        out.tenant = _summary_tenant(rows)
        return
    if not all(k in header for k in (*KEYS, *REVIEWER)):
        return
    out.sheets.append(title)
    index = {name: header[name] for name in (*KEYS, *REVIEWER, "Entity", "Entity type") if name in header}
    wanted.update(index.values())
    for number, cells in rows:
        row = _row(out, title, number, cells, index)
        if row is not None:
            out.rows.append(row)


def _summary_tenant(rows: Iterator[tuple[int, dict[int, Cell]]]) -> str | None:
    for number, cells in rows:
        if number > 12:
            break
        key, value = cells.get(1), cells.get(2)
        if key is not None and key.value == "Tenant" and value is not None and isinstance(value.value, str):
            return unneutralised(value.value.strip())[:MAX_OWNER_CHARS] or None
    return None


def _row(
    out: ReviewedWorkbook, sheet: str, number: int, cells: dict[int, Cell], index: dict[str, int]
) -> ReviewRow | None:
    def cell(name: str) -> tuple[Any, str]:
        i = index[name]
        where = f"'{sheet}'!{col_letter(i)}{number}"
        c = cells.get(i)
        if c is None:
            return None, where
        if c.formula:
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
