from __future__ import annotations

import gc
import io
import os
import random
import signal
import stat
import zipfile

import openpyxl
import pytest

from matrixgen import identity
from matrixgen.generate import (
    ASSESSMENT, ASSESSMENT_HEADER_ROW, ASSESSMENT_HEADERS, INSTRUCTIONS, MATRIX, META, META_KEYS, PARTNERSHIP,
    PROP_PREFIX, RESPONSE_LIST_NAME, Options, Template, build_workbook, generate_blank, generate_workbooks,
    workbook_filename,
)
from matrixgen.identity import Identity
from matrixgen.roster import Partnership
from matrixgen.rubric import load_rubric
from matrixgen.simulate import answers_for_level, fill

KEY = b"k" * 32
RUBRIC = load_rubric().rubric
OPTIONS = Options(round="2026", due="March 31, 2027", contact="sectors@example.gov", generated_at="2026-01-15T10:00:00Z")
ALPHA = Partnership("NE-IT", "Three Rivers Tech & <Talent>", "Northeast", "IT", "Ann", "ann@example.org")


@pytest.fixture(scope="module")
def issued(tmp_path_factory):
    out = tmp_path_factory.mktemp("wb")
    made = generate_workbooks(RUBRIC, [ALPHA], out, OPTIONS, KEY)
    return made[0]


def load(path):
    return openpyxl.load_workbook(path)


def meta_values(wb):
    ws = wb[META]
    return {ws.cell(r, 1).value: ws.cell(r, 2).value or "" for r in range(2, ws.max_row + 1) if ws.cell(r, 1).value}


def props(wb):
    return {p.name[len(PROP_PREFIX):]: ("" if p.value == "-" else p.value)
            for p in wb.custom_doc_props if p.name.startswith(PROP_PREFIX)}


def partnership_cells(wb):
    ws = wb[PARTNERSHIP]
    return {ws.cell(r, 1).value: ws.cell(r, 2) for r in range(1, ws.max_row + 1) if ws.cell(r, 1).value}


def assessment_rows(wb):
    ws = wb[ASSESSMENT]
    return [row for row in ws.iter_rows(min_row=ASSESSMENT_HEADER_ROW + 1) if row[0].value]


def test_generate__sheets__instructions_first_and_active_meta_hidden_not_first(issued):
    wb = load(issued.path)
    assert wb.sheetnames == [INSTRUCTIONS, PARTNERSHIP, ASSESSMENT, "Summary", MATRIX, META]
    assert wb.active.title == INSTRUCTIONS
    assert wb[META].sheet_state == "hidden"
    assert all(ws.sheet_state == "visible" for ws in wb.worksheets if ws.title != META)


def test_generate__assessment__every_criterion_once_in_stage_order(issued):
    wb = load(issued.path)
    ws = wb[ASSESSMENT]
    assert tuple(c.value for c in ws[ASSESSMENT_HEADER_ROW]) == ASSESSMENT_HEADERS
    ids = [row[0].value for row in assessment_rows(wb)]
    assert ids == [c.id for c in RUBRIC.criteria]
    stages = [row[2].value for row in assessment_rows(wb)]
    assert stages == [RUBRIC.stage(c.stage_id).label for c in RUBRIC.criteria]


def test_generate__response_cells__list_validation_with_stop_alert(issued):
    wb = load(issued.path)
    ws = wb[ASSESSMENT]
    (dv,) = ws.data_validations.dataValidation
    assert dv.type == "list" and dv.formula1 == RESPONSE_LIST_NAME
    assert dv.errorStyle == "stop" and dv.showErrorMessage and dv.showInputMessage
    cells = {str(c) for rng in dv.sqref.ranges for c in [rng.coord]}
    first, last = ASSESSMENT_HEADER_ROW + 1, ASSESSMENT_HEADER_ROW + len(RUBRIC.criteria)
    assert cells == {f"E{first}:E{last}"}
    # The list lives in a hidden range, not an inline string (those break past 255 characters).
    dn = wb.defined_names[RESPONSE_LIST_NAME]
    assert dn.attr_text == f"'{META}'!$D$2:$D$4"
    assert [wb[META][f"D{r}"].value for r in (2, 3, 4)] == ["Met", "In progress", "Not yet"]


def test_generate__protection__inputs_unlocked_everything_else_locked(issued):
    wb = load(issued.path)
    for ws in wb.worksheets:
        assert ws.protection.sheet, ws.title
    assert wb.security.lockStructure
    for row in assessment_rows(wb):
        assert [c.protection.locked for c in row] == [True, True, True, True, False, False]
    cells = partnership_cells(wb)
    for label in ("Partnership name", "Partnership ID", "Region", "Sector", "Round", "Signature"):
        assert cells[label].protection.locked, label
    for label in ("Respondent name", "Respondent role", "Respondent email", "Date completed"):
        assert not cells[label].protection.locked, label


def test_generate__identity__equal_in_all_three_places_and_signature_verifies(issued):
    wb = load(issued.path)
    meta, custom = meta_values(wb), props(wb)
    cells = {label: (c.value or "") for label, c in partnership_cells(wb).items()}
    assert set(meta) == set(META_KEYS) and set(custom) == set(META_KEYS)
    assert meta == custom
    assert cells["Partnership ID"] == meta["partnership_id"] == "NE-IT"
    assert cells["Partnership name"] == meta["partnership_name"] == "Three Rivers Tech & <Talent>"
    assert cells["Signature"] == meta["signature"]
    assert cells["Rubric hash"] == meta["rubric_hash"] == RUBRIC.content_hash
    assert meta["round"] == "2026" and meta["generated_at"] == "2026-01-15T10:00:00Z"
    values = {k: meta[k] for k in identity.FIELDS}
    assert identity.verify(values, meta["signature"], KEY)
    assert not identity.verify(values, meta["signature"], b"x" * 32)
    assert not identity.verify({**values, "partnership_id": "OTHER"}, meta["signature"], KEY)


def test_generate__template_copy__same_content_as_a_direct_build():
    template = Template(RUBRIC, OPTIONS)
    ident = template.identity_for(ALPHA, KEY)
    fast = openpyxl.load_workbook(io.BytesIO(template.render(ident)))
    buf = io.BytesIO()
    build_workbook(RUBRIC, ident, OPTIONS, generic=False).save(buf)
    slow = openpyxl.load_workbook(buf)
    for name in slow.sheetnames:
        a = [[c.value for c in row] for row in slow[name].iter_rows()]
        b = [[c.value for c in row] for row in fast[name].iter_rows()]
        assert a == b, name
    assert props(fast) == props(slow)


def test_generate__ctrl_c_as_a_part_is_opened__workbook_finished_then_keyboardinterrupt(monkeypatch, recwarn):
    template = Template(RUBRIC, OPTIONS)
    ident = template.identity_for(ALPHA, KEY)
    finished = template.render(ident)
    opened = []
    real_init = zipfile._ZipWriteFile.__init__

    def init(self, *args, **kwargs):  # a real Ctrl-C, after zipfile marked itself as writing a part
        opened.append(1)
        if len(opened) == 3:
            signal.raise_signal(signal.SIGINT)
        real_init(self, *args, **kwargs)

    monkeypatch.setattr(zipfile._ZipWriteFile, "__init__", init)
    with pytest.raises(KeyboardInterrupt):
        template.render(ident)
    assert len(opened) == len(zipfile.ZipFile(io.BytesIO(finished)).namelist())  # every part written first
    gc.collect()
    assert not [w for w in recwarn if "ZipFile" in str(w.message)]  # nothing left half-open to complain


def test_generate__workbook__is_a_clean_zip_with_no_leftover_tokens(issued):
    with zipfile.ZipFile(issued.path) as z:
        assert z.testzip() is None
        assert all(b"@@MG_" not in z.read(n) for n in z.namelist())


def test_generate__blank__name_typed_by_respondent_and_unverified_identity(tmp_path):
    made = generate_blank(RUBRIC, tmp_path, OPTIONS, KEY)
    wb = load(made.path)
    cells = partnership_cells(wb)
    assert not cells["Partnership name"].protection.locked
    assert cells["Partnership ID"].value is None
    meta = meta_values(wb)
    assert meta["partnership_id"] == "" and meta["rubric_hash"] == RUBRIC.content_hash
    assert identity.verify({k: meta[k] for k in identity.FIELDS}, meta["signature"], KEY)


def test_generate__preview_formulas__present_for_every_dimension_and_overall(issued):
    ws = load(issued.path)["Summary"]
    formulas = [c.value for c in ws["B"] if isinstance(c.value, str) and c.value.startswith("=")]
    assert len(formulas) == len(RUBRIC.dimensions) + 1
    assert all("Assessment!E" in f for f in formulas)


def test_generate__print_setup__landscape_fit_to_width_header_repeated(issued):
    ws = load(issued.path)[ASSESSMENT]
    assert ws.page_setup.orientation == "landscape"
    assert ws.sheet_properties.pageSetUpPr.fitToPage and ws.page_setup.fitToWidth == 1
    assert ws.print_title_rows == f"${ASSESSMENT_HEADER_ROW}:${ASSESSMENT_HEADER_ROW}"
    assert ws.freeze_panes == f"A{ASSESSMENT_HEADER_ROW + 1}"
    assert all(ws.row_dimensions[r].height for r in range(ASSESSMENT_HEADER_ROW + 1, ws.max_row + 1))


def test_generate__hostile_names__safe_unique_file_names(tmp_path):
    names = ["../../etc/passwd", "a:b\\c*?<>|", "🚀🚀🚀", "x" * 200, "CON", "Same", "Same", "same"]
    partnerships = [Partnership(f"P{i}", n) for i, n in enumerate(names)] + [Partnership("CON", "")]
    # "CON" as an id: the roster would reject an empty name, but the file name must still be safe.
    made = generate_workbooks(RUBRIC, partnerships, tmp_path, OPTIONS, KEY)
    files = [m.path.name for m in made]
    assert len({f.casefold() for f in files}) == len(files)
    for f in files:
        assert all(ch.isalnum() or ch in "._-" for ch in f), f
        assert len(f) <= 110 and not f.startswith(".")
        assert f.split(".")[0].split("_")[0].casefold() not in {"con", "prn", "aux", "nul"}
    assert all(m.path.parent == tmp_path for m in made)
    assert load(made[0].path)[PARTNERSHIP]["B4"].value == "../../etc/passwd"


def test_generate__file_names__case_insensitive_duplicates_numbered():
    taken: set[str] = set()
    assert workbook_filename(Partnership("A", "X"), taken) == "A_X.xlsx"
    assert workbook_filename(Partnership("a", "x"), taken) == "a_x-2.xlsx"


def test_generate__secret_key_file__created_once_mode_0600(tmp_path, monkeypatch):
    monkeypatch.delenv(identity.SECRET_ENV, raising=False)
    key = identity.load_key(tmp_path)
    path = tmp_path / identity.KEY_FILE
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert identity.load_key(tmp_path) == key and len(key) == 32


def test_generate__secret_from_environment__wins_over_file(tmp_path, monkeypatch):
    monkeypatch.setenv(identity.SECRET_ENV, "office secret of at least 32 bytes")
    assert identity.load_key(tmp_path) == b"office secret of at least 32 bytes"
    assert not (tmp_path / identity.KEY_FILE).exists()


def test_generate__filled_by_simulator__answers_land_in_response_and_evidence(issued):
    answers = answers_for_level(RUBRIC, 2.0, random.Random(3))
    wb = openpyxl.load_workbook(io.BytesIO(fill(issued.path.read_bytes(), answers)))
    got = {row[0].value: (row[4].value, row[5].value or "") for row in assessment_rows(wb)}
    assert got == answers


def test_generate__identity_dataclass__generic_when_no_partnership():
    assert Identity("r", "1", "h").generic and not Identity("r", "1", "h", partnership_id="A").generic


# --- row heights follow the text ---------------------------------------------------------------------------

LONG_NAME = ("Northeast Indiana Regional Advanced Manufacturing, Logistics and Health Sciences Workforce "
             "Sector Partnership Consortium of Employers and Educators and Friends")[:150]


def row_heights(wb, sheet, column):
    """label in ``column`` -> the height of its row (None: the app's default, fitted as typed)."""
    ws = wb[sheet]
    return {ws.cell(r, column).value: ws.row_dimensions[r].height for r in range(1, ws.max_row + 1)
            if ws.cell(r, column).value}


@pytest.fixture(scope="module")
def long_and_short(tmp_path_factory):
    """One template rendered for a partnership with a 150-character name and one with a short name."""
    made = generate_workbooks(RUBRIC, [Partnership("NE-AM", LONG_NAME, "Northeast", "Manufacturing"), ALPHA],
                              tmp_path_factory.mktemp("long"), OPTIONS, KEY)
    return [load(m.path) for m in made]


def test_generate__150_character_name__prepared_for_row_as_tall_as_its_two_lines(long_and_short):
    assert len(LONG_NAME) == 150
    long, short = (row_heights(wb, INSTRUCTIONS, 2) for wb in long_and_short)
    assert long["Prepared for"] >= 2 * 15 > short["Prepared for"]  # column C holds ~99 characters a line
    assert long["Round"] == short["Round"] == short["Prepared for"]


def test_generate__150_character_name__partnership_row_as_tall_as_its_three_lines_id_row_untouched(long_and_short):
    long, short = (row_heights(wb, PARTNERSHIP, 1) for wb in long_and_short)
    assert long["Partnership name"] >= 3 * 15  # column B holds ~70 characters a line
    assert short["Partnership name"] == long["Partnership ID"] == short["Partnership ID"] == 15
    assert partnership_cells(long_and_short[0])["Partnership name"].value == LONG_NAME


def test_generate__generic_blank__typed_rows_left_for_the_app_to_fit(tmp_path):
    wb = load(generate_blank(RUBRIC, tmp_path, OPTIONS, KEY).path)
    heights = row_heights(wb, PARTNERSHIP, 1)
    assert heights["Partnership name"] is None and heights["Region"] is None and heights["Round"] == 15
