"""A minimal streaming .xlsx reader for the reviewer columns: the counterpart of ``render.xlsx_stream``.

Why not openpyxl: its read-only mode builds an object per cell and parses every sheet once just to find
its size; reading back the findings sheets of a 100,000-finding workbook took minutes. This reader parses
sheet XML as a stream (expat; a part that declares a DTD is refused, so no entity is ever expanded),
converts only the cells of the columns asked for, and forgets each row once read: memory stays flat.

It understands what Excel, LibreOffice and ``xlsx_stream`` write: shared strings, inline strings, numbers,
booleans, ISO dates (``t="d"``), numbers in a date format (1900 and 1904 date systems), formula results.
A formula is never evaluated: its cell is reported as a formula and its cached result ignored.
"""

from __future__ import annotations

import posixpath
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import IO, Any
from xml.etree.ElementTree import Element, XMLPullParser

_REL_ID = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"
_BUILTIN_DATES = frozenset({*range(14, 23), *range(45, 48)})
_QUOTED = re.compile(r'"[^"]*"|\[[^\]]*\]|\\.')
_EPOCH_1900 = datetime(1899, 12, 30)
_EPOCH_1904 = datetime(1904, 1, 1)


@dataclass(frozen=True, slots=True)
class Cell:
    value: Any
    formula: bool = False


def _events(fh: IO[bytes]) -> Iterator[tuple[str, Element]]:
    """``iterparse(fh, ("start", "end"))`` that refuses a DTD: no entity is ever declared or expanded (no
    "billion laughs", no external entity). A DTD can only sit in the prolog, before the first element, so
    the bytes are checked until the parser has seen one; a part must be UTF-8 (as Excel writes it), so the
    check sees the markup as it is."""
    parser: XMLPullParser[Element] = XMLPullParser(events=("start", "end"))
    prolog, tail, first = True, b"", True
    while chunk := fh.read(1 << 16):
        if first:
            first = False
            if chunk[:2] in (b"\xff\xfe", b"\xfe\xff") or b"\x00" in chunk[:4]:
                raise ValueError("a workbook part is not UTF-8; refused")
        if prolog:
            window = tail + chunk
            if b"<!DOCTYPE" in window or b"<!ENTITY" in window:
                raise ValueError("a workbook part declares a DTD; refused")
            tail = window[-16:]
        parser.feed(chunk)
        for item in parser.read_events():
            prolog = False
            yield item  # type: ignore[misc]
    parser.close()
    yield from parser.read_events()  # type: ignore[misc]


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _col_index(ref: str) -> int:
    """'AB12' -> 28 (1-based)."""
    n = 0
    for ch in ref:
        if "A" <= ch <= "Z":
            n = n * 26 + ord(ch) - 64
        else:
            break
    return n


def _text(el: Element) -> str:
    """The text of a string item (``si`` or ``is``): its ``t`` runs, without phonetic (``rPh``) runs."""
    parts = []
    for child in el:
        name = _local(child.tag)
        if name == "t":
            parts.append(child.text or "")
        elif name == "r":
            parts.extend(t.text or "" for t in child if _local(t.tag) == "t")
    return "".join(parts)


def _is_date_format(code: str) -> bool:
    return any(ch in "dmy" for ch in _QUOTED.sub("", code).lower())


class XlsxReader:
    """``with XlsxReader(zf) as r: for title in r.titles: for number, cells in r.rows(title): ...``."""

    def __init__(self, zf: zipfile.ZipFile) -> None:
        self.zf = zf
        self.sheets: dict[str, str] = {}
        self._shared: list[str] | None = None
        self._shared_path = "xl/sharedStrings.xml"
        self._date_styles: frozenset[int] = frozenset()
        self._epoch = _EPOCH_1900
        self._read_workbook()
        self._read_styles()

    @property
    def titles(self) -> list[str]:
        return list(self.sheets)

    def _parse(self, name: str) -> Element | None:
        if name not in self.zf.namelist():
            return None
        with self.zf.open(name) as fh:
            root: Element | None = None
            for _event, el in _events(fh):
                root = el
            return root

    def _read_workbook(self) -> None:
        targets: dict[str, str] = {}
        rels = self._parse("xl/_rels/workbook.xml.rels")
        for rel in rels if rels is not None else ():
            target = rel.get("Target") or ""
            path = target.lstrip("/") if target.startswith("/") else posixpath.normpath(f"xl/{target}")
            targets[rel.get("Id") or ""] = path
            if (rel.get("Type") or "").endswith("/sharedStrings"):
                self._shared_path = path
        book = self._parse("xl/workbook.xml")
        if book is None:
            raise ValueError("no xl/workbook.xml")
        for el in book.iter():
            name = _local(el.tag)
            if name == "workbookPr" and el.get("date1904") in ("1", "true"):
                self._epoch = _EPOCH_1904
            elif name == "sheet":
                part = targets.get(el.get(_REL_ID) or "")
                if part:
                    self.sheets[el.get("name") or ""] = part

    def _read_styles(self) -> None:
        styles = self._parse("xl/styles.xml")
        if styles is None:
            return
        custom: dict[int, str] = {}
        dates: set[int] = set()
        for el in styles.iter():
            if _local(el.tag) == "numFmt":
                custom[int(el.get("numFmtId") or 0)] = el.get("formatCode") or ""
        for section in styles:
            if _local(section.tag) != "cellXfs":
                continue
            for index, xf in enumerate(section):
                fmt = int(xf.get("numFmtId") or 0)
                if fmt in _BUILTIN_DATES or (fmt in custom and _is_date_format(custom[fmt])):
                    dates.add(index)
        self._date_styles = frozenset(dates)

    def _strings(self) -> list[str]:
        if self._shared is None:
            self._shared = []
            if self._shared_path in self.zf.namelist():
                with self.zf.open(self._shared_path) as fh:
                    for event, el in _events(fh):
                        if event == "end" and _local(el.tag) == "si":
                            self._shared.append(_text(el))
                            el.clear()
        return self._shared

    def rows(self, title: str, columns: set[int] | None = None) -> Iterator[tuple[int, dict[int, Cell]]]:
        """(row number, {column index (1-based): Cell}) for each row of the sheet. With ``columns``, rows after
        the first hold only those columns (the set may be filled after reading the header row)."""
        with self.zf.open(self.sheets[title]) as fh:
            yield from self._rows(fh, columns)

    def _rows(self, fh: IO[bytes], columns: set[int] | None) -> Iterator[tuple[int, dict[int, Cell]]]:
        parent: Element | None = None
        number = 0
        for event, el in _events(fh):
            name = _local(el.tag)
            if event == "start":
                if name == "sheetData":
                    parent = el
                continue
            if name != "row":
                continue
            number = int(el.get("r") or number + 1)
            cells: dict[int, Cell] = {}
            col = 0
            for c in el:
                ref = c.get("r")
                col = _col_index(ref) if ref else col + 1
                if columns is None or number == 1 or col in columns:
                    cells[col] = self._cell(c)
            if parent is not None:
                parent.clear()  # the row is read: forget it (memory stays flat)
            yield number, cells

    def _cell(self, c: Element) -> Cell:
        kind = c.get("t", "n")
        value_el = inline = None
        formula = False
        for child in c:
            name = _local(child.tag)
            if name == "v":
                value_el = child
            elif name == "is":
                inline = child
            elif name == "f":
                formula = True
        if formula:
            return Cell(None, True)
        raw = value_el.text if value_el is not None else None
        if kind == "inlineStr":
            return Cell(_text(inline) if inline is not None else None)
        if raw is None:
            return Cell(None)
        if kind == "s":
            strings = self._strings()
            index = int(raw)
            return Cell(strings[index] if 0 <= index < len(strings) else None)
        if kind in ("str", "e"):
            return Cell(raw)
        if kind == "b":
            return Cell(raw.strip() in ("1", "true"))
        if kind == "d":
            return Cell(datetime.fromisoformat(raw.strip().rstrip("Z")))
        number = float(raw)
        if int(c.get("s") or 0) in self._date_styles and 0 <= number < 2958466:
            return Cell(self._epoch + timedelta(days=number))
        return Cell(int(number) if number.is_integer() else number)
