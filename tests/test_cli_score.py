from __future__ import annotations

import csv

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
    assert run("round", "open", "2026", "--roster", "roster.csv").exit_code == 0
    result = run("generate", "--round", "2026", "--out", "wb", "-s")
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
    assert not (home / "output").exists()  # everything under the data directory
    [run_folder] = (home / "data" / "scores").iterdir()  # one folder per run, named by its UTC time
    assert sorted(p.name for p in run_folder.iterdir()) == ["problems.csv", "summary.csv", "summary.xlsx"]
    with open(run_folder / "summary.csv", encoding="utf-8-sig") as fh:
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


def test_cli_score__same_folder_again__all_duplicates_exit_0_and_a_summary_of_its_own(home, issued_round):
    inbox = returned(home, issued_round, {0: upto("exploring")})
    assert run("score", str(inbox), "-s").exit_code == 0
    again = run("score", str(inbox), "-s")
    assert again.exit_code == 0
    assert "  duplicate       1" in again.output
    assert len(list((home / "data" / "scores").iterdir())) == 2  # the first run's summary is still there


def test_cli_score__folder_without_files__says_so_and_writes_nothing(home, issued_round):
    (home / "empty").mkdir()
    (home / "empty" / "~$lock.xlsx").write_bytes(b"x")
    result = run("score", "empty", "-s")
    assert result.exit_code == 0
    assert result.stdout == "No files to score in empty (1 skipped: lock or hidden files); nothing was written.\n"
    assert not (home / "data" / "scores").exists()


@pytest.mark.parametrize("args", [("score",), ("score", "missing-folder"), ("score", ".", "--round", "no spaces")])
def test_cli_score__usage_errors__exit_2(args):
    assert run(*args).exit_code == 2


def test_cli_score__round_given_differs__waits_in_review_suggesting_the_files_round(home, issued_round):
    assert run("round", "open", "2027", "--roster", "roster.csv").exit_code == 0
    inbox = returned(home, issued_round, {0: all_answers()})
    result = run("score", str(inbox), "--round", "2027", "-s")
    assert result.exit_code == 1
    assert f"{issued_round[0].name} (suggested: NE-IT): in review" in result.stdout
    assert "warning MG-REVIEW-004" in result.stdout
    listed = run("review", "--json")
    assert listed.exit_code == 1
    import json
    [item] = json.loads(listed.stdout)
    assert (item["reason_code"], item["suggested_partnership"], item["suggested_round"]) == ("MG-REVIEW-004", "NE-IT",
                                                                                           "2026")


def test_cli_score__round_never_opened__usage_error_exit_2(home, issued_round):
    inbox = returned(home, issued_round, {0: all_answers()})
    result = run("score", str(inbox), "--round", "2099", "-s")
    assert result.exit_code == 2
    assert "there is no round '2099'" in result.stderr


def test_cli_scores__lists_current_submissions_by_round(home, issued_round):
    inbox = returned(home, issued_round, {0: upto("operational"), 1: upto("exploring")})
    run("score", str(inbox), "-s")
    result = run("scores", "--round", "2026")
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert lines[0].split()[:4] == ["partnership", "name", "round", "status"]
    ne_it = next(line for line in lines if line.startswith("NE-IT"))
    assert "2026" in ne_it and "scored" in ne_it and "Operational" in ne_it
    assert run("scores", "--round", "1999").exit_code == 2
