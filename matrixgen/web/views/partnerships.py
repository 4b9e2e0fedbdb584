"""Partnerships: the list, one partnership's history across rounds with a stage-per-round chart,
its submissions (the original file exactly as received), problems and reports, and a report shown
as a web page from the same view model and templates as the PDF."""

from __future__ import annotations

import re
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from starlette.responses import FileResponse, HTMLResponse, Response

from ..app import TEMPLATES, Ctx, Page
from ..permissions import ORIGINALS
from ..security import CSP_REPORT

REPORT_STYLES = ("fonts.css", "variables.css", "report.css")  # not page.css: pages are for paper
_report_env: Environment | None = None


def index(ctx: Ctx) -> Response:
    text = ctx.request.query_params.get("q", "").strip()
    found = [p for p in ctx.store.partnerships()
             if not text or text.casefold() in f"{p.partnership_id} {p.name} {p.region} {p.sector}".casefold()]
    return ctx.render("partnerships.html", partnerships=found, text=text)


def _stage_chart(rows: list[dict], stages: list[str]) -> dict | None:
    """An SVG line chart of the overall stage in each round (0 = not yet at a stage)."""
    points = [r for r in rows if r["level"] is not None]
    if not points:
        return None
    left, top, step_y, step_x = 128, 12, 26, 90
    width = left + 40 + step_x * max(len(points) - 1, 1)
    levels = ["Not yet at a stage", *stages]
    dots = [{"x": left + 20 + i * step_x, "y": top + step_y * (len(levels) - 1 - r["level"]), "round": r["round"],
             "stage": levels[r["level"]]} for i, r in enumerate(points)]
    return {"width": width, "height": top + step_y * (len(levels) - 1) + 34, "left": left,
            "grid": [{"y": top + step_y * (len(levels) - 1 - i), "label": label} for i, label in enumerate(levels)],
            "dots": dots, "line": " ".join(f"{d['x']},{d['y']}" for d in dots), "base": top + step_y * (len(levels) - 1),
            "alt": "Overall stage by round: " + "; ".join(f"{d['round']} {d['stage']}" for d in dots) + "."}


def partnership(ctx: Ctx) -> Response:
    pid = ctx.params["pid"]
    info = ctx.store.partnership(pid)
    if info is None:
        return ctx.error(404, "No such partnership", f"There is no partnership {pid!r}.")
    history = ctx.store.history(pid)
    details = {d.info.pk: d for d in ctx.store.details([s.pk for s in history])}
    rubric = ctx.web.rubric
    stage_ids = [s.id for s in rubric.stages]
    labels: dict[str, dict[str, str]] = {}

    def stage_of(s) -> str:
        if s.status == "rejected":
            return ""
        if s.rubric_hash and s.rubric_hash not in labels:
            found = ctx.store.rubric(s.rubric_hash)
            labels[s.rubric_hash] = {st.id: st.label for st in found.stages} if found else {}
        return labels.get(s.rubric_hash or "", {}).get(s.overall_stage or "", "") or "Not yet at a stage"

    rounds = [r for r in reversed(ctx.store.rounds())]  # oldest first
    per_round = []
    for r in rounds:
        current = next((s for s in history if s.round_label == r.label and s.current), None)
        report = ctx.store.reports(r.label).get(pid)
        level = None
        if current is not None and current.status != "rejected":
            level = stage_ids.index(current.overall_stage) + 1 if current.overall_stage in stage_ids else 0
        if current is not None or report is not None or any(s.round_label == r.label for s in history):
            per_round.append({"round": r.label, "current": current, "stage": stage_of(current) if current else "",
                              "level": level, "report": report is not None and Path(report.path).is_file()})
    return ctx.render("partnership.html", p=info, history=history, details=details, per_round=per_round,
                      chart=_stage_chart(per_round, [s.label for s in rubric.stages]), stage_of=stage_of)


def _env() -> Environment:
    global _report_env
    if _report_env is None:  # the report's own templates, set up as report.render sets them up
        _report_env = Environment(loader=FileSystemLoader(str(TEMPLATES / "report")), autoescape=True,
                                  undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    return _report_env


def report_html(ctx: Ctx) -> Response:
    from ...report import load_reports, partnership_context

    pid, label = ctx.params["pid"], ctx.params["label"]
    loaded = load_reports(ctx.store, label, [pid])
    if not loaded.ok or not loaded.reports:
        return ctx.error(404, "No report", f"{pid} has no current submission in round {label}, so there is no "
                                           "report to show.")
    html = _env().get_template("partnership.html").render(partnership_context(loaded.reports[0]))
    # The report's own page, with our stylesheets linked and a bar back into the app. The markup the
    # report template wrote is otherwise untouched (what respondents typed in it is escaped).
    links = "".join(f'<link rel="stylesheet" href="/static/report/{name}">' for name in REPORT_STYLES)
    links += ('<link rel="stylesheet" href="/static/report-web.css"><link rel="icon" href="/static/favicon.svg" '
              'type="image/svg+xml"><meta name="viewport" content="width=device-width">')
    html = html.replace("</head>", links + "</head>", 1)
    bar = ctx.web.env.get_template("report_bar.html").render(pid=pid, label=label, name=loaded.reports[0].partnership.name)
    html = re.sub(r"(<body[^>]*>)", lambda m: m.group(1) + bar, html, count=1)
    html = html.replace('<div class="running-footer">', '<main id="report"><div class="running-footer">', 1)
    html = html.replace("</body>", "</main></body>", 1)
    return HTMLResponse(html, headers={"content-security-policy": CSP_REPORT})


def report_pdf(ctx: Ctx) -> Response:
    from ...report import render_missing_reports

    pid, label = ctx.params["pid"], ctx.params["label"]
    if ctx.store.round(label) is None:
        return ctx.error(404, "No report", f"There is no round {label!r}.")
    # A report that is missing or older than the submission is rendered first, as `send reports` does.
    made = render_missing_reports(ctx.store, label, ctx.web.data_dir / "reports", [pid], workers=1)
    failed = [p for f in made if not f.ok for p in f.problems]
    found = ctx.store.reports(label).get(pid)
    if found is None or not Path(found.path).is_file():
        why = "; ".join(str(p) for p in failed) or f"{pid} has no current submission in round {label}."
        return ctx.error(404, "No report", why)
    return FileResponse(found.path, filename=Path(found.path).name, media_type="application/pdf")


def original(ctx: Ctx) -> Response:
    """The file as the respondent sent it, byte for byte (from the archive)."""
    detail = ctx.store.submission(int(ctx.params["pk"]))
    if detail is None:
        return ctx.error(404, "Not found", "There is no such submission.")
    path = Path(detail.info.archive_path)
    if not path.is_file():
        return ctx.error(404, "Not in the archive", f"The archive copy of {detail.info.file_name} is missing.")
    name = detail.info.file_name.replace("\\", "/").rsplit("/", 1)[-1] or path.name
    return FileResponse(path, filename=name, media_type="application/octet-stream")


PAGES = [
    Page("/partnerships", index),
    Page("/partnerships/{pid}", partnership),
    Page("/partnerships/{pid}/rounds/{label}/report", report_html),
    Page("/partnerships/{pid}/rounds/{label}/report.pdf", report_pdf),
    Page("/submissions/{pk:int}/original", original, permission=ORIGINALS),
]
