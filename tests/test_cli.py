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


def test_cli__generate_without_roster__one_blank(home):
    result = run("generate", "--round", "2026", "--out", "blank")
    assert result.exit_code == 0
    assert result.output == "Wrote a blank workbook: blank/indiana-sector-partnership-stages_2026_blank.xlsx\n"
    assert (home / "data" / "secret.key").exists()


def test_cli__generate_with_roster__one_workbook_per_partnership(home):
    (home / "roster.csv").write_text(HEADER + "A1,Alpha,North,IT,,\nB2,Beta,South,Health,,\n")
    result = run("generate", "--roster", "roster.csv", "--round", "2026", "--out", "out", "-s")
    assert result.exit_code == 0
    assert result.output == "Wrote 2 workbooks for round 2026 to out/\n"
    assert sorted(p.name for p in (home / "out").iterdir()) == ["A1_Alpha.xlsx", "B2_Beta.xlsx"]


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
    assert "Invalid value for --round" in result.output
