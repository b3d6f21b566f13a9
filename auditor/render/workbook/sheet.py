"""A table sheet of the workbook: styled and frozen header row, widths, autofilter, severity colours.

Every tenant value goes through ``auditor.render.safe`` (formula neutralisation); dates are real Excel
dates (naive UTC, as Excel has no time zones).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from auditor.render import xlsx_stream as xs
from auditor.render.safe import cell_value, neutralise

SEVERITY_FILLS = {"critical": "7B1020", "high": "C0392B", "medium": "D68910", "low": "2E86C1", "info": "717D7E"}


@dataclass(frozen=True)
class Col:
    header: str
    width: float = 14
    kind: str = "text"  # text | severity | wrap (dates are detected from the value)


class TableSheet:
    """One table: a header row, then ``append`` one row at a time, then ``finish``."""

    def __init__(self, wb: xs.Workbook, title: str, cols: Sequence[Col], *, freeze_cols: int = 0) -> None:
        self.cols = list(cols)
        self.sheet = wb.sheet(title, [c.width for c in self.cols], freeze_cols=freeze_cols)
        self.sheet.row([c.header for c in self.cols], xs.HEADER)
        self.rows = 0
        wrap = [xs.WRAP if c.kind == "wrap" else xs.NORMAL for c in self.cols]
        self._styles = wrap if any(wrap) else None

    def append(self, values: Sequence[Any]) -> None:
        self.sheet.row(
            [v if v is None else neutralise(v) if type(v) is str else cell_value(v) for v in values], self._styles
        )
        self.rows += 1

    def column(self, header: str) -> str:
        return xs.col_letter([c.header for c in self.cols].index(header) + 1)

    def finish(self, validations: Sequence[xs.Validation] = ()) -> None:
        self.sheet.autofilter()
        for i, col in enumerate(self.cols, start=1):
            if col.kind == "severity" and self.rows:
                letter = xs.col_letter(i)
                for dxf, sev in enumerate(SEVERITY_FILLS):
                    self.sheet.highlight(xs.Highlight(f"{letter}2:{letter}{self.rows + 1}", sev, dxf))
        for v in validations:
            self.sheet.validate(v)
        self.sheet.close()


def table_sheet(wb: xs.Workbook, title: str, cols: Sequence[Col], rows: Sequence[Sequence[Any]]) -> None:
    """A whole sheet from rows whose values are in column order."""
    sheet = TableSheet(wb, title, cols)
    for row in rows:
        sheet.append(row)
    sheet.finish()
