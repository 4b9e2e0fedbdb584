from __future__ import annotations

import io
import time
import warnings
import zipfile
from pathlib import Path

import openpyxl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import (
    ALPHA, ASSESSMENT_PART, BAD_KINDS, FIXTURE_KEY, FIXTURES, KEY, RUBRIC, RUBRICS, all_answers, bad_file, edit_part,
    parts_of, set_cell_xml, upto, zip_parts,
)
from matrixgen.read import parts as read_parts
from matrixgen.read import workbook as read_workbook_module
from matrixgen.read import Kind, Limits, read_workbook, skip_reason
from matrixgen.score import score
from matrixgen.simulate import Respondent, fill


def read(data: bytes, name: str = "return.xlsx", **kw):
    return read_workbook(data, name, RUBRICS, KEY, **kw)


def codes(result) -> list[str]:
    return [p.code for p in result.problems]


def labels(result) -> dict[str, str | None]:
    return {a.criterion_id: a.response.label if a.response else None for a in result.answers}


def with_openpyxl(data: bytes, edit) -> bytes:
    """Open, change and save with openpyxl: how a person's edits (and another app's save) look."""
    wb = openpyxl.load_workbook(io.BytesIO(data))
    edit(wb)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


# --- a clean return --------------------------------------------------------------------------------


def test_read__clean_return__verified_identity_answers_and_respondent(issued):
    data = fill(issued["alpha"], upto("emerging"), Respondent("Ann Example", "Convener", "ann@example.org", "2026-02-10"))
    result = read(data)
    assert not result.rejected and result.problems == ()
    assert result.kind is Kind.XLSX
    assert result.verified and result.identity.partnership_id == "NE-IT"
    assert result.identity_source == "hidden sheet, properties, Partnership sheet"
    assert result.rubric is RUBRIC
    assert labels(result) == {cid: label for cid, (label, _) in upto("emerging").items()}
    assert result.answers[0].cell == "Assessment!E4"
    assert result.respondent == {"respondent_name": "Ann Example", "respondent_role": "Convener",
                                 "respondent_email": "ann@example.org", "completed_on": "2026-02-10"}


def test_read__retyped_answers_and_numbers__fold_to_the_scale(issued):
    typed = all_answers()
    typed.update({"EE-1": (" met ", ""), "EE-2": ("MET", ""), "EE-3": ("In  Progress", ""), "EE-4": ("yes", ""),
                  "OC-1": (1, ""), "OC-2": (0.5, ""), "OC-3": ("0", ""), "NC-1": ("\u00a0Not yet", "")})
    result = read(fill(issued["alpha"], typed))
    found = labels(result)
    assert (found["EE-1"], found["EE-2"], found["EE-3"], found["EE-4"]) == ("Met", "Met", "In progress", "Met")
    assert (found["OC-1"], found["OC-2"], found["OC-3"], found["NC-1"]) == ("Met", "In progress", "Not yet", "Not yet")
    assert result.problems == ()


def test_read__blank_answers__each_reported_at_its_cell(issued):
    answers = all_answers()
    answers["EE-2"] = (None, "")
    answers["SC-1"] = ("", "")
    result = read(fill(issued["alpha"], answers))
    assert not result.rejected and result.incomplete
    assert [(p.code, p.location) for p in result.problems] == [
        ("MG-READ-021", "Assessment!E5"), ("MG-READ-021", "Assessment!E20")]


def test_read__answer_off_the_scale__error_at_its_cell_not_zero(issued):
    answers = all_answers()
    answers["NC-2"] = ("Mett", "")
    result = read(fill(issued["alpha"], answers))
    assert result.incomplete
    assert [(p.code, p.location) for p in result.problems] == [("MG-READ-022", "Assessment!E12")]
    answer = next(a for a in result.answers if a.criterion_id == "NC-2")
    assert answer.raw == "Mett" and answer.response is None


def test_read__formula_in_a_response_cell__cached_value_never_used(issued):
    data = edit_part(fill(issued["alpha"], all_answers()), ASSESSMENT_PART,
                     lambda b: set_cell_xml(b, "E4", b' t="str"><f>"Met"</f><v>Met</v></c>'))
    result = read(data)
    assert [(p.code, p.location) for p in result.problems] == [("MG-READ-023", "Assessment!E4")]
    assert labels(result)["EE-1"] is None


@pytest.mark.parametrize("inner", [b'><x:f>"Met"</x:f><v>Met</v></c>', b'><f\t/><v>Met</v></c>'])
def test_read__formula_tag_prefixed_or_spaced__still_found(issued, inner):
    data = edit_part(fill(issued["alpha"], all_answers()), ASSESSMENT_PART, lambda b: set_cell_xml(b, "E4", inner))
    assert [(p.code, p.location) for p in read(data).problems] == [("MG-READ-023", "Assessment!E4")]


@given(st.lists(st.sampled_from([b"<", b"f", b":", b"x", b" ", b">", b"/", b"\t", b"\x0b", b"_", b"<f", b":f"]),
                max_size=12).map(b"".join))
def test_read__formula_tag_search__same_as_the_regex(body):
    assert read_parts._has_formula_tag(body) == bool(read_parts.HAS_FORMULA.search(body))


@pytest.mark.parametrize("body", [
    b'<r><p name="a">x<b>y</b>z<!-- c -->w</p>tail<p>q</p>'
    b'<p xmlns:n="u" n:name="zz" name="k"><![CDATA[<x>]]>&amp;&#65;</p></r>',
    b'<?xml version="1.0" encoding="UTF-8"?>\n<r>\n <p name="a"> s </p>\n</r>',
    b'<r/>', b'<r><p name="a"><q><r2>deep</r2></q></p></r>', '<r><p name="\u00e9">\u00fc</p></r>'.encode("utf-16"),
    b'<r><p name="a">x</p>', b'', b'<r>&undefined;</r>', b'<!DOCTYPE r [<!ENTITY e "x">]><r>&e;</r>', b'<r><x:p/></r>',
])
def test_read__top_elements__same_as_the_tree_defusedxml_builds(body):
    def outcome(fn):
        try:
            return fn(body)
        except Exception as exc:  # the same exception type either way
            return type(exc).__name__
    tree = outcome(lambda b: [(p.get("name", ""), "".join(p.itertext())) for p in read_parts.xml(b)])
    assert outcome(read_parts.top_elements) == tree


ZIP_FIELDS = ("filename", "flag_bits", "compress_type", "CRC", "compress_size", "file_size", "header_offset")


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(edits=st.lists(st.tuples(st.integers(1, 600), st.integers(0, 255)), min_size=1, max_size=4),
       cut=st.integers(0, 40), extra=st.binary(max_size=30))
def test_read__zip_directory_read_directly__same_entries_as_zipfile_or_left_to_it(issued, edits, cut, extra):
    """The fast central-directory reader either agrees with zipfile field for field or steps aside."""
    data = bytearray(fill(issued["alpha"], all_answers()))
    for back, value in edits:  # damage near the end, where the directory is
        data[-back] = value
    data = bytes(data[:len(data) - cut]) + extra
    fast = read_parts._plain_entries(data)
    if fast is None:
        return
    slow = zipfile.ZipFile(io.BytesIO(data)).infolist()
    assert [[getattr(e, f) for f in ZIP_FIELDS] + [e.is_dir()] for e in fast] == \
           [[getattr(e, f) for f in ZIP_FIELDS] + [e.is_dir()] for e in slow]


def test_read__zip_from_another_writer__read_through_zipfile(issued):
    data = fill(issued["alpha"], all_answers())
    with_comment = zip_parts(parts_of(data))[:-2] + b"\x05\x00hello"  # an archive comment
    assert read_parts._plain_entries(data) is not None and read_parts._plain_entries(with_comment) is None
    assert labels(read(with_comment)) == labels(read(data))


# --- found by id and header, wherever they are ----------------------------------------------------------


def test_read__rows_and_columns_inserted_above_and_before__same_answers_new_cells(issued):
    original = fill(issued["alpha"], upto("operational"))

    def edit(wb):
        ws = wb["Assessment"]
        ws.insert_rows(1, 2)
        ws.insert_cols(1)
    result = read(with_openpyxl(original, edit))
    assert labels(result) == labels(read(original))
    assert result.answers[0].cell == "Assessment!F6"
    assert result.verified and result.problems == ()


def test_read__rows_resorted__answers_follow_their_ids(issued):
    original = fill(issued["alpha"], upto("exploring"))

    def edit(wb):
        ws = wb["Assessment"]
        rows = [[c.value for c in ws[r]] for r in range(4, 21)]
        for r, values in zip(range(4, 21), reversed(rows)):
            for col, value in enumerate(values, start=1):
                ws.cell(r, col).value = value
    result = read(with_openpyxl(original, edit))
    assert labels(result) == labels(read(original))
    assert next(a.cell for a in result.answers if a.criterion_id == "EE-1") == "Assessment!E20"


def test_read__sheets_renamed_and_reordered__found_by_content(issued):
    original = fill(issued["alpha"], upto("emerging"))

    def edit(wb):
        wb["Assessment"].title = "Our answers"
        wb["_matrixgen"].title = "meta"
        wb.move_sheet("Our answers", offset=-2)
    result = read(with_openpyxl(original, edit))
    assert labels(result) == labels(read(original))
    assert result.answers[0].cell == "'Our answers'!E4"
    assert result.verified


def test_read__row_deleted__missing_id_reported_and_incomplete(issued):
    data = with_openpyxl(fill(issued["alpha"], all_answers()), lambda wb: wb["Assessment"].delete_rows(6))
    result = read(data)
    assert [(p.code, p.location) for p in result.problems] == [("MG-READ-018", "Assessment")]
    assert "EE-3" not in labels(result) and result.incomplete


def test_read__duplicated_row_with_other_answer__conflict_error(issued):
    def edit(wb):
        ws = wb["Assessment"]
        ws.append(["EE-1", "", "", "", "Not yet", ""])
    result = read(with_openpyxl(fill(issued["alpha"], all_answers()), edit))
    assert [(p.code, p.location) for p in result.problems] == [("MG-READ-019", "Assessment!E4")]
    assert labels(result)["EE-1"] is None and result.incomplete


def test_read__duplicated_row_with_same_answer__warning_only(issued):
    def edit(wb):
        wb["Assessment"].append(["EE-1", "", "", "", "met", ""])
    result = read(with_openpyxl(fill(issued["alpha"], all_answers()), edit))
    assert codes(result) == ["MG-READ-024"]
    assert labels(result)["EE-1"] == "Met" and not result.incomplete


def test_read__unknown_id_row__warning_and_ignored(issued):
    def edit(wb):
        wb["Assessment"].append(["ZZ-9", "", "", "", "Met", ""])
    result = read(with_openpyxl(fill(issued["alpha"], all_answers()), edit))
    assert [(p.code, p.location) for p in result.problems] == [("MG-READ-020", "Assessment!A21")]
    assert not result.incomplete


def test_read__header_renamed__no_table_rejected(issued):
    data = with_openpyxl(fill(issued["alpha"], all_answers()), lambda wb: setattr(wb["Assessment"]["E3"], "value", "Answer"))
    assert codes(read(data))[-1] == "MG-READ-017"


# --- identity ---------------------------------------------------------------------------------------------


def test_read__properties_dropped_by_another_app__still_verified_with_a_note(issued):
    parts = parts_of(fill(issued["alpha"], all_answers()))
    del parts["docProps/custom.xml"]
    result = read(zip_parts(parts))
    assert result.verified and codes(result) == ["MG-READ-030"]


def test_read__generic_blank_with_typed_name__unverified_and_identified_by_it(issued):
    data = fill(issued["blank"], all_answers(), typed={"Partnership name": "Lakeshore Alliance", "Region": "Northwest"})
    result = read(data)
    assert not result.rejected and not result.verified
    assert result.identity_source == "typed name"
    assert (result.identity.partnership_id, result.identity.partnership_name, result.identity.region) == (
        "", "Lakeshore Alliance", "Northwest")
    assert [(p.code, p.location) for p in result.problems] == [("MG-READ-029", "Partnership!B4")]


def test_read__generic_blank_without_a_name__incomplete_at_the_name_cell(issued):
    result = read(fill(issued["blank"], all_answers()))
    assert [(p.code, p.location) for p in result.problems] == [("MG-READ-028", "Partnership!B4")]
    assert result.incomplete


def test_read__older_rubric_version_known__scored_with_that_version(issued):
    name, data, _ = bad_file("wrong_rubric", issued)
    from conftest import _rubric_v2
    old = _rubric_v2()
    result = read_workbook(data, name, {**RUBRICS, old.content_hash: old}, KEY)
    assert not result.rejected and result.rubric is old


# --- bad files, one by one (the batch tests check the rest of a batch still scores) ------------------


@pytest.mark.parametrize("kind", BAD_KINDS)
def test_read__bad_file__rejected_with_its_code(issued, kind):
    name, data, code = bad_file(kind, issued)
    result = read(data, name)
    assert result.rejected
    assert codes(result)[-1] == code


def test_read__encrypted_workbook__rejected_with_password_hint(issued):
    name, data, _ = bad_file("encrypted", issued)
    result = read(data, name)
    assert result.kind is Kind.ENCRYPTED
    assert "password" in result.problems[0].message and result.problems[0].location == name


def test_read__oversized_file__rejected_before_reading(issued):
    result = read(fill(issued["alpha"], all_answers()), limits=Limits(max_bytes=1000))
    assert codes(result) == ["MG-READ-002"]


def test_read__slower_than_the_time_budget__rejected(issued, monkeypatch):
    monkeypatch.setattr(read_workbook_module._Reader, "_read_xlsx", lambda self: time.sleep(2))
    started = time.perf_counter()
    result = read(fill(issued["alpha"], all_answers()), limits=Limits(seconds=0.05))
    assert codes(result) == ["MG-READ-015"]
    assert time.perf_counter() - started < 1


@pytest.mark.parametrize("name, code", [("~$NE-IT.xlsx", "MG-READ-031"), (".DS_Store", "MG-READ-032"), ("ok.xlsx", None)])
def test_read__lock_and_hidden_files__skipped_with_a_note(name, code):
    found = skip_reason(Path(name))
    assert (found.code if found else None) == code


# --- files re-saved by other apps -------------------------------------------------------------------------


@pytest.mark.parametrize("app", ["libreoffice", "gnumeric"])
@pytest.mark.parametrize("which", ["signed", "generic"])
def test_read__fixture_resaved_by_another_app__scores_exactly_as_its_original(app, which):
    def read_fixture(name):
        result = read_workbook((FIXTURES / name).read_bytes(), name, RUBRICS, FIXTURE_KEY)
        assert not result.rejected, result.problems
        return result
    original, resaved = read_fixture(f"{which}_original.xlsx"), read_fixture(f"{which}_{app}.xlsx")
    assert score(RUBRIC, resaved.responses()) == score(RUBRIC, original.responses())
    assert [(a.criterion_id, a.raw, a.evidence, a.cell) for a in resaved.answers] == [
        (a.criterion_id, a.raw, a.evidence, a.cell) for a in original.answers]
    assert resaved.identity == original.identity and resaved.verified == original.verified
    assert resaved.respondent == original.respondent
    assert [p.code for p in resaved.problems] == [p.code for p in original.problems]


@pytest.mark.parametrize("app", ["libreoffice", "gnumeric"])
def test_read__fixture_resaved_by_another_app__keeps_dropdown_and_properties(app):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Gnumeric writes no default style; openpyxl says so
        wb = openpyxl.load_workbook(FIXTURES / f"signed_{app}.xlsx")
    validations = wb["Assessment"].data_validations.dataValidation
    assert [(str(v.sqref), v.formula1) for v in validations] == [("E4:E20", "MG_Responses")]
    assert {p.name for p in wb.custom_doc_props.props} >= {"matrixgen_signature", "matrixgen_partnership_id"}


# --- the round trip -----------------------------------------------------------------------------------------

SPELLINGS = st.sampled_from([lambda s: s, str.upper, str.lower, str.title, lambda s: f"  {s} ", lambda s: s.replace(" ", "  ")])
ANSWER = st.one_of(st.none(), st.tuples(st.sampled_from([r.label for r in RUBRIC.responses]), SPELLINGS))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.fixed_dictionaries({c.id: ANSWER for c in RUBRIC.criteria}))
def test_read__round_trip_generate_fill_read_score__equals_the_rule(issued, drawn):
    typed = {cid: (spell(label), "") if v is not None else (None, "") for cid, v in drawn.items()
             for label, spell in [v if v is not None else ("", None)]}
    expected = {cid: RUBRIC.response(v[0]) if v is not None else None for cid, v in drawn.items()}
    result = read(fill(issued["alpha"], typed))
    assert not result.rejected
    assert result.responses() == expected
    assert score(RUBRIC, result.responses()) == score(RUBRIC, expected)
    assert result.incomplete == any(v is None for v in drawn.values())
