from __future__ import annotations

import csv
import json
import os

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


LONG = ("Northeast Indiana Regional Advanced Manufacturing, Logistics and Health Sciences Workforce "
        "Sector Partnership Consortium of Employers and Educators and Friends")[:150]


@pytest.fixture
def long_name_scored(home):
    (home / "roster.csv").write_text(ROSTER.replace("Three Rivers Tech", f"\"{LONG}\""), encoding="utf-8")
    assert run("round", "open", "2026", "--roster", "roster.csv").exit_code == 0
    assert run("generate", "--round", "2026", "--out", "wb", "-s").exit_code == 0
    inbox = home / "inbox"
    inbox.mkdir()
    for i, path in enumerate(sorted((home / "wb").glob("*.xlsx"))):
        target = inbox / path.name
        target.write_bytes(fill(path.read_bytes(), upto("emerging") if i == 0 else all_answers()))
        os.utime(target, (1_790_000_000 + i, 1_790_000_000 + i))
    assert run("score", str(inbox), "-s").exit_code == 0


def test_cli_scores__150_character_name_on_120_columns__names_and_files_cut_to_fit(long_name_scored, monkeypatch):
    monkeypatch.setenv("COLUMNS", "120")
    result = run("scores", "--round", "2026")
    assert result.exit_code == 0
    assert result.output.splitlines() == [
        "partnership  name                 round  status  overall stage  progress  received          current  file",
        "NE-IT        Northeast Indiana …  2026   scored  Emerging       35%       2026-09-21 14:13  yes      NE-IT_Northeast-In…",
        "WC-AG        Wabash Prairie Ag    2026   scored  Sustainable    100%      2026-09-21 14:13  yes      WC-AG_Wabash-Prair…",
    ]


def test_cli_scores__output_to_a_file_or_pipe__nothing_cut(long_name_scored, monkeypatch):
    monkeypatch.delenv("COLUMNS", raising=False)
    result = run("scores", "--round", "2026")
    assert result.exit_code == 0 and f"  {LONG}  " in result.output


def test_cli_scores__json__a_list_of_objects_with_every_value_whole(long_name_scored):
    result = run("scores", "--round", "2026", "--json")
    assert result.exit_code == 0
    rows = json.loads(result.output)
    assert [list(r) for r in rows] == [["partnership_id", "name", "claimed_name", "round", "status", "overall_stage",
                                         "progress", "received_at", "current", "file"]] * 2
    assert rows[0]["name"] == LONG and rows[0]["received_at"] == "2026-09-21T14:13:20Z"
    assert (rows[1]["progress"], rows[1]["current"], rows[1]["overall_stage"]) == (100.0, True, "Sustainable")


def test_cli_scores__json_with_nothing_stored__an_empty_list(home):
    Store.open(home / "data" / "matrixgen.db").close()
    result = run("scores", "--json")
    assert result.exit_code == 0 and json.loads(result.output) == []


def test_cli_scores__mistyped_db__refused_naming_the_path_and_nothing_created(home):
    result = run("scores", "--db", "no-such-folder/x.db")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.startswith(f"error: {home / 'no-such-folder' / 'x.db'}: there is no store at ")
    assert not (home / "no-such-folder").exists()


def test_cli_round_open__new_store__says_where_once(home):
    (home / "roster.csv").write_text(ROSTER, encoding="utf-8")
    first = run("round", "open", "2026", "--roster", "roster.csv")
    again = run("round", "open", "2027", "--roster", "roster.csv")
    assert first.stderr == "Created a new store at data/matrixgen.db\n" and again.stderr == ""
