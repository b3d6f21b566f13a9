"""The streaming writer freezes leading columns as well as the header row (the reviewer columns of the
findings sheets stay in view while scrolling right through evidence)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import openpyxl

from auditor.render import xlsx_stream as xs


def test_frozen_columns_and_header_row(tmp_path: Path) -> None:
    path = tmp_path / "f.xlsx"
    with path.open("wb") as fh, xs.Workbook(fh) as wb:
        for title, kwargs in (("cols", {"freeze_cols": 7}), ("rows", {}), ("none", {"freeze": False})):
            sheet = wb.sheet(title, [10] * 9, **kwargs)
            sheet.row([f"h{i}" for i in range(9)], xs.HEADER)
            sheet.row(list(range(9)))
            sheet.close()
    book = openpyxl.load_workbook(path)
    assert book["cols"].freeze_panes == "H2"
    assert book["rows"].freeze_panes == "A2"
    assert book["none"].freeze_panes is None
    with zipfile.ZipFile(path) as zf:
        xml = zf.read("xl/worksheets/sheet1.xml").decode()
    assert '<pane xSplit="7" ySplit="1" topLeftCell="H2" activePane="bottomRight" state="frozen"/>' in xml
