"""summary.xlsx: written without openpyxl, read back here with it as a person's spreadsheet app would."""

from __future__ import annotations

import subprocess
import sys

import openpyxl
import pytest
import python_calamine

from matrixgen.batch import BatchResult, Outcome
from matrixgen.errors import problem
from matrixgen.summary import STAGE_FILLS, STATUS_FILLS, write_outputs

STAGES = ["Exploring", "Emerging", "Operational", "Sustainable"]
DIMENSIONS = [("ee", "Employer Engagement"), ("oc", "Organizational Capacity")]


def result_of(*outcomes: Outcome) -> BatchResult:
    return BatchResult(list(outcomes), [problem("MG-READ-031", "~$a.xlsx")], DIMENSIONS)


def load(tmp_path, result: BatchResult):
    written = write_outputs(result, tmp_path / "out", STAGES)
    return openpyxl.load_workbook(written[1])


def test_summary_xlsx__header_widths_panes_filters__formatted_for_people(tmp_path):
    wb = load(tmp_path, result_of(
        Outcome("a.xlsx", "ab" * 32, 10, "scored", "P1", "One", "2026", "Emerging", 0.5, {"ee": "Emerging", "oc": ""}),
        Outcome("b.xlsx", "cd" * 32, 10, "rejected", problems=(problem("MG-READ-001", "b.xlsx"),)),
    ))
    assert wb.sheetnames == ["Summary", "Problems"]
    ws = wb["Summary"]
    assert [c.value for c in ws[1]] == ["file", "sha256", "status", "partnership id", "partnership name", "round",
                                        "overall stage", "progress", "Employer Engagement", "Organizational Capacity",
                                        "current", "errors", "warnings"]
    head = ws["A1"]
    assert (head.font.b, head.font.color.rgb, head.fill.fgColor.rgb) == (True, "00FFFFFF", "001F3A5F")
    assert (head.alignment.wrap_text, head.alignment.vertical) == (True, "top")
    assert [ws.column_dimensions[c].width for c in "ABCE"] == [44, 16, 12, 36]
    assert ws.column_dimensions["I"].width == len("Employer Engagement") + 2
    assert (ws.freeze_panes, ws.auto_filter.ref) == ("B2", "A1:M3")
    assert (ws["H2"].value, ws["H2"].number_format) == (0.5, "0.0%")
    assert ws["H3"].value is None and ws["J2"].value is None  # not scored / not yet at a stage: empty
    assert (ws["L3"].value, ws["K2"].value) == (1, "no")
    problems = wb["Problems"]
    assert [c.value for c in problems[2]] == ["~$a.xlsx", "MG-READ-031", "note", "~$a.xlsx", problems["E2"].value]
    assert problems.auto_filter.ref == "A1:E3" and problems.freeze_panes == "B2"


def colour_rules(ws) -> dict[str, list[tuple[str, str]]]:
    return {str(cf.sqref): [(rule.formula[0], rule.dxf.fill.fgColor.rgb[2:]) for rule in cf.rules]
            for cf in ws.conditional_formatting}


def test_summary_xlsx__status_stage_and_severity_columns__coloured_by_rules(tmp_path):
    wb = load(tmp_path, result_of(Outcome("a.xlsx", "ab" * 32, 10, "scored")))
    rules = colour_rules(wb["Summary"])
    stage_rules = [(f'"{label}"', fill) for label, fill in zip(STAGES, STAGE_FILLS)]
    assert rules == {"C2": [(f'"{s}"', fill) for s, fill in STATUS_FILLS.items()],
                     "G2": stage_rules, "I2": stage_rules, "J2": stage_rules}
    assert colour_rules(wb["Problems"]) == {"C2": [('"error"', "F8CBAD"), ('"warning"', "FFEB9C")]}


@pytest.mark.parametrize("text", ["=HYPERLINK(\"http://x\")", "  padded  ", "a\r\nb\tc", "<b>&amp;</b>", "-1", "@x"])
def test_summary_xlsx__respondent_text__stored_as_the_same_text_never_a_formula(tmp_path, text):
    wb = load(tmp_path, result_of(Outcome(text, "ab" * 32, 10, "scored", partnership_name=text)))
    cell = wb["Summary"]["E2"]
    assert (cell.value, cell.data_type) == (text, "s")
    assert wb["Summary"]["A2"].value == text


def test_summary_xlsx__control_characters__written_as_excel_escapes(tmp_path):
    written = write_outputs(result_of(Outcome("bell\x07.xlsx", "ab" * 32, 10, "scored")), tmp_path / "out", STAGES)
    openpyxl.load_workbook(written[1])  # the raw character would make the sheet XML unreadable
    # Excel (and calamine) turn _x0007_ back into the character; openpyxl shows the escape as it is.
    book = python_calamine.CalamineWorkbook.from_path(str(written[1]))
    assert book.get_sheet_by_name("Summary").to_python()[1][0] == "bell\x07.xlsx"


def test_score__summary_outputs__written_without_importing_openpyxl(tmp_path):
    code = (
        "import sys\n"
        "from matrixgen import cli, batch, summary\n"
        "from matrixgen.batch import BatchResult, Outcome\n"
        f"summary.write_outputs(BatchResult([Outcome('a.xlsx', 'x', 1, 'scored')], [], []), {str(tmp_path)!r})\n"
        "print(sorted(m for m in ('openpyxl', 'numpy') if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
