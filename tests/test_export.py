"""The round export (scores --xlsx/--csv) and the spreadsheets matrixgen writes: one row per roster
partnership, every problem in columns of its own, nothing a spreadsheet app would run."""

from __future__ import annotations

import csv
import zipfile

import openpyxl
import pytest
from python_calamine import CalamineWorkbook
from click.testing import CliRunner

from conftest import ALPHA, BETA, KEY, RUBRIC, all_answers, bad_file, upto
from matrixgen.batch import score_paths
from matrixgen.cli import main
from matrixgen.roster import Partnership
from matrixgen.sheets import Sheet, write_xlsx
from matrixgen.simulate import fill
from matrixgen.store import Store

NONE_YET = Partnership("SE-HC", "=Ohio River Health Careers", "Southeast", "Health care", "Rosa", "rosa@example.org")


@pytest.fixture
def round_2026(tmp_path, monkeypatch, issued):
    """NE-IT scored, WC-AG incomplete ('Mett' and a blank), SE-HC not returned, a rejected file."""
    monkeypatch.setenv("MATRIXGEN_HOME", str(tmp_path / "data"))
    monkeypatch.delenv("MATRIXGEN_DB", raising=False)
    monkeypatch.chdir(tmp_path)
    store = Store.open(tmp_path / "data" / "matrixgen.db")
    store.open_round("2026", [ALPHA, BETA, NONE_YET])
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "ne.xlsx").write_bytes(fill(issued["alpha"], upto("emerging")))
    answers = all_answers()
    answers["EE-2"] = ("Mett", "")
    answers["OC-1"] = (None, "")
    (inbox / "wc.xlsx").write_bytes(fill(issued["beta"], answers))
    (inbox / "printout.pdf").write_bytes(bad_file("pdf", issued)[1])
    score_paths([inbox], store, RUBRIC, KEY, tmp_path / "archive", workers=0)
    return store


def test_cli_scores_xlsx__one_row_per_roster_partnership_and_a_problems_sheet(tmp_path, round_2026):
    result = CliRunner().invoke(main, ["scores", "--round", "2026", "--xlsx", "round.xlsx"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("Wrote round.xlsx\nRound 2026: 3 partnerships on the roster, ")
    book = openpyxl.load_workbook(tmp_path / "round.xlsx")
    assert book.sheetnames == ["Partnerships", "Problems"]
    rows = list(book["Partnerships"].values)
    header = rows[0]
    assert header[:7] == ("partnership id", "name", "region", "sector", "status", "overall stage", "progress")
    assert header[-3:] == ("received", "file", "report") and len(header) == 7 + len(RUBRIC.dimensions) + 3
    by_id = {r[0]: dict(zip(header, r)) for r in rows[1:]}
    assert {pid: r["status"] for pid, r in by_id.items()} == {"NE-IT": "scored", "WC-AG": "incomplete",
                                                             "SE-HC": "not returned"}
    assert by_id["NE-IT"]["overall stage"] == "Emerging" and by_id["NE-IT"]["file"] == "ne.xlsx"
    assert by_id["SE-HC"]["name"] == "=Ohio River Health Careers"  # text, never a formula
    assert book["Partnerships"]["B4"].data_type == "s"
    problems = list(book["Problems"].values)
    assert problems[0] == ("partnership id", "criterion id", "cell", "code", "severity", "message", "file")
    errors = {(p[0], p[1], p[2], p[3]) for p in problems[1:] if p[4] == "error"}
    assert errors == {("WC-AG", "EE-2", "Assessment!E5", "MG-READ-022"), ("WC-AG", "OC-1", "Assessment!E8", "MG-READ-021")}
    assert {p[3] for p in problems[1:] if p[4] == "warning"} == {"MG-SCORE-002"}  # met after an unmet one


def test_cli_scores_csv__rows_and_problems_file_formula_safe(tmp_path, round_2026):
    result = CliRunner().invoke(main, ["scores", "--csv", "round.csv"])  # the newest open round
    assert result.exit_code == 0
    with open(tmp_path / "round.csv", encoding="utf-8-sig", newline="") as fh:
        rows = {r["partnership_id"]: r for r in csv.DictReader(fh)}
    assert rows["SE-HC"]["name"] == "'=Ohio River Health Careers" and rows["SE-HC"]["status"] == "not returned"
    assert rows["NE-IT"]["progress"] == f"{100 * 6 / 17:.1f}"  # the 6 Exploring and Emerging criteria of 17
    with open(tmp_path / "round-problems.csv", encoding="utf-8-sig", newline="") as fh:
        assert [r["code"] for r in csv.DictReader(fh) if r["severity"] == "error"] == ["MG-READ-022", "MG-READ-021"]


def test_cli_scores_xlsx__report_rendered__linked_from_its_row(tmp_path, round_2026):
    pdf = tmp_path / "data" / "reports" / "2026" / "report-2026-NE-IT.pdf"
    pdf.parent.mkdir(parents=True)
    pdf.write_bytes(b"%PDF-1.7\n")
    round_2026.record_report("2026", "NE-IT", pdf, "0" * 64)
    assert CliRunner().invoke(main, ["scores", "--xlsx", "round.xlsx"]).exit_code == 0
    sheet = openpyxl.load_workbook(tmp_path / "round.xlsx")["Partnerships"]
    [cell] = [c for c in sheet[2] if c.hyperlink is not None]
    assert cell.value == "report-2026-NE-IT.pdf" and cell.hyperlink.target == pdf.resolve().as_uri()


@pytest.mark.parametrize("text", ["_x003D_cmd.xlsx", "a_x0041_b", "_x000D_", "plain_x_text", "line\x01"])
def test_sheets__text_that_looks_like_an_escape__reads_back_unchanged(tmp_path, text):
    """Read back by python-calamine, which decodes ECMA-376's _xHHHH_ escapes as Excel does
    (openpyxl does not decode them in inline strings at all, so it cannot tell)."""
    path = write_xlsx(tmp_path / "t.xlsx", [Sheet("S", ["file"], [[text]], [20])])
    assert CalamineWorkbook.from_path(str(path)).get_sheet_by_index(0).to_python() == [["file"], [text]]
    with zipfile.ZipFile(path) as z:
        assert "cmd" not in text or "_x005F_x003D_cmd" in z.read("xl/worksheets/sheet1.xml").decode()
