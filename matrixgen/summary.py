"""A scoring run -> summary.csv, summary.xlsx (for people) and problems.csv, in a folder of its own.

Each run writes into ``<out>/<UTC time of the run>/``, so one run never overwrites another's
summary; a run with no files writes nothing. Everything is formula-safe (sheets.py).
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from .batch import BatchResult
from .files import private_dir
from .sheets import Sheet, safe_text, write_csv, write_xlsx

__all__ = ["run_folder", "safe_text", "summary_rows", "problem_rows", "write_outputs"]
BASE_COLUMNS = ("file", "sha256", "status", "partnership_id", "partnership_name", "round", "overall_stage", "progress")
TAIL_COLUMNS = ("current", "errors", "warnings")
PROBLEM_COLUMNS = ("file", "code", "severity", "location", "message")

# Stage colours, lowest stage first (light to dark green); status colours for the status column.
STAGE_FILLS = ("E2EFDA", "C6E0B4", "A9D08E", "70AD47")
STATUS_FILLS = {"scored": "C6EFCE", "incomplete": "FFEB9C", "rejected": "F8CBAD", "review": "BDD7EE",
                "in review": "BDD7EE", "duplicate": "EDEDED", "not returned": "EDEDED"}


def run_folder(out_dir: str | Path, started: datetime | None = None) -> Path:
    """A new folder under ``out_dir`` named by the run's UTC time (a suffix if two runs share a second)."""
    stamp = (started or datetime.now(timezone.utc)).strftime("%Y-%m-%dT%H-%M-%SZ")
    out = private_dir(out_dir)
    for n in range(1, 1000):
        folder = out / (stamp if n == 1 else f"{stamp}-{n}")
        try:
            folder.mkdir(mode=0o700)
            return folder
        except FileExistsError:
            continue
    raise FileExistsError(f"{out}: too many runs at {stamp}")


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
    """Write the three files into ``out_dir`` (see ``run_folder``); returns their paths.
    ``stage_labels`` (lowest first) colours stages."""
    out = private_dir(out_dir)
    header, rows = summary_rows(result)
    at = header.index("progress")  # as a percentage in the CSV
    names = dict(result.dimensions)
    titles = [names.get(h, h.replace("_", " ")) for h in header]
    widths = [min(48, max(10, len(str(t)) + 2)) for t in titles]
    widths[0], widths[1], widths[2], widths[4] = 44, 16, 12, 36
    stage_fills = stage_colours(stage_labels or [])
    colours = {i: STATUS_FILLS if column == "status" else stage_fills for i, column in enumerate(header)
               if column in ("status", "overall_stage") or column in names}
    return [
        write_csv(out / "summary.csv", header, [[*r[:at], _percent(r[at]), *r[at + 1:]] for r in rows]),
        write_xlsx(out / "summary.xlsx", [
            Sheet("Summary", titles, rows, widths, colours, percent=at),
            Sheet("Problems", [c.replace("_", " ") for c in PROBLEM_COLUMNS], problem_rows(result),
                  [44, 14, 10, 28, 100], {2: SEVERITY_FILLS}),
        ]),
        write_csv(out / "problems.csv", list(PROBLEM_COLUMNS), problem_rows(result)),
    ]


SEVERITY_FILLS = {"error": "F8CBAD", "warning": "FFEB9C"}


def stage_colours(stage_labels: list[str]) -> dict[str, str]:
    return {label: STAGE_FILLS[min(i, len(STAGE_FILLS) - 1)] for i, label in enumerate(stage_labels)}


def _percent(value: object) -> str:
    return "" if value is None else f"{100 * float(value):.1f}"  # type: ignore[arg-type]
