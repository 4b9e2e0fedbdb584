"""A round's current state for Excel: one row per roster partnership, and every problem.

``matrixgen scores --round R --xlsx FILE`` / ``--csv FILE``. The status column is the one
``status.returns`` decides (scored, incomplete, rejected, in review, not returned); a second
sheet (or ``<name>-problems.csv``) lists each problem with partnership, criterion, cell, code and
message in columns of their own. Everything is formula-safe (sheets.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .sheets import Sheet, write_csv, write_xlsx
from .status import NOT_RETURNED, returns
from .store import Store
from .summary import SEVERITY_FILLS, STATUS_FILLS, stage_colours

BASE = ("partnership_id", "name", "region", "sector", "status", "overall_stage", "progress")
TAIL = ("received", "file", "report")
PROBLEM_COLUMNS = ("partnership_id", "criterion_id", "cell", "code", "severity", "message", "file")


@dataclass(frozen=True)
class Export:
    header: list[str]
    titles: list[str]
    rows: list[list[object]]
    problems: list[list[object]]
    stage_labels: list[str]
    links: dict[int, str]  # row index -> the report's file URL


def round_export(store: Store, round_label: str) -> Export:
    info = store.require_round(round_label)
    found = returns(store, round_label)
    rubric = store.rubric(info.rubric_hash) if info.rubric_hash else None
    if rubric is None:
        rubric = next(iter(store.rubrics().values()), None)
    dims = [(d.id, d.label) for d in rubric.dimensions] if rubric else []
    stage_names = {s.id: s.label for s in rubric.stages} if rubric else {}
    subs = [r.submission for r in found.values() if r.submission is not None]
    details = {d.info.pk: d for d in store.details([s.pk for s in subs])}
    reports = store.reports(round_label)
    rows, problems, links = [], [], {}
    for p in store.roster(round_label):
        pid = p.partnership_id or ""
        got = found.get(pid)
        status = got.status if got else NOT_RETURNED
        detail = details.get(got.submission.pk) if got and got.submission else None
        scored = detail is not None and status in ("scored", "incomplete")
        overall = detail.score("") if scored else None
        by_dim = {s.dimension_id: s for s in detail.scores} if scored else {}
        report = reports.get(pid)
        if report is not None and Path(report.path).exists():
            links[len(rows)] = Path(report.path).resolve().as_uri()
        rows.append([
            pid, p.name, p.region, p.sector, status,
            (stage_names.get(overall.stage_id, overall.stage_id) or "Not yet at a stage") if overall else "",
            overall.progress if overall and overall.possible else None,
            *((stage_names.get(by_dim[d].stage_id or "", by_dim[d].stage_id or "") or "Not yet"
               if d in by_dim else "") for d, _ in dims),
            detail.info.received_at if detail else "", detail.info.file_name if detail else "",
            Path(report.path).name if report is not None else "",
        ])
        if detail is not None:
            criterion_at = {a.cell: a.criterion_id for a in detail.answers}
            for x in detail.problems:
                if x.severity.value == "note":
                    continue
                problems.append([pid, criterion_at.get(x.location, ""), x.location if "!" in x.location else "",
                                 x.code, x.severity.value, x.message, detail.info.file_name])
        if got is not None and got.review is not None and got.review.decision_reason:
            problems.append([pid, "", "", got.review.reason_code, "error", got.review.decision_reason,
                             got.review.file])
    header = [*BASE, *(d for d, _ in dims), *TAIL]
    titles = [*(c.replace("_", " ") for c in BASE), *(label for _, label in dims), *TAIL]
    return Export(header, titles, rows, problems, [s.label for s in rubric.stages] if rubric else [], links)


def write_export(export: Export, path: str | Path) -> list[Path]:
    """``.xlsx``: two sheets; anything else: CSV, with the problems in ``<stem>-problems.csv`` beside it."""
    path = Path(path)
    at = export.header.index("progress")
    if path.suffix.lower() == ".xlsx":
        stages = stage_colours(export.stage_labels)
        colours = {i: STATUS_FILLS if c == "status" else stages for i, c in enumerate(export.header)
                   if c in ("status", "overall_stage") or i > at and c not in TAIL}
        widths = [12, 40, 16, 20, 13, 16, 10, *([16] * (len(export.header) - len(BASE) - len(TAIL))), 20, 40, 34]
        report_col = export.header.index("report")
        return [write_xlsx(path, [
            Sheet("Partnerships", export.titles, export.rows, widths, colours, percent=at,
                  links={(r, report_col): url for r, url in export.links.items()}),
            Sheet("Problems", [c.replace("_", " ") for c in PROBLEM_COLUMNS], export.problems,
                  [12, 12, 16, 14, 10, 100, 40], {4: SEVERITY_FILLS}),
        ])]
    rows = [[*r[:at], "" if r[at] is None else f"{100 * float(r[at]):.1f}", *r[at + 1:]] for r in export.rows]
    second = path.with_name(f"{path.stem}-problems.csv")
    return [write_csv(path, export.header, rows), write_csv(second, list(PROBLEM_COLUMNS), export.problems)]
