"""Rubric (+ roster row) -> the fillable assessment workbook.

One openpyxl build makes a *template* whose partnership-specific cells hold placeholder tokens;
each personalised workbook is then the template's zip with those tokens replaced in two XML
parts. That keeps a 1,000-partnership round to about a millisecond of work per file instead of
a full openpyxl build each (see benchmarks/).

The layout below is also the contract the reader relies on — by labels and ids, never by
position — so a respondent's inserted rows or another app's re-save do not break scoring.
"""

from __future__ import annotations

import hashlib
import io
import re
import secrets
import textwrap
import unicodedata
import zipfile
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterable
from xml.sax.saxutils import escape

from openpyxl import Workbook
from openpyxl.formatting.rule import FormulaRule
from openpyxl.packaging.custom import StringProperty
from openpyxl.styles import Alignment, Border, Font, PatternFill, Protection, Side
from openpyxl.workbook.defined_name import DefinedName
from openpyxl.workbook.protection import WorkbookProtection
from openpyxl.worksheet.datavalidation import DataValidation

from . import identity, interrupt
from .files import private_dir, valid_label, write_private
from .identity import Identity
# The layout contract, re-exported: the reader imports it from layout.py without openpyxl.
from .layout import (  # noqa: F401
    ASSESSMENT, ASSESSMENT_HEADER_ROW, ASSESSMENT_HEADERS, EVIDENCE_COL, INSTRUCTIONS, MATRIX, META, META_KEYS,
    PARTNERSHIP, PARTNERSHIP_FIELDS, PROP_PREFIX, RESPONDENT_FIELDS, RESPONSE_COL, RESPONSE_LIST_NAME, SUMMARY,
)
from .roster import Partnership
from .rubric import Rubric

# --- look ------------------------------------------------------------------------------------
NAVY = "1F3A5F"


def _font(**kw) -> Font:
    # A Font without a name falls back to the app's default face (a serif in LibreOffice).
    return Font(name="Calibri", **{"size": 11, **kw})


FILL_HEADER = PatternFill("solid", fgColor=NAVY)
FILL_INPUT = PatternFill("solid", fgColor="FFF8DC")
FILL_BAND = PatternFill("solid", fgColor="F2F5F9")
FILL_EMPTY = PatternFill("solid", fgColor="E7E7E7")
FILL_LABEL = PatternFill("solid", fgColor="E8EEF5")
ANSWER_STYLES = {  # response label -> (fill, font colour) for conditional formatting
    "met": ("C6EFCE", "006100"),
    "in progress": ("FFEB9C", "7F6000"),
    "not yet": ("F8CBAD", "843C0C"),
}
THIN = Side(style="thin", color="B7C3D0")
BOX = Border(left=THIN, right=THIN, top=THIN, bottom=THIN)
WRAP_TOP = Alignment(wrap_text=True, vertical="top")
WHITE_BOLD = _font(bold=True, color="FFFFFF")
TITLE = _font(bold=True, size=16, color=NAVY)
SUBTITLE = _font(bold=True, size=12, color=NAVY)
UNLOCKED = Protection(locked=False)
POINTS_PER_LINE = 15.0
CHARS_PER_WIDTH = 1.1  # characters of Calibri 11 text per unit of column width, on average
INSTRUCTIONS_TEXT_WIDTH = 90  # column C of Instructions
PARTNERSHIP_VALUE_WIDTH = 64  # column B of Partnership
VALUE_WIDTHS = (INSTRUCTIONS_TEXT_WIDTH, PARTNERSHIP_VALUE_WIDTH)  # where a partnership's details are shown


class GenerateError(Exception):
    pass


@dataclass(frozen=True)
class Options:
    round: str = ""
    due: str = ""
    contact: str = ""  # the office's contact line shown on the Instructions sheet
    generated_at: str = field(default_factory=lambda: datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"))

    def __post_init__(self) -> None:
        # The round travels in the signed identity and becomes folder names: the one label rule.
        if self.round and not valid_label(self.round):
            raise GenerateError(f"{self.round!r} cannot be a round label: use a letter or digit, then letters, "
                                "digits, '.', '_' and '-'")


@dataclass(frozen=True)
class Generated:
    path: Path
    partnership: Partnership | None
    identity: Identity
    sha256: str


# --- building ----------------------------------------------------------------------------------


def _lines(text: str, width: float) -> int:
    """Lines ``text`` takes wrapped at word boundaries in a column ``width`` wide."""
    chars = max(1, int(width * CHARS_PER_WIDTH))
    return sum(1 if len(part) <= chars else len(textwrap.wrap(part, chars)) for part in str(text).split("\n"))


def _row_height(*texts_and_widths: tuple[str, float]) -> float:
    """Enough height for the longest wrapped text in a row: openpyxl cannot auto-fit, and Excel
    does not re-fit a row when it opens a file, so a row too short clips its text."""
    return max([1, *(_lines(text, width) for text, width in texts_and_widths)]) * POINTS_PER_LINE + 6


def _value_height(text: str, width: float) -> float:
    """The height of a row showing one value wrapped in a column ``width`` wide. The Partnership
    card's one-line rows keep the default height, so that its rows line up with those the
    respondent types in. For a template's placeholder, a stand-in that ``Template.render``
    replaces with the height of the partnership's own value."""
    for key in PERSONAL_KEYS:
        if text == _token(key):
            return _stand_in(key, width)
    if width == PARTNERSHIP_VALUE_WIDTH and _lines(text, width) == 1:
        return POINTS_PER_LINE
    return _row_height((text, width))


def _stand_in(key: str, width: float) -> float:
    # Eighths of a point above 400: never a real height (whole points), and one per key and width.
    return 400 + (1 + PERSONAL_KEYS.index(key) + len(PERSONAL_KEYS) * VALUE_WIDTHS.index(width)) / 16


def _print_setup(ws, landscape: bool = False) -> None:
    """Letter paper, one page wide, as many pages tall as it needs."""
    ws.page_setup.orientation = "landscape" if landscape else "portrait"
    ws.page_setup.paperSize = ws.PAPERSIZE_LETTER
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.page_setup.fitToWidth, ws.page_setup.fitToHeight = 1, 0


def _protect(ws, password: str) -> None:
    ws.protection.sheet = True
    ws.protection.password = password
    # Let respondents resize rows and columns for long evidence; everything else stays locked.
    ws.protection.formatRows = False
    ws.protection.formatColumns = False


def _criterion_text(c) -> str:
    return f"{c.text}\nGuidance: {c.guidance}" if c.guidance else c.text


def build_workbook(rubric: Rubric, ident: Identity, options: Options, *, generic: bool) -> Workbook:
    """The whole workbook for one identity (placeholders or real values)."""
    password = secrets.token_urlsafe(18)
    wb = Workbook()
    _instructions(wb.active, rubric, ident, options)
    _partnership(wb.create_sheet(PARTNERSHIP), ident, generic)
    first, last = _assessment(wb.create_sheet(ASSESSMENT), rubric, ident)
    _summary(wb.create_sheet(SUMMARY), rubric, first)
    _matrix(wb.create_sheet(MATRIX), rubric)
    _meta(wb, rubric, ident)
    for ws in wb.worksheets:
        if ws.title != META:
            _protect(ws, password)
            _print_setup(ws, landscape=ws.title in (ASSESSMENT, MATRIX))
    wb[META].protection.sheet = True
    wb[META].protection.password = password
    wb.security = WorkbookProtection(workbookPassword=password, lockStructure=True)
    for key, value in {**ident.values(), "signature": ident.signature, "format": identity.FORMAT}.items():
        wb.custom_doc_props.append(StringProperty(name=PROP_PREFIX + key, value=value or "-"))
    wb.properties.title = f"{rubric.title} — self-assessment"
    wb.properties.creator = "matrixgen"
    wb.active = 0
    return wb


def _instructions(ws, rubric: Rubric, ident: Identity, options: Options) -> None:
    ws.title = INSTRUCTIONS
    ws.sheet_view.showGridLines = False
    ws.column_dimensions["A"].width = 3
    ws.column_dimensions["B"].width = 22
    ws.column_dimensions["C"].width = INSTRUCTIONS_TEXT_WIDTH
    stages = ", ".join(s.label for s in rubric.stages)
    scale = rubric.responses
    rows: list[tuple[str, str, Font | None]] = [
        (rubric.title, "", TITLE),
        ("Self-assessment workbook", "", SUBTITLE),
        ("", "", None),
        ("Prepared for", ident.partnership_name or f"Your partnership (type its name on the {PARTNERSHIP} sheet)", None),
        ("Round", ident.round or "(not set)", None),
    ]
    if options.due:
        rows.append(("Please return by", options.due, _font(bold=True)))
    if options.contact:
        rows.append(("Questions", options.contact, None))
    rows += [
        ("", "", None),
        ("What this is", f"Your partnership assesses itself against the {rubric.title}: "
         f"{len(rubric.dimensions)} dimensions of a sector partnership, each described at the stages {stages}. "
         "Your answers place the partnership at a stage and show what to work on next.", None),
        ("How to answer", f"On the {ASSESSMENT} sheet, choose a Response for each of the {len(rubric.criteria)} criteria "
         "from the drop-down list, and write in Evidence what shows it (a document, a meeting, a result).", None),
        ("Mark Met when…", "the partnership has done this or moved beyond it. The early-stage criteria describe "
         "activity a mature partnership has completed: mark them Met too.", _font(bold=True)),
    ]
    for r in scale:
        rows.append((f"  {r.label}", _scale_hint(r, rubric), None))
    rows += [
        ("Your details", f"Fill in the yellow cells on the {PARTNERSHIP} sheet: your name, role, email and the date.", None),
        ("Live preview", f"The {SUMMARY} sheet shows the stage your answers reach as you go. It is a preview: "
         "the office scores the returned workbook itself.", None),
        ("Returning it", "Save the file as an Excel workbook (.xlsx) — keep the file name and do not add a password — "
         "and email it back as an attachment. Other formats (.xls, .ods, PDF, CSV) cannot be scored.", None),
        ("Reference", f"The {MATRIX} sheet shows the whole matrix as published.", None),
    ]
    for i, (label, text, font) in enumerate(rows, start=1):
        a, b = ws.cell(i, 2, label or None), ws.cell(i, 3, text or None)
        if i <= 2:
            a.font = font
            continue
        a.font = _font(bold=True, color=NAVY)
        a.alignment = b.alignment = WRAP_TOP
        if font is not None:
            b.font = font
        ws.row_dimensions[i].height = _value_height(text, INSTRUCTIONS_TEXT_WIDTH)
    ws.row_dimensions[1].height = 24


def _scale_hint(response, rubric: Rubric) -> str:
    if response.met:
        return "done, or moved beyond it."
    if response.points > 0:
        return "work has started but is not finished."
    return "not started yet."


def _partnership(ws, ident: Identity, generic: bool) -> None:
    ws.sheet_view.showGridLines = False
    ws.column_dimensions["A"].width = 22
    ws.column_dimensions["B"].width = PARTNERSHIP_VALUE_WIDTH
    ws["A1"] = "Partnership"
    ws["A1"].font = TITLE
    ws["A2"] = ("Type your partnership's name, region and sector (and its ID, if you know it) in the yellow cells."
                if generic
                else "These details identify your workbook; they are locked. Please fill in the yellow cells below.")
    ws["A2"].font = _font(italic=True, color="555555")
    values = {**ident.values(), "signature": ident.signature}
    row = 4
    typed = {"partnership_name", "partnership_id", "region", "sector"} if generic else set()
    for label, key in PARTNERSHIP_FIELDS:
        a, b = ws.cell(row, 1, label), ws.cell(row, 2, values[key] or None)
        a.font, a.fill, a.border, b.border = _font(bold=True), FILL_LABEL, BOX, BOX
        wrapped = key not in ("rubric_hash", "signature")
        a.alignment = Alignment(vertical="top")
        b.alignment = Alignment(vertical="top", wrap_text=wrapped)
        if not wrapped:
            b.font = _font(size=8, color="555555")
        if key in typed:
            b.fill, b.protection = FILL_INPUT, UNLOCKED
        else:  # a typed cell is left to the spreadsheet app, which fits it as the respondent types
            ws.row_dimensions[row].height = _value_height(values[key] if wrapped else "", PARTNERSHIP_VALUE_WIDTH)
        row += 1
    row += 1
    ws.cell(row, 1, "About you").font = SUBTITLE
    row += 1
    for label, _key in RESPONDENT_FIELDS:
        a, b = ws.cell(row, 1, label), ws.cell(row, 2)
        a.font, a.fill, a.border, b.border = _font(bold=True), FILL_LABEL, BOX, BOX
        b.fill, b.protection = FILL_INPUT, UNLOCKED
        row += 1
    ws.print_area = f"A1:B{row}"


WIDTHS = {"A": 8, "B": 24, "C": 13, "D": 72, "E": 15, "F": 50}


def _assessment(ws, rubric: Rubric, ident: Identity) -> tuple[int, int]:
    ws.sheet_view.showGridLines = False
    for col, width in WIDTHS.items():
        ws.column_dimensions[col].width = width
    ws["A1"] = f"{rubric.title} — self-assessment"
    ws["A1"].font = SUBTITLE
    ws["A2"] = ("Choose a Response for every criterion (Met, In progress, Not yet) and say in Evidence what shows it. "
                "Mark Met when the partnership has done this or moved beyond it.")
    ws["A2"].font = _font(italic=True, color="555555")
    hr = ASSESSMENT_HEADER_ROW
    for i, label in enumerate(ASSESSMENT_HEADERS, start=1):
        c = ws.cell(hr, i, label)
        c.font, c.fill, c.border = WHITE_BOLD, FILL_HEADER, BOX
        c.alignment = Alignment(vertical="center", wrap_text=True)
    ws.row_dimensions[hr].height = 20
    row = hr + 1
    first = row
    for d_index, dim in enumerate(rubric.dimensions):
        band = FILL_BAND if d_index % 2 == 0 else None
        for c in dim.criteria:
            text = _criterion_text(c)
            values = (c.id, dim.label, rubric.stage(c.stage_id).label, text, None, None)
            for col, value in enumerate(values, start=1):
                cell = ws.cell(row, col, value)
                cell.border = BOX
                cell.alignment = WRAP_TOP
                if band is not None and col <= 4:
                    cell.fill = band
            ws.cell(row, 1).font = _font(bold=True)
            for col in (RESPONSE_COL, EVIDENCE_COL):
                cell = ws[f"{col}{row}"]
                cell.protection = UNLOCKED
            ws[f"{RESPONSE_COL}{row}"].fill = FILL_INPUT
            ws.row_dimensions[row].height = max(_row_height((text, WIDTHS["D"]), (dim.label, WIDTHS["B"])), 36)
            row += 1
    last = row - 1
    rng = f"{RESPONSE_COL}{first}:{RESPONSE_COL}{last}"
    labels = ", ".join(r.label for r in rubric.responses)
    dv = DataValidation(
        type="list", formula1=RESPONSE_LIST_NAME, allow_blank=True,
        showErrorMessage=True, errorStyle="stop", errorTitle="Not an answer",
        error=f"Choose one of: {labels}.",
        showInputMessage=True, promptTitle="Response",
        prompt=f"Choose {labels}. Mark Met if done or moved beyond it.",
    )
    dv.add(rng)
    ws.add_data_validation(dv)
    for response in rubric.responses:
        fill, colour = ANSWER_STYLES.get(response.label.casefold(), ("FFFFFF", "000000"))
        ws.conditional_formatting.add(rng, FormulaRule(
            formula=[f'TRIM({RESPONSE_COL}{first})="{response.label}"'],
            fill=PatternFill("solid", fgColor=fill, bgColor=fill), font=_font(color=colour, bold=True),
        ))
    ws.freeze_panes = f"A{first}"
    ws.print_title_rows = f"{hr}:{hr}"
    ws.print_area = f"A1:F{last}"
    ws.page_margins.left = ws.page_margins.right = 0.4
    return first, last


def _all_met(cells: list[str]) -> str:
    return "AND(" + ",".join(f'TRIM({ASSESSMENT}!{c})="Met"' for c in cells) + ")"


def _stage_formula(groups: list[tuple[str, list[str]]], none: str) -> str:
    """Nested IFs for 'the last stage whose cells (and all earlier ones) say Met'."""
    groups = [(label, cells) for label, cells in groups if cells]
    formula = f'"{groups[-1][0]}"' if groups else f'"{none}"'
    for i in range(len(groups) - 1, -1, -1):
        below = f'"{groups[i - 1][0]}"' if i > 0 else f'"{none}"'
        formula = f"IF({_all_met(groups[i][1])},{formula},{below})"
    return formula


def _summary(ws, rubric: Rubric, first_row: int) -> None:
    """A live preview for the respondent. The reader never trusts these cells."""
    ws.sheet_view.showGridLines = False
    ws.column_dimensions["A"].width = 42
    ws.column_dimensions["B"].width = 24
    ws.column_dimensions["C"].width = 14
    ws["A1"] = "Live preview of your stage"
    ws["A1"].font = TITLE
    ws["A2"] = "Updates as you answer. The office scores the returned workbook itself."
    ws["A2"].font = _font(italic=True, color="555555")
    for i, label in enumerate(("Dimension", "Stage reached", "Answered"), start=1):
        c = ws.cell(4, i, label)
        c.font, c.fill, c.border = WHITE_BOLD, FILL_HEADER, BOX
    row_of = {c.id: first_row + i for i, c in enumerate(rubric.criteria)}
    none = "Not yet at a stage"
    row = 5
    for dim in rubric.dimensions:
        groups = [(s.label, [f"{RESPONSE_COL}{row_of[c.id]}" for c in dim.criteria if c.stage_id == s.id])
                  for s in rubric.stages]
        cells = [f"{RESPONSE_COL}{row_of[c.id]}" for c in dim.criteria]
        ws.cell(row, 1, dim.label)
        ws.cell(row, 2, "=" + _stage_formula(groups, none))
        ws.cell(row, 3, "=" + "+".join(f'(TRIM({ASSESSMENT}!{c})<>"")' for c in cells) + f'&" of {len(cells)}"')
        for col in (1, 2, 3):
            ws.cell(row, col).border = BOX
        row += 1
    groups = [(s.label, [f"{RESPONSE_COL}{row_of[c.id]}" for c in rubric.criteria if c.stage_id == s.id])
              for s in rubric.stages]
    row += 1
    ws.cell(row, 1, "Overall stage").font = _font(bold=True, size=12)
    overall = ws.cell(row, 2, "=" + _stage_formula(groups, none))
    overall.font = _font(bold=True, size=12, color=NAVY)
    ws.cell(row + 1, 1, "Overall: the highest stage at which every criterion of that stage and all earlier stages is Met.").font = _font(italic=True, color="555555")


def _matrix(ws, rubric: Rubric) -> None:
    ws.sheet_view.showGridLines = False
    ws.column_dimensions["A"].width = 26
    width = 36
    for i, _ in enumerate(rubric.stages):
        ws.column_dimensions[chr(ord("B") + i)].width = width
    ws["A1"] = rubric.title
    ws["A1"].font = SUBTITLE
    ws["A2"] = rubric.source
    ws["A2"].font = _font(italic=True, color="555555")
    header = ["Dimension", *[s.label for s in rubric.stages]]
    for i, label in enumerate(header, start=1):
        c = ws.cell(4, i, label)
        c.font, c.fill, c.border = WHITE_BOLD, FILL_HEADER, BOX
    for r, dim in enumerate(rubric.dimensions, start=5):
        a = ws.cell(r, 1, dim.label)
        a.font, a.fill, a.border, a.alignment = _font(bold=True), FILL_LABEL, BOX, WRAP_TOP
        texts = [(dim.label, 26)]
        for i, stage in enumerate(rubric.stages, start=2):
            items = rubric.cells(dim.id, stage.id)
            text = "\n".join(f"{c.id}: {c.text}" for c in items)
            cell = ws.cell(r, i, text or None)
            cell.border, cell.alignment = BOX, WRAP_TOP
            if not items:
                cell.fill = FILL_EMPTY
            texts.append((text, width))
        ws.row_dimensions[r].height = _row_height(*texts)
    ws.freeze_panes = "B5"


def _meta(wb: Workbook, rubric: Rubric, ident: Identity) -> None:
    ws = wb.create_sheet(META)
    ws.sheet_state = "hidden"
    ws["A1"], ws["B1"] = "key", "value"
    values = {**ident.values(), "signature": ident.signature, "format": identity.FORMAT}
    for i, key in enumerate(META_KEYS, start=2):
        ws.cell(i, 1, key)
        ws.cell(i, 2, values[key] or None)
    ws["D1"] = "responses"
    responses = [r.label for r in rubric.responses]
    for i, label in enumerate(responses, start=2):
        ws.cell(i, 4, label)
    ref = f"'{META}'!$D$2:$D${1 + len(responses)}"
    wb.defined_names[RESPONSE_LIST_NAME] = DefinedName(RESPONSE_LIST_NAME, attr_text=ref)



# --- personalising copies of one template -------------------------------------------------------

PERSONAL_KEYS = ("partnership_id", "partnership_name", "region", "sector", "signature")
CUSTOM_PROPS_PART = "docProps/custom.xml"


def _token(key: str) -> str:
    return f"@@MG_{key}@@"


class Template:
    """One openpyxl build whose partnership cells hold tokens; ``render`` fills them in."""

    def __init__(self, rubric: Rubric, options: Options):
        self.rubric = rubric
        self.options = options
        ident = Identity(
            rubric_id=rubric.id, rubric_version=rubric.version, rubric_hash=rubric.content_hash,
            round=options.round, generated_at=options.generated_at,
            **{k: _token(k) for k in PERSONAL_KEYS},
        )
        buf = io.BytesIO()
        build_workbook(rubric, ident, options, generic=False).save(buf)
        with zipfile.ZipFile(buf) as z:
            self._parts = [(info.filename, info.date_time, z.read(info)) for info in z.infolist()]
        # Remember which parts hold tokens (worksheets with inline strings, the custom properties)
        # so rendering touches only those, and which rows' heights follow a partnership's details.
        self._personal = {name for name, _, data in self._parts if b"@@MG_" in data}
        self._heights = {name: [(_height_attr(_stand_in(k, w)), k, w) for k in PERSONAL_KEYS for w in VALUE_WIDTHS
                                if _height_attr(_stand_in(k, w)) in data]
                         for name, _, data in self._parts if name in self._personal}
        unmatched = [name for name, _, data in self._parts if b'ht="400.' in data
                     and data.count(b'ht="400.') != len(self._heights.get(name, ()))]
        if unmatched:  # pragma: no cover - would mean openpyxl changed how it writes row heights
            raise GenerateError(f"template row heights not found in {unmatched}")
        found = b"".join(data for name, _, data in self._parts if name in self._personal)
        missing = [k for k in PERSONAL_KEYS if _token(k).encode() not in found]
        if missing:  # pragma: no cover - would mean openpyxl changed how it stores strings
            raise GenerateError(f"template lost its placeholders for {missing}")

    def identity_for(self, partnership: Partnership, key: bytes) -> Identity:
        ident = Identity(
            rubric_id=self.rubric.id, rubric_version=self.rubric.version, rubric_hash=self.rubric.content_hash,
            partnership_id=partnership.id, partnership_name=partnership.name,
            region=partnership.region, sector=partnership.sector,
            round=self.options.round, generated_at=self.options.generated_at,
        )
        return replace(ident, signature=identity.sign(ident.values(), key))

    def render(self, ident: Identity) -> bytes:
        values = {**ident.values(), "signature": ident.signature}
        # Custom properties must not be empty strings (some apps drop them), hence "-".
        cells = [(_token(k).encode(), escape(values[k]).encode("utf-8")) for k in PERSONAL_KEYS]
        props = [(_token(k).encode(), escape(values[k] or "-").encode("utf-8")) for k in PERSONAL_KEYS]
        out = io.BytesIO()
        # Held: a Ctrl-C inside zipfile can leave it marked as writing a part, and closing it then
        # raises ValueError in place of the KeyboardInterrupt (here, and again when it is
        # collected). A workbook takes about 2 ms; the Ctrl-C takes effect when it is done.
        with interrupt.held(), zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
            for name, date_time, data in self._parts:
                if name in self._personal:
                    for old, new in props if name == CUSTOM_PROPS_PART else cells:
                        data = data.replace(old, new)
                    for stand_in, key, width in self._heights[name]:
                        data = data.replace(stand_in, _height_attr(_value_height(values[key], width)))
                info = zipfile.ZipInfo(name, date_time)
                info.compress_type = zipfile.ZIP_DEFLATED
                z.writestr(info, data, compresslevel=1)
        return out.getvalue()


def _height_attr(points: float) -> bytes:
    """A row height as openpyxl writes it in a worksheet's XML."""
    return f'ht="{points:.10g}"'.encode()


# --- files ---------------------------------------------------------------------------------------

_WINDOWS_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(1, 10)), *(f"lpt{i}" for i in range(1, 10))}


def slug(text: str, limit: int = 60) -> str:
    """ASCII letters, digits and single dashes: safe in a file name on every OS."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    cleaned = re.sub(r"[^A-Za-z0-9]+", "-", ascii_text).strip("-")
    return cleaned[:limit].strip("-")


def workbook_filename(partnership: Partnership, taken: set[str]) -> str:
    base = f"{slug(partnership.id, 40) or 'partnership'}_{slug(partnership.name) or 'partnership'}"
    if base.split("_")[0].casefold() in _WINDOWS_RESERVED:
        base = "p-" + base
    name, n = base, 1
    # Case-insensitive: two names differing only in case collide on Windows and macOS.
    while name.casefold() in taken:
        n += 1
        name = f"{base}-{n}"
    taken.add(name.casefold())
    return name + ".xlsx"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def generate_blank(rubric: Rubric, out_dir: str | Path, options: Options, key: bytes) -> Generated:
    """One generic workbook: the respondent types the partnership's name."""
    out = Path(out_dir)
    private_dir(out)
    ident = Identity(rubric_id=rubric.id, rubric_version=rubric.version, rubric_hash=rubric.content_hash,
                     round=options.round, generated_at=options.generated_at)
    ident = replace(ident, signature=identity.sign(ident.values(), key))
    buf = io.BytesIO()
    build_workbook(rubric, ident, options, generic=True).save(buf)
    data = buf.getvalue()
    suffix = f"_{options.round}" if options.round else ""
    path = out / f"{slug(rubric.id)}{suffix}_blank.xlsx"
    write_private(path, data)
    return Generated(path, None, ident, _sha256(data))


def generate_workbooks(
    rubric: Rubric,
    partnerships: Iterable[Partnership],
    out_dir: str | Path,
    options: Options,
    key: bytes,
    progress: Callable[[Partnership], None] | None = None,
) -> list[Generated]:
    """One personalised, signed workbook per partnership."""
    out = Path(out_dir)
    private_dir(out)
    template = Template(rubric, options)
    taken: set[str] = set()
    results = []
    for p in partnerships:
        ident = template.identity_for(p, key)
        data = template.render(ident)
        path = out / workbook_filename(p, taken)
        write_private(path, data)
        results.append(Generated(path, p, ident, _sha256(data)))
        if progress is not None:
            progress(p)
    return results
