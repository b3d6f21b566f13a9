"""A minimal streaming .xlsx writer: rows go straight into the zip as SpreadsheetML.

Why not openpyxl for writing: even in write-only mode it builds a cell object and an XML element per
cell, about 19 s per million cells measured on the project's CI-sized machine, so a 300,000-user
workbook (~13 million cells) would take several minutes. This writer formats each row with plain
string operations (a few µs per cell) and streams it through ``zipfile``; memory stays flat.

It supports exactly what the workbook needs: inline strings, numbers, booleans, dates, a few fixed
cell styles, column widths, a frozen header row, an autofilter, "cell equals" conditional formatting
and data validation. Values must already be sanitised (``auditor.render.safe.cell_value``).
openpyxl reads the result back in the tests.
"""

from __future__ import annotations

import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import IO, Any

# Cell style ids (index into cellXfs below).
NORMAL, HEADER, DATETIME, DATE, BOLD, TITLE, WARNING, WRAP, COUNT = range(9)  # COUNT: 73,327

_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG_REL = "http://schemas.openxmlformats.org/package/2006/relationships"
_EPOCH = datetime(1899, 12, 30)
_ESC = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})
_ESC_ATTR = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"})
FLUSH_ROWS = 2000


def col_letter(index: int) -> str:
    """1 -> A, 27 -> AA."""
    out = ""
    while index:
        index, rem = divmod(index - 1, 26)
        out = chr(65 + rem) + out
    return out


def _serial(value: date) -> float:
    if isinstance(value, datetime):
        return (value.replace(tzinfo=None) - _EPOCH).total_seconds() / 86400
    return float((value - _EPOCH.date()).days)


@dataclass
class Validation:
    sqref: str
    type: str  # "list" | "date"
    formula1: str
    operator: str | None = None
    error: str = ""


@dataclass
class Highlight:
    """Conditional format: cells in ``sqref`` equal to ``value`` get differential style ``dxf``."""

    sqref: str
    value: str
    dxf: int


@dataclass
class _SheetInfo:
    title: str
    path: str
    filter_ref: str | None = None


class SheetWriter:
    def __init__(self, book: Workbook, title: str, widths: Sequence[float], freeze: bool) -> None:
        self.book = book
        self.title = title
        self.ncols = len(widths)
        self.rows = 0
        self.letters = [col_letter(i + 1) for i in range(max(self.ncols, 1) + 64)]
        self._buf: list[str] = []
        self._validations: list[Validation] = []
        self._highlights: list[Highlight] = []
        self._filter: str | None = None
        index = len(book._sheets) + 1
        self.info = _SheetInfo(title, f"xl/worksheets/sheet{index}.xml")
        self._out = book._zip.open(self.info.path, "w", force_zip64=True)
        head = [
            f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<worksheet xmlns="{_MAIN}" '
            f'xmlns:r="{_REL}"><sheetViews><sheetView workbookViewId="0">'
        ]
        if freeze:
            head.append(
                '<pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" state="frozen"/>'
                '<selection pane="bottomLeft" activeCell="A2" sqref="A2"/>'
            )
        head.append('</sheetView></sheetViews><sheetFormatPr defaultRowHeight="15"/>')
        if widths:
            head.append("<cols>")
            head.extend(
                f'<col min="{i}" max="{i}" width="{w}" customWidth="1"/>' for i, w in enumerate(widths, start=1)
            )
            head.append("</cols>")
        head.append("<sheetData>")
        self._out.write("".join(head).encode("utf-8"))

    def row(self, values: Sequence[Any], styles: Sequence[int] | int | None = None) -> None:
        """Append one row. ``styles``: one style id for every cell, or one per cell."""
        self.rows += 1
        r = self.rows
        letters = self.letters
        cells = []
        for i, value in enumerate(values):
            if value is None:
                continue
            style = styles if isinstance(styles, int) else (styles[i] if styles else NORMAL)
            ref = f"{letters[i]}{r}"
            s = f' s="{style}"' if style else ""
            if isinstance(value, str):
                text = value.translate(_ESC)
                space = ' xml:space="preserve"' if text[:1].isspace() or text[-1:].isspace() else ""
                cells.append(f'<c r="{ref}"{s} t="inlineStr"><is><t{space}>{text}</t></is></c>')
            elif isinstance(value, bool):
                cells.append(f'<c r="{ref}"{s} t="b"><v>{int(value)}</v></c>')
            elif isinstance(value, int | float):
                if value != value or value in (float("inf"), float("-inf")):
                    continue
                cells.append(f'<c r="{ref}"{s}><v>{value}</v></c>')
            elif isinstance(value, date):
                if not style:
                    style = DATETIME if isinstance(value, datetime) else DATE
                cells.append(f'<c r="{ref}" s="{style}"><v>{_serial(value)!r}</v></c>')
            else:
                raise TypeError(f"unsupported cell value type {type(value).__name__}")
        self._buf.append(f'<row r="{r}">{"".join(cells)}</row>')
        if len(self._buf) >= FLUSH_ROWS:
            self._flush()

    def _flush(self) -> None:
        if self._buf:
            self._out.write("".join(self._buf).encode("utf-8"))
            self._buf.clear()

    def autofilter(self) -> None:
        self._filter = f"A1:{col_letter(self.ncols)}{max(self.rows, 1)}"

    def validate(self, validation: Validation) -> None:
        self._validations.append(validation)

    def highlight(self, highlight: Highlight) -> None:
        self._highlights.append(highlight)

    def close(self) -> None:
        self._flush()
        tail = ["</sheetData>"]
        if self._filter:
            tail.append(f'<autoFilter ref="{self._filter}"/>')
            self.info.filter_ref = self._filter
        by_ref: dict[str, list[Highlight]] = {}
        for h in self._highlights:
            by_ref.setdefault(h.sqref, []).append(h)
        priority = 1
        for sqref, items in by_ref.items():
            tail.append(f'<conditionalFormatting sqref="{sqref}">')
            for h in items:
                value = h.value.replace('"', '""').translate(_ESC)
                tail.append(
                    f'<cfRule type="cellIs" dxfId="{h.dxf}" priority="{priority}" operator="equal">'
                    f'<formula>"{value}"</formula></cfRule>'
                )
                priority += 1
            tail.append("</conditionalFormatting>")
        if self._validations:
            tail.append(f'<dataValidations count="{len(self._validations)}">')
            for v in self._validations:
                op = f' operator="{v.operator}"' if v.operator else ""
                tail.append(
                    f'<dataValidation type="{v.type}"{op} allowBlank="1" showErrorMessage="1" '
                    f'error="{v.error.translate(_ESC_ATTR)}" sqref="{v.sqref}">'
                    f"<formula1>{v.formula1.translate(_ESC)}</formula1></dataValidation>"
                )
            tail.append("</dataValidations>")
        tail.append("</worksheet>")
        self._out.write("".join(tail).encode("utf-8"))
        self._out.close()
        self.book._sheets.append(self.info)
        self.book._open = None


@dataclass
class Workbook:
    """``with Workbook(fileobj) as wb: sheet = wb.sheet(...); sheet.row(...); sheet.close()``."""

    fileobj: IO[bytes]
    dxf_colours: Sequence[str] = ()  # one differential (conditional-format) style per colour, in order
    compresslevel: int = 3
    _sheets: list[_SheetInfo] = field(default_factory=list)
    _open: SheetWriter | None = None

    def __post_init__(self) -> None:
        self._zip = zipfile.ZipFile(
            self.fileobj, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=self.compresslevel
        )

    def __enter__(self) -> Workbook:
        return self

    def __exit__(self, exc_type: object, *_exc: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self._zip.close()

    def sheet(self, title: str, widths: Sequence[float], *, freeze: bool = True) -> SheetWriter:
        if self._open is not None:
            raise RuntimeError(f"close sheet {self._open.title!r} before starting another")
        if len(title) > 31 or any(ch in title for ch in "[]:*?/\\"):
            raise ValueError(f"invalid sheet title {title!r}")
        self._open = SheetWriter(self, title, widths, freeze)
        return self._open

    def close(self) -> None:
        z = self._zip
        sheets = self._sheets
        overrides = "".join(
            f'<Override PartName="/{s.path}" ContentType="application/vnd.openxmlformats-officedocument.'
            f'spreadsheetml.worksheet+xml"/>'
            for s in sheets
        )
        z.writestr(
            "[Content_Types].xml",
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.'
            'spreadsheetml.sheet.main+xml"/>'
            '<Override PartName="/xl/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.'
            'spreadsheetml.styles+xml"/>' + overrides + "</Types>",
        )
        z.writestr(
            "_rels/.rels",
            f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<Relationships xmlns="{_PKG_REL}">'
            f'<Relationship Id="rId1" Type="{_REL}/officeDocument" Target="xl/workbook.xml"/>'
            "</Relationships>",
        )
        rels = "".join(
            f'<Relationship Id="rId{i}" Type="{_REL}/worksheet" Target="worksheets/sheet{i}.xml"/>'
            for i in range(1, len(sheets) + 1)
        )
        z.writestr(
            "xl/_rels/workbook.xml.rels",
            f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<Relationships xmlns="{_PKG_REL}">'
            f'{rels}<Relationship Id="rId{len(sheets) + 1}" Type="{_REL}/styles" Target="styles.xml"/>'
            "</Relationships>",
        )
        entries = "".join(
            f'<sheet name="{s.title.translate(_ESC_ATTR)}" sheetId="{i}" r:id="rId{i}"/>'
            for i, s in enumerate(sheets, start=1)
        )
        names = []
        for i, s in enumerate(sheets):
            if s.filter_ref:
                start, end = s.filter_ref.split(":")
                quoted = "'" + s.title.replace("'", "''") + "'"
                ref = f"{quoted}!${_split(start)}:${_split(end)}"
                names.append(
                    f'<definedName name="_xlnm._FilterDatabase" localSheetId="{i}" hidden="1">'
                    f"{ref.translate(_ESC)}</definedName>"
                )
        defined = f"<definedNames>{''.join(names)}</definedNames>" if names else ""
        z.writestr(
            "xl/workbook.xml",
            f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<workbook xmlns="{_MAIN}" '
            f'xmlns:r="{_REL}"><bookViews><workbookView/></bookViews><sheets>{entries}</sheets>'
            f"{defined}</workbook>",
        )
        z.writestr("xl/styles.xml", _styles(self.dxf_colours))
        z.close()


def _split(ref: str) -> str:
    """'AB12' -> 'AB$12' (absolute reference body; the caller adds the leading $)."""
    i = next(i for i, ch in enumerate(ref) if ch.isdigit())
    return f"{ref[:i]}${ref[i:]}"


def _styles(dxf_colours: Sequence[str]) -> str:
    dxfs = "".join(
        f'<dxf><font><b/><color rgb="FFFFFFFF"/></font><fill><patternFill patternType="solid">'
        f'<fgColor rgb="FF{c}"/><bgColor rgb="FF{c}"/></patternFill></fill></dxf>'
        for c in dxf_colours
    )
    return (
        f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<styleSheet xmlns="{_MAIN}">'
        '<numFmts count="2"><numFmt numFmtId="164" formatCode="yyyy-mm-dd hh:mm"/>'
        '<numFmt numFmtId="165" formatCode="yyyy-mm-dd"/></numFmts>'
        '<fonts count="5"><font><sz val="11"/><name val="Calibri"/></font>'
        '<font><b/><sz val="11"/><color rgb="FFFFFFFF"/><name val="Calibri"/></font>'
        '<font><b/><sz val="11"/><name val="Calibri"/></font>'
        '<font><b/><sz val="14"/><name val="Calibri"/></font>'
        '<font><b/><sz val="11"/><color rgb="FF9C0006"/><name val="Calibri"/></font></fonts>'
        '<fills count="3"><fill><patternFill patternType="none"/></fill>'
        '<fill><patternFill patternType="gray125"/></fill>'
        '<fill><patternFill patternType="solid"><fgColor rgb="FF1F3864"/><bgColor indexed="64"/></patternFill>'
        "</fill></fills>"
        '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
        '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
        '<cellXfs count="9">'
        '<xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
        '<xf numFmtId="0" fontId="1" fillId="2" borderId="0" xfId="0" applyFont="1" applyFill="1"/>'
        '<xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
        '<xf numFmtId="165" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
        '<xf numFmtId="0" fontId="2" fillId="0" borderId="0" xfId="0" applyFont="1"/>'
        '<xf numFmtId="0" fontId="3" fillId="0" borderId="0" xfId="0" applyFont="1"/>'
        '<xf numFmtId="0" fontId="4" fillId="0" borderId="0" xfId="0" applyFont="1"/>'
        '<xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0" applyAlignment="1">'
        '<alignment vertical="top" wrapText="1"/></xf>'
        '<xf numFmtId="3" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
        "</cellXfs>"
        '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
        f'<dxfs count="{len(dxf_colours)}">{dxfs}</dxfs>'
        "</styleSheet>"
    )
