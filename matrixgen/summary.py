"""A scoring run -> summary.csv, summary.xlsx (for people) and problems.csv.

Text that came from a respondent (file names, typed partnership names, answers quoted in
messages) is written so that no spreadsheet app runs it as a formula: in the CSV files a cell
starting with = + - @ tab or CR gets a leading apostrophe; in the xlsx every text cell is
stored as text, never as a formula.
"""

from __future__ import annotations

import csv
from pathlib import Path

from .batch import BatchResult

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")  # what spreadsheet apps may run as a formula
BASE_COLUMNS = ("file", "sha256", "status", "partnership_id", "partnership_name", "round", "overall_stage", "progress")
TAIL_COLUMNS = ("current", "errors", "warnings")
PROBLEM_COLUMNS = ("file", "code", "severity", "location", "message")

# Stage colours, lowest stage first (light to dark green); status colours for the status column.
STAGE_FILLS = ("E2EFDA", "C6E0B4", "A9D08E", "70AD47")
STATUS_FILLS = {"scored": "C6EFCE", "incomplete": "FFEB9C", "rejected": "F8CBAD", "duplicate": "EDEDED"}
HEADER_FILL, HEADER_FONT = "1F3A5F", "FFFFFF"


def safe_text(value: str) -> str:
    """A CSV cell no spreadsheet app will run as a formula."""
    return "'" + value if value.startswith(FORMULA_START) else value


def summary_rows(result: BatchResult) -> tuple[list[str], list[list[object]]]:
    """Header and rows of the summary, values as they should appear (progress as a 0..1 fraction)."""
    header = [*BASE_COLUMNS, *(d for d, _ in result.dimensions), *TAIL_COLUMNS]
    rows = []
    for o in result.outcomes:
        rows.append([
            o.file, o.sha256, o.status, o.partnership_id, o.partnership_name, o.round_label, o.overall_stage,
            o.progress, *(o.dimension_stages.get(d, "") for d, _ in result.dimensions),
            "yes" if o.current else "no",
            sum(1 for p in o.problems if p.severity.value == "error"),
            sum(1 for p in o.problems if p.severity.value == "warning"),
        ])
    return header, rows


def problem_rows(result: BatchResult) -> list[list[str]]:
    return [[file or p.location, p.code, p.severity.value, p.location, p.message] for file, p in result.problems]


def write_outputs(result: BatchResult, out_dir: str | Path, stage_labels: list[str] | None = None) -> list[Path]:
    """Write the three files; returns their paths. ``stage_labels`` (lowest first) colours stages."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    header, rows = summary_rows(result)
    written = [out / "summary.csv", out / "summary.xlsx", out / "problems.csv"]
    _write_csv(written[0], header, [[_csv_value(c, header[i]) for i, c in enumerate(r)] for r in rows])
    _write_xlsx(written[1], result, header, rows, stage_labels or [])
    _write_csv(written[2], list(PROBLEM_COLUMNS), problem_rows(result))
    return written


def _csv_value(value: object, column: str) -> object:
    if column == "progress":
        return "" if value is None else f"{100 * float(value):.1f}"  # type: ignore[arg-type]
    return safe_text(value) if isinstance(value, str) else value


def _write_csv(path: Path, header: list[str], rows: list[list[object]]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    # utf-8-sig: Excel opens it with the right encoding on a double-click.
    with tmp.open("w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows([[safe_text(c) if isinstance(c, str) else c for c in row] for row in rows])
    tmp.replace(path)


def _write_xlsx(path: Path, result: BatchResult, header: list[str], rows: list[list[object]],
                stage_labels: list[str]) -> None:
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.formatting.rule import CellIsRule
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    # Colours come from conditional formats on whole columns, not per-cell styles: a thousand
    # rows stay fast to write, and a row edited by hand is still coloured right.
    wb = Workbook(write_only=True)
    head_fill, head_font = PatternFill("solid", fgColor=HEADER_FILL), Font(bold=True, color=HEADER_FONT)
    names = dict(result.dimensions)

    def text_safe(ws, value):
        """Plain values, except text that looks like a formula: stored as text, never run."""
        if isinstance(value, str) and value.startswith("="):
            c = WriteOnlyCell(ws, value=value)
            c.data_type = "s"
            return c
        return value

    def sheet(title, columns, body, widths):
        ws = wb.create_sheet(title)
        ws.freeze_panes = "B2"
        for i, width in enumerate(widths, start=1):
            ws.column_dimensions[get_column_letter(i)].width = width
        last = f"{get_column_letter(len(columns))}{len(body) + 1}"
        ws.auto_filter.ref = f"A1:{last}"
        return ws

    def heading(ws, columns):
        cells = []
        for name in columns:
            c = WriteOnlyCell(ws, value=name)
            c.data_type, c.fill, c.font = "s", head_fill, head_font
            c.alignment = Alignment(wrap_text=True, vertical="top")
            cells.append(c)
        ws.append(cells)

    def colour(ws, column: int, values: dict[str, str], count: int):
        letter = get_column_letter(column + 1)
        for value, fill in values.items():
            ws.conditional_formatting.add(f"{letter}2:{letter}{max(count, 1) + 1}", CellIsRule(
                operator="equal", formula=['"' + value.replace('"', '""') + '"'],
                fill=PatternFill("solid", fgColor=fill, bgColor=fill)))

    titles = [names.get(h, h.replace("_", " ")) for h in header]
    widths = [min(48, max(10, len(str(t)) + 2)) for t in titles]
    widths[0], widths[1], widths[2], widths[4] = 44, 16, 12, 36
    ws = sheet("Summary", titles, rows, widths)
    stage_fills = {label: STAGE_FILLS[min(i, len(STAGE_FILLS) - 1)] for i, label in enumerate(stage_labels)}
    for i, column in enumerate(header):
        if column == "overall_stage" or column in names:
            colour(ws, i, stage_fills, len(rows))
        elif column == "status":
            colour(ws, i, STATUS_FILLS, len(rows))
    heading(ws, titles)
    progress_at = header.index("progress")
    for row in rows:
        out = [text_safe(ws, v) for v in row]
        if row[progress_at] is not None:
            c = WriteOnlyCell(ws, value=row[progress_at])
            c.number_format = "0.0%"
            out[progress_at] = c
        ws.append(out)

    problems = problem_rows(result)
    ws = sheet("Problems", [c.replace("_", " ") for c in PROBLEM_COLUMNS], problems, [44, 14, 10, 28, 100])
    colour(ws, 2, {"error": "F8CBAD", "warning": "FFEB9C"}, len(problems))
    heading(ws, [c.replace("_", " ") for c in PROBLEM_COLUMNS])
    for row in problems:
        ws.append([text_safe(ws, v) for v in row])
    tmp = path.with_name(f".{path.name}.tmp")
    wb.save(tmp)
    tmp.replace(path)
