"""Spreadsheets for people: xlsx written as SpreadsheetML directly, and CSV, both formula-safe.

Text that came from a respondent (file names, typed partnership names, answers, messages) is
written so that no spreadsheet app runs it as a formula: in CSV a cell starting with = + - @ tab
or CR gets a leading apostrophe; in xlsx every text cell is an inline string, never a formula,
and text that looks like Excel's own ``_xHHHH_`` escapes is escaped itself.

Each sheet has a header row, widths, a frozen first row and column, a filter, and colours from
conditional formats on whole columns (not per-cell styles: a row edited by hand is still coloured
right). openpyxl, and numpy behind it, would take longer to import than this takes to write a
thousand rows, and ``matrixgen score`` writes one on every run.
"""

from __future__ import annotations

import csv
import re
import zipfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Mapping, Sequence

from .files import atomic_open
from .interrupt import held
from .read import column_letters

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")  # what spreadsheet apps may run as a formula
HEADER_FILL, HEADER_FONT = "1F3A5F", "FFFFFF"
_FORMULA_CHARS = frozenset(FORMULA_START)  # each one character


def safe_text(value: str) -> str:
    """A CSV cell no spreadsheet app will run as a formula."""
    return "'" + value if value and value[0] in _FORMULA_CHARS else value


def write_csv(path: Path, header: Sequence[str], rows: Sequence[Sequence[object]]) -> Path:
    # utf-8-sig: Excel opens it with the right encoding on a double-click.
    with atomic_open(path, "w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows([[safe_text(c) if isinstance(c, str) else c for c in row] for row in rows])
    return Path(path)


@dataclass
class Sheet:
    title: str
    header: list[str]  # column titles as shown
    rows: list[list[object]]  # str, int or float; None or '' = empty
    widths: list[int]
    colours: Mapping[int, Mapping[str, str]] = field(default_factory=dict)  # column -> {cell text: fill}
    percent: int | None = None  # the column shown as a percentage (values 0..1)
    links: Mapping[tuple[int, int], str] = field(default_factory=dict)  # (row index, column) -> URL


def write_xlsx(path: Path, sheets: Sequence[Sheet]) -> Path:
    dxfs: dict[str, int] = {}  # fill colour -> its differential format, in order of first use
    bodies = [_sheet_xml(s.header, s.rows, s.widths, dict(s.colours), dxfs, s.percent, s.links) for s in sheets]
    filters = "".join(
        f'<definedName name="_xlnm._FilterDatabase" localSheetId="{i}" hidden="1">'
        f"{_xml(_quote_sheet(s.title))}!$A$1:${column_letters(len(s.header))}${len(s.rows) + 1}</definedName>"
        for i, s in enumerate(sheets))
    n = range(1, len(sheets) + 1)
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    parts = {
        "[Content_Types].xml": _CONTENT_TYPES.format(sheets="".join(
            f'<Override PartName="/xl/worksheets/sheet{i}.xml" ContentType="application/'
            'vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>' for i in n)),
        "_rels/.rels": _PACKAGE_RELS,
        "docProps/app.xml": _APP,
        "docProps/core.xml": _CORE.format(stamp=stamp),
        "xl/workbook.xml": _WORKBOOK.format(filters=filters, sheets="".join(
            f'<sheet name="{_xml(s.title)}" sheetId="{i}" r:id="rId{i}"/>' for i, s in zip(n, sheets))),
        "xl/_rels/workbook.xml.rels": _WORKBOOK_RELS.format(sheets="".join(
            f'<Relationship Id="rId{i}" Type="{_REL_NS}/worksheet" Target="worksheets/sheet{i}.xml"/>' for i in n)),
        "xl/styles.xml": _styles(dxfs),
        **{f"xl/worksheets/sheet{i}.xml": body for i, body in zip(n, bodies)},
        # A link is a relationship of its sheet, not a HYPERLINK formula: nothing here is ever a formula.
        **{f"xl/worksheets/_rels/sheet{i}.xml.rels": _LINK_RELS.format(links="".join(
            f'<Relationship Id="rIdL{k}" Type="{_REL_NS}/hyperlink" Target="{_xml(url)}" TargetMode="External"/>'
            for k, url in enumerate(s.links.values(), 1))) for i, s in zip(n, sheets) if s.links},
    }
    # Held, as in generate: a Ctrl-C inside zipfile would turn into a ValueError on close.
    with atomic_open(path, "wb") as fh, held(), zipfile.ZipFile(fh, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as z:
        for name, text in parts.items():
            z.writestr(name, text.encode("utf-8"))
    return Path(path)


# --- SpreadsheetML -------------------------------------------------------------------------------
# Cell styles (the s attribute): 0 plain, 1 header (bold white on navy, wrapped, top), 2 percent.
HEADER_STYLE, PERCENT_STYLE = 1, 2
# What XML 1.0 cannot hold as text, or holds only escaped: & < > and CR (a bare CR would be read
# back as LF); control characters are written as Excel's own _xHHHH_ escapes.
# A literal "_xHHHH_" in the text would be read back as the character it names: its underscore is
# escaped as _x005F_ (ECMA-376 Part 1, 22.9.2.19), so "_x003D_cmd" stays "_x003D_cmd" and never "=cmd".
_XML_SPECIAL = re.compile(r"[&<>\r\x00-\x08\x0b\x0c\x0e-\x1f]|_(?=x[0-9A-Fa-f]{4}_)")
_XML_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", "\r": "&#13;", "_": "_x005F_"}


def _xml(text: str) -> str:
    if _XML_SPECIAL.search(text) is None:
        return text
    return _XML_SPECIAL.sub(lambda m: _XML_ESCAPES.get(m.group()) or f"_x{ord(m.group()):04X}_", text)


def _quote_sheet(title: str) -> str:
    return "'" + title.replace("'", "''") + "'"


def _sheet_xml(titles: list[str], rows: list[list[object]], widths: list[int], colours: dict[int, dict[str, str]],
               dxfs: dict[str, int], percent: int | None = None,
               links: Mapping[tuple[int, int], str] | None = None) -> str:
    """One worksheet: header row, body rows, widths, frozen panes, filter and colour rules.

    Text is always an inline string, never a formula, whatever it starts with; numbers are
    numbers; None and '' leave the cell empty."""
    letters = [column_letters(i) for i in range(1, len(titles) + 1)]
    last = len(rows) + 1
    out = [
        _SHEET_HEAD, f'<dimension ref="A1:{letters[-1]}{last}"/>', _SHEET_VIEW, "<cols>",
        *(f'<col min="{i}" max="{i}" width="{w:g}" customWidth="1"/>' for i, w in enumerate(widths, start=1)),
        '</cols><sheetData><row r="1">',
        *(f'<c r="{letter}1" s="{HEADER_STYLE}" t="inlineStr">{_inline(title)}</c>' for letter, title in zip(letters, titles)),
        "</row>",
    ]
    append = out.append
    for r, row in enumerate(rows, start=2):
        append(f'<row r="{r}">')
        for i, value in enumerate(row):
            if value is None or value == "":
                continue
            if isinstance(value, str):
                append(f'<c r="{letters[i]}{r}" t="inlineStr">{_inline(value)}</c>')
            else:  # int or float (bool is not written: no column holds one)
                style = f' s="{PERCENT_STYLE}"' if i == percent else ""
                append(f'<c r="{letters[i]}{r}"{style} t="n"><v>{value:.16g}</v></c>')
        append("</row>")
    append(f'</sheetData><autoFilter ref="A1:{letters[-1]}{last}"/>')
    priority = 0
    for i, fills in colours.items():
        if not fills:
            continue
        append(f'<conditionalFormatting sqref="{letters[i]}2:{letters[i]}{max(len(rows), 1) + 1}">')
        for value, fill in fills.items():
            priority += 1
            dxf = dxfs.setdefault(fill, len(dxfs))
            formula = _xml('"' + value.replace('"', '""') + '"')
            append(f'<cfRule type="cellIs" dxfId="{dxf}" priority="{priority}" operator="equal">'
                   f"<formula>{formula}</formula></cfRule>")
        append("</conditionalFormatting>")
    if links:
        append("<hyperlinks>" + "".join(f'<hyperlink ref="{letters[c]}{r + 2}" r:id="rIdL{k}"/>'
                                        for k, (r, c) in enumerate(links, 1)) + "</hyperlinks>")
    append(_SHEET_TAIL)
    return "".join(out)


def _inline(text: str) -> str:
    space = ' xml:space="preserve"' if text != text.strip() else ""
    return f"<is><t{space}>{_xml(text)}</t></is>"


def _styles(dxfs: dict[str, int]) -> str:
    fills = "".join(f'<dxf><fill><patternFill patternType="solid"><fgColor rgb="00{fill}"/><bgColor rgb="00{fill}"/>'
                    f"</patternFill></fill></dxf>" for fill in dxfs)
    return _STYLES.format(dxf_count=len(dxfs), dxfs=fills)


_MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    "{sheets}"
    '<Override PartName="/xl/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
    '<Override PartName="/docProps/core.xml" ContentType="application/vnd.openxmlformats-package.core-properties+xml"/>'
    '<Override PartName="/docProps/app.xml" ContentType="application/vnd.openxmlformats-officedocument.extended-properties+xml"/>'
    "</Types>"
)
_PACKAGE_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    f'<Relationship Id="rId1" Type="{_REL_NS}/officeDocument" Target="xl/workbook.xml"/>'
    '<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/package/2006/relationships/metadata/core-properties" Target="docProps/core.xml"/>'
    f'<Relationship Id="rId3" Type="{_REL_NS}/extended-properties" Target="docProps/app.xml"/>'
    "</Relationships>"
)
_APP = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/extended-properties">'
    "<Application>matrixgen</Application></Properties>"
)
_CORE = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" '
    'xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:dcterms="http://purl.org/dc/terms/" '
    'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
    "<dc:creator>matrixgen</dc:creator>"
    '<dcterms:created xsi:type="dcterms:W3CDTF">{stamp}</dcterms:created>'
    '<dcterms:modified xsi:type="dcterms:W3CDTF">{stamp}</dcterms:modified>'
    "</cp:coreProperties>"
)
_WORKBOOK = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    f'<workbook xmlns="{_MAIN_NS}" xmlns:r="{_REL_NS}"><workbookPr/>'
    '<bookViews><workbookView activeTab="0"/></bookViews><sheets>'
    "{sheets}</sheets><definedNames>{filters}</definedNames></workbook>"
)
_WORKBOOK_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    "{sheets}"
    f'<Relationship Id="rIdStyles" Type="{_REL_NS}/styles" Target="styles.xml"/>'
    "</Relationships>"
)
_STYLES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    f'<styleSheet xmlns="{_MAIN_NS}">'
    '<numFmts count="1"><numFmt numFmtId="164" formatCode="0.0%"/></numFmts>'
    '<fonts count="2"><font><sz val="11"/><name val="Calibri"/><family val="2"/></font>'
    f'<font><b val="1"/><sz val="11"/><color rgb="00{HEADER_FONT}"/><name val="Calibri"/><family val="2"/></font></fonts>'
    '<fills count="3"><fill><patternFill/></fill><fill><patternFill patternType="gray125"/></fill>'
    f'<fill><patternFill patternType="solid"><fgColor rgb="00{HEADER_FILL}"/></patternFill></fill></fills>'
    '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
    '<cellXfs count="3"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
    '<xf numFmtId="0" fontId="1" fillId="2" borderId="0" xfId="0" applyFont="1" applyFill="1" applyAlignment="1">'
    '<alignment vertical="top" wrapText="1"/></xf>'
    '<xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/></cellXfs>'
    '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
    '<dxfs count="{dxf_count}">{dxfs}</dxfs>'
    "</styleSheet>"
)
_LINK_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">{links}</Relationships>'
)
_SHEET_HEAD = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    f'<worksheet xmlns="{_MAIN_NS}" xmlns:r="{_REL_NS}">'
)
_SHEET_VIEW = (
    '<sheetViews><sheetView workbookViewId="0">'
    '<pane xSplit="1" ySplit="1" topLeftCell="B2" activePane="bottomRight" state="frozen"/>'
    '<selection pane="topRight"/><selection pane="bottomLeft"/>'
    '<selection pane="bottomRight" activeCell="A1" sqref="A1"/></sheetView></sheetViews>'
    '<sheetFormatPr baseColWidth="8" defaultRowHeight="15"/>'
)
_SHEET_TAIL = '<pageMargins left="0.75" right="0.75" top="1" bottom="1" header="0.5" footer="0.5"/></worksheet>'
