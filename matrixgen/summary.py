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

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
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
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    fills = {label: PatternFill("solid", fgColor=STAGE_FILLS[min(i, len(STAGE_FILLS) - 1)])
             for i, label in enumerate(stage_labels)}
    status_fills = {s: PatternFill("solid", fgColor=c) for s, c in STATUS_FILLS.items()}
    head_fill, head_font = PatternFill("solid", fgColor=HEADER_FILL), Font(bold=True, color=HEADER_FONT)
    names = {d: label for d, label in result.dimensions}
    stage_columns = {"overall_stage", *names}

    wb = Workbook(write_only=True)

    def cell(ws, value, *, fill=None, bold=False, number_format=None):
        c = WriteOnlyCell(ws, value=value)
        if isinstance(value, str):
            c.data_type = "s"  # text stays text: a respondent's '=...' is never a formula
        if fill is not None:
            c.fill = fill
        if bold:
            c.font = Font(bold=True)
        if number_format:
            c.number_format = number_format
        return c

    def sheet(title, columns, body, widths, styler):
        ws = wb.create_sheet(title)
        ws.freeze_panes = "B2"
        for i, width in enumerate(widths, start=1):
            ws.column_dimensions[get_column_letter(i)].width = width
        ws.auto_filter.ref = f"A1:{get_column_letter(len(columns))}{len(body) + 1}"
        heading = []
        for name in columns:
            c = WriteOnlyCell(ws, value=name)
            c.data_type, c.fill, c.font = "s", head_fill, head_font
            c.alignment = Alignment(wrap_text=True, vertical="top")
            heading.append(c)
        ws.append(heading)
        for row in body:
            ws.append([styler(ws, columns[i], v) for i, v in enumerate(row)])

    def summary_cell(ws, column, value):
        if column == "progress":
            return cell(ws, value, number_format="0.0%")
        if column == "status":
            return cell(ws, value, fill=status_fills.get(value), bold=True)
        if column in stage_columns and value:
            return cell(ws, value, fill=fills.get(value))
        return cell(ws, value)

    titles = [names.get(h, h.replace("_", " ")) for h in header]
    widths = [min(48, max(10, len(str(t)) + 2)) for t in titles]
    widths[0], widths[1], widths[4] = 44, 16, 36
    sheet("Summary", titles, rows, widths, summary_cell)
    sheet("Problems", [c.replace("_", " ") for c in PROBLEM_COLUMNS], problem_rows(result), [44, 14, 10, 28, 100],
          lambda ws, _column, value: cell(ws, value))
    tmp = path.with_name(f".{path.name}.tmp")
    wb.save(tmp)
    tmp.replace(path)
