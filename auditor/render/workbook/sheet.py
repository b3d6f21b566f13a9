"""A table sheet of the workbook: styled and frozen header row, fitted widths, autofilter, severity colours,
page setup for printing, and Excel's row limit.

Every tenant value goes through ``auditor.render.safe.cell_value`` (cleaned; the writer marks text that
starts like a formula with the quote-prefix style); dates are real Excel dates (naive UTC, as Excel has no
time zones). A table longer than a sheet holds (``Workbook.max_rows``, Excel's 1,048,576 rows) continues on
"Title (2)", "Title (3)", ...: each part repeats the header, and a full part ends with a note row naming the
next one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from auditor.render import xlsx_stream as xs
from auditor.render.safe import cell_value, clean

SEVERITY_FILLS = {"critical": "7B1020", "high": "C0392B", "medium": "D68910", "low": "2E86C1", "info": "717D7E"}
SHEET_TITLE_CHARS = 31


@dataclass(frozen=True)
class Col:
    header: str
    width: float = 14  # a "wrap" column's width; others fit header and content, content up to this width
    kind: str = "text"  # text | severity | wrap (dates are detected from the value)


@dataclass(frozen=True)
class ColumnCheck:
    """Data validation on every data cell of one column (on each part of a split table)."""

    header: str
    type: str  # "list" | "date"
    formula1: str
    operator: str | None = None
    error: str = ""


def part_title(title: str, part: int) -> str:
    """'Users' -> 'Users (2)'; cut so the title stays within Excel's 31 characters."""
    if part == 1:
        return title
    suffix = f" ({part})"
    return title[: SHEET_TITLE_CHARS - len(suffix)].rstrip() + suffix


def rows_per_part(max_rows: int) -> int:
    """Data rows one part holds: the sheet's rows less the header and the continuation note."""
    return max(1, max_rows - 2)


def part_count(rows: int, max_rows: int) -> int:
    return max(1, -(-rows // rows_per_part(max_rows)))


class TableSheet:
    """One table: a header row, then ``append`` one row at a time, then ``finish``."""

    def __init__(
        self,
        wb: xs.Workbook,
        title: str,
        cols: Sequence[Col],
        checks: Sequence[ColumnCheck] = (),
        *,
        freeze_cols: int = 0,
    ) -> None:
        self.wb = wb
        self.title = title
        self.cols = list(cols)
        self.checks = list(checks)
        self.freeze_cols = freeze_cols
        self.rows = 0  # data rows over all parts
        self.part = 1
        self.part_rows = 0
        self._capacity = rows_per_part(wb.max_rows)
        wrap = [xs.WRAP if c.kind == "wrap" else xs.NORMAL for c in self.cols]
        self._styles = wrap if any(wrap) else None
        self._fit = [c.kind != "wrap" for c in self.cols]
        self._open_part()

    def _open_part(self) -> None:
        self.sheet = self.wb.sheet(
            part_title(self.title, self.part), [c.width for c in self.cols], fit=self._fit, freeze_cols=self.freeze_cols
        )
        self.sheet.row([c.header for c in self.cols], xs.HEADER)
        self.part_rows = 0

    def append(self, values: Sequence[Any]) -> None:
        if self.part_rows >= self._capacity:
            self._close_part([], note=part_title(self.title, self.part + 1))
            self.part += 1
            self._open_part()
        self.sheet.row(
            [v if v is None else clean(v) if type(v) is str else cell_value(v) for v in values], self._styles
        )
        self.rows += 1
        self.part_rows += 1

    def column(self, header: str) -> str:
        return xs.col_letter([c.header for c in self.cols].index(header) + 1)

    def _close_part(self, validations: Sequence[xs.Validation], note: str | None = None) -> None:
        sheet = self.sheet
        sheet.autofilter()
        last = self.part_rows + 1
        if self.part_rows:
            for i, col in enumerate(self.cols, start=1):
                if col.kind == "severity":
                    letter = xs.col_letter(i)
                    for dxf, sev in enumerate(SEVERITY_FILLS):
                        sheet.highlight(xs.Highlight(f"{letter}2:{letter}{last}", sev, dxf))
            for check in self.checks:
                letter = self.column(check.header)
                sheet.validate(
                    xs.Validation(f"{letter}2:{letter}{last}", check.type, check.formula1, check.operator, check.error)
                )
            for v in validations:  # given for the whole table: re-based onto this part's rows
                letter = v.sqref.split(":")[0].rstrip("0123456789")
                sheet.validate(xs.Validation(f"{letter}2:{letter}{last}", v.type, v.formula1, v.operator, v.error))
        if note:
            sheet.row(
                [f"Continued on sheet '{note}': Excel holds at most {self.wb.max_rows:,} rows per sheet."],
                xs.WARNING,
            )
        sheet.close()

    def finish(self, validations: Sequence[xs.Validation] = ()) -> None:
        """Close the table. ``validations`` apply to the last part only (declare ``checks`` up front so every
        part of a split table gets them)."""
        self._close_part(validations)


def table_sheet(wb: xs.Workbook, title: str, cols: Sequence[Col], rows: Sequence[Sequence[Any]]) -> None:
    """A whole sheet from rows whose values are in column order."""
    sheet = TableSheet(wb, title, cols)
    for row in rows:
        sheet.append(row)
    sheet.finish()
