from __future__ import annotations

import subprocess
import sys

import pytest
from click.testing import CliRunner

from matrixgen import __version__
from matrixgen.cli import main
from matrixgen.rubric import default_rubric_path, load_rubric

HEADER = "id,name,region,sector,contact_name,contact_email\n"


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("MATRIXGEN_HOME", str(tmp_path / "data"))
    monkeypatch.delenv("MATRIXGEN_SECRET", raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run(*args):
    return CliRunner().invoke(main, list(args))


def test_cli__version__prints_and_exits_0():
    result = run("--version")
    assert result.exit_code == 0
    assert result.output == f"matrixgen, version {__version__}\n"


@pytest.mark.parametrize("args", [["-h"], ["--help"], ["rubric", "-h"], ["rubric", "check", "-h"],
                                  ["rubric", "show", "-h"], ["generate", "-h"], ["demo", "-h"]])
def test_cli__help__every_command_answers_h(args):
    result = run(*args)
    assert result.exit_code == 0 and result.output.startswith("Usage: ")


def test_cli__python_m__runs_the_same_cli():
    done = subprocess.run([sys.executable, "-m", "matrixgen", "--version"], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout == f"matrixgen, version {__version__}\n"


def test_cli__rubric_check_default__ok_line():
    r = load_rubric().rubric
    result = run("rubric", "check")
    assert result.exit_code == 0
    assert result.output == (f"ok: indiana-sector-partnership-stages version 2017-12-06: 4 stages, 8 dimensions, "
                             f"17 criteria, 3 responses; hash {r.short_hash}\n")


def test_cli__rubric_check_bad_file__every_error_and_exit_1(tmp_path):
    bad = tmp_path / "bad.toml"
    text = default_rubric_path().read_text()
    bad.write_text(text.replace('stage = "operational"', 'stage = "operationl"', 2))
    result = run("rubric", "check", str(bad))
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert lines[0].startswith("error: bad.toml: dimensions[0].criteria[2].stage: 'operationl' is not a stage; "
                               "stages are exploring, emerging, operational, sustainable [MG-RUBRIC-004]")
    assert lines[1].startswith("error: bad.toml: dimensions[1].criteria[2].stage:")
    assert lines[-1] == "2 error(s), 0 warning(s)"


def test_cli__rubric_show__matrix_table_and_criteria():
    result = run("rubric", "show")
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert lines[2].split() == ["Dimension", "Exploring", "Emerging", "Operational", "Sustainable"]
    assert lines[4].split() == ["Employer", "Driven/Industry", "Engagement", "EE-1", "EE-2", "EE-3", "EE-4"]
    assert lines[-1] == "Answers: Met (1, met); In progress (0.5); Not yet (0)"


def test_cli__generate_blank_no_round_open__a_blank_without_a_round_and_no_round_made(home):
    result = run("generate", "--blank", "--out", "blank")
    assert result.exit_code == 0
    assert result.stdout == "Wrote a generic blank (no round): blank/indiana-sector-partnership-stages_blank.xlsx\n"
    assert result.stderr == "Created a new store at data/matrixgen.db\n"
    assert (home / "data" / "secret.key").exists()
    assert run("round", "list").stdout == "No rounds yet: open one with `matrixgen round open LABEL --roster roster.csv`.\n"


def test_cli__generate_blank__for_the_newest_open_round_by_default(home):
    (home / "roster.csv").write_text(HEADER + "A1,Alpha,North,IT,,\n")
    assert run("round", "open", "2025", "--roster", "roster.csv").exit_code == 0
    assert run("round", "open", "2026", "--roster", "roster.csv").exit_code == 0
    result = run("generate", "--blank")
    assert result.exit_code == 0
    assert result.stdout == (f"Wrote a generic blank for round 2026: "
                             f"{home / 'data' / 'blank' / '2026' / 'indiana-sector-partnership-stages_2026_blank.xlsx'}\n")


def test_cli__generate_round_never_opened__error_says_how_to_open_it_and_no_round_made(home):
    (home / "roster.csv").write_text(HEADER + "A1,Alpha,North,IT,,\n")
    assert run("round", "open", "2026", "--roster", "roster.csv").exit_code == 0
    result = run("generate", "--round", "2099")
    assert result.exit_code == 2
    assert "there is no round '2099' (known: 2026); open it with `matrixgen round open 2099 --roster roster.csv`" \
        in result.stderr
    assert [line.split()[0] for line in run("round", "list").stdout.splitlines()[1:]] == ["2026"]


def test_cli__generate_with_roster__one_workbook_per_partnership(home):
    (home / "roster.csv").write_text(HEADER + "A1,Alpha,North,IT,,\nB2,Beta,South,Health,,\n")
    result = run("generate", "--roster", "roster.csv", "--out", "out", "-s")
    assert result.exit_code == 0
    assert result.stdout == "Wrote 2 workbooks to out/\n"
    assert sorted(p.name for p in (home / "out").iterdir()) == ["A1_Alpha.xlsx", "B2_Beta.xlsx"]


def test_cli__generate_opened_round__its_roster_under_the_data_directory(home):
    (home / "roster.csv").write_text(HEADER + "A1,Alpha,North,IT,,\nB2,Beta,South,Health,,\n")
    assert run("round", "open", "2026", "--roster", "roster.csv").exit_code == 0
    result = run("generate", "-s")
    assert result.exit_code == 0
    folder = home / "data" / "blank" / "2026"
    assert result.stdout == f"Wrote 2 workbooks for round 2026 to {folder}/\n"
    assert result.stderr == "Round 2026 (the newest open round; --round chooses another)\n"
    assert sorted(p.name for p in folder.iterdir()) == ["A1_Alpha.xlsx", "B2_Beta.xlsx"]


def test_cli__generate_bad_roster__all_errors_nothing_written_exit_1(home):
    (home / "roster.csv").write_text(HEADER + ",Alpha,,,,\nB2,,,,,\n")
    result = run("generate", "--roster", "roster.csv", "--out", "out")
    assert result.exit_code == 1
    assert result.output == (
        "error: roster.csv line 2: 'id' is empty; every partnership needs an id and a name [MG-ROSTER-003]\n"
        "error: roster.csv line 3: 'name' is empty; every partnership needs an id and a name [MG-ROSTER-003]\n"
        "No workbooks written: fix the roster and run again.\n")
    assert not (home / "out").exists()


def test_cli__generate_bad_round_label__usage_error_exit_2():
    result = run("generate", "--round", "2026/fall")
    assert result.exit_code == 2
    assert "Invalid value for '--round': '2026/fall'" in result.output


def test_imports__status_and_mail__never_load_openpyxl():
    code = ("import sys, matrixgen.status, matrixgen.mail, matrixgen.cli.rounds, matrixgen.cli.mail\n"
            "print('openpyxl' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
