"""Tenant text that could disguise itself (bidi overrides, NUL) is shown, not obeyed."""

from __future__ import annotations

from auditor.render.safe import cell_value, neutralise, visible


def test_visible_marks_bidi_overrides_and_nul() -> None:
    assert visible("invoice\u202efdp.exe") == "invoice[U+202E]fdp.exe"
    assert visible("a\x00b") == "a[U+0000]b"
    assert visible("\u2066x\u2069\x1b[2J") == "[U+2066]x[U+2069][U+001B][2J"
    assert visible("line1\nline2\tx") == "line1\nline2\tx"
    assert visible("Ünïcödé שלום") == "Ünïcödé שלום"


def test_spreadsheet_cells_mark_bidi_overrides() -> None:
    assert neutralise("admin\u202egpj.exe") == "admin[U+202E]gpj.exe"
    assert cell_value(["a\u2067b", "c"]) == "a[U+2067]b, c"
