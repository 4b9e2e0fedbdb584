from __future__ import annotations

import csv
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import all_answers, upto
from matrixgen.cli import main
from matrixgen.simulate import fill
from matrixgen.store import Store

ROSTER = ("id,name,region,sector,contact_name,contact_email\n"
          "NE-IT,Three Rivers Tech,Northeast,IT,Ann,ann@example.org\n"
          "WC-AG,Wabash Prairie Ag,West Central,Agriculture,Bo,bo@example.org\n")


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("MATRIXGEN_HOME", str(tmp_path / "data"))
    monkeypatch.delenv("MATRIXGEN_SECRET", raising=False)
    monkeypatch.delenv("MATRIXGEN_DB", raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run(*args):
    return CliRunner().invoke(main, list(args))


@pytest.fixture
def issued_round(home):
    (home / "roster.csv").write_text(ROSTER, encoding="utf-8")
    result = run("generate", "--roster", "roster.csv", "--round", "2026", "--out", "wb", "-s")
    assert result.exit_code == 0, result.output
    return sorted((home / "wb").glob("*.xlsx"))


def returned(home, issued_round, answers_by_index):
    inbox = home / "inbox"
    inbox.mkdir(exist_ok=True)
    for i, answers in answers_by_index.items():
        (inbox / issued_round[i].name).write_bytes(fill(issued_round[i].read_bytes(), answers))
    return inbox


def test_cli_generate__records_rubric_round_and_issued_workbooks(home, issued_round):
    store = Store.open(home / "data" / "matrixgen.db")
    assert [r.label for r in store.rounds()] == ["2026"]
    assert len(store.issued("2026")) == 2 and len(store.roster("2026")) == 2
    assert len(store.rubrics()) == 1


def test_cli_score__all_clean__exit_0_counts_and_three_files(home, issued_round):
    inbox = returned(home, issued_round, {0: upto("emerging"), 1: all_answers()})
    result = run("score", str(inbox), "-s")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0].startswith("2 files in ")
    assert "  scored          2" in result.output and "  rejected        0" in result.output
    for name in ("summary.csv", "summary.xlsx", "problems.csv"):
        assert (home / "output" / "scores" / name).exists()
    with open(home / "output" / "scores" / "summary.csv", encoding="utf-8-sig") as fh:
        rows = {r["partnership_id"]: r for r in csv.DictReader(fh)}
    assert rows["NE-IT"]["overall_stage"] == "Emerging" and rows["WC-AG"]["overall_stage"] == "Sustainable"
    assert rows["WC-AG"]["progress"] == "100.0"


def test_cli_score__incomplete_and_rejected__exit_1_problems_grouped_by_file(home, issued_round):
    answers = all_answers()
    answers["EE-2"] = ("Mett", "")
    inbox = returned(home, issued_round, {0: answers})
    (inbox / "old.pdf").write_bytes(b"%PDF-1.4\n")
    result = run("score", str(inbox), "--out", "out", "-s")
    assert result.exit_code == 1
    lines = result.output.splitlines()
    first = lines.index(f"{issued_round[0].name} (NE-IT): incomplete")
    assert lines[first + 1].startswith("  error MG-READ-022 Assessment!E5: 'Mett' is not an answer for EE-2")
    assert "old.pdf: rejected" in lines
    assert any(line.startswith("  error MG-READ-011 this is a PDF") for line in lines)


def test_cli_score__same_folder_again__all_duplicates_exit_0(home, issued_round):
    inbox = returned(home, issued_round, {0: upto("exploring")})
    assert run("score", str(inbox), "-s").exit_code == 0
    again = run("score", str(inbox), "-s")
    assert again.exit_code == 0
    assert "  duplicate       1" in again.output


@pytest.mark.parametrize("args", [("score",), ("score", "missing-folder"), ("score", ".", "--round", "no spaces")])
def test_cli_score__usage_errors__exit_2(args):
    assert run(*args).exit_code == 2


def test_cli_score__round_given_differs__warning_stored_under_the_files_round(home, issued_round):
    inbox = returned(home, issued_round, {0: all_answers()})
    result = run("score", str(inbox), "--round", "2027", "-s")
    assert result.exit_code == 0
    assert "warning MG-SCORE-003" in result.output


def test_cli_scores__lists_current_submissions_by_round(home, issued_round):
    inbox = returned(home, issued_round, {0: upto("operational"), 1: upto("exploring")})
    run("score", str(inbox), "-s")
    result = run("scores", "--round", "2026")
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert lines[0].split()[:4] == ["partnership", "name", "round", "status"]
    ne_it = next(line for line in lines if line.startswith("NE-IT"))
    assert "2026" in ne_it and "scored" in ne_it and "Operational" in ne_it
    assert run("scores", "--round", "1999").output.strip() == "Nothing stored for round 1999."


def test_cli_score__office_key_changed_since_issue__staff_told_last(home, issued_round, monkeypatch):
    inbox = returned(home, issued_round, {0: all_answers(), 1: all_answers()})
    monkeypatch.setenv("MATRIXGEN_SECRET", "k" * 32)  # not the key file the workbooks were signed with
    result = run("score", str(inbox), "-s")
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert lines[-3].startswith("warning: none of the 2 signed workbooks") and lines[-3].endswith("[MG-SCORE-004]")
    assert sum("MG-READ-027" in line for line in lines) == 2


def test_cli_score__secret_too_short__refused_saying_how_to_make_one(home, issued_round, monkeypatch):
    inbox = returned(home, issued_round, {0: all_answers()})
    monkeypatch.setenv("MATRIXGEN_SECRET", "x")
    result = run("score", str(inbox), "-s")
    assert result.exit_code == 1
    assert result.output.startswith("error: MATRIXGEN_SECRET: ") and "[MG-GEN-003]" in result.output
    assert "secrets.token_hex(32)" in result.output
