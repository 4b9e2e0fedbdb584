"""Rounds: the list with a bar of returns each, opening one from a roster CSV, a round's status
(sortable and filterable), closing and reopening, and the round's downloads."""

from __future__ import annotations

import os
import tempfile
import zipfile
from html import escape
from pathlib import Path
from urllib.parse import quote

from markupsafe import Markup

from starlette.background import BackgroundTask
from starlette.datastructures import UploadFile
from starlette.responses import FileResponse, Response

from ...files import valid_label
from ...roster import parse_roster
from ...status import STATES, round_status, round_summaries
from ..app import Ctx, Page
from ..permissions import CHANGE

ROSTER_MAX = 5 * 1024 * 1024
COLUMNS = (  # (key, heading): the status table, as `matrixgen status` prints it
    ("partnership_id", "Partnership"), ("name", "Name"), ("issued_at", "Issued"), ("sent_at", "Sent"),
    ("reminded_at", "Reminded"), ("returned_at", "Returned"), ("status", "Status"),
    ("overall_stage", "Overall stage"), ("report_sent_at", "Report sent"),
)
SORTABLE = {key for key, _ in COLUMNS}


def rounds_page(ctx: Ctx, problems: list | None = None, form: dict | None = None, status: int = 200) -> Response:
    summaries = round_summaries(ctx.store)
    bars = []
    for r in summaries:
        width = 240
        parts, x = [], 0.0
        for key, count in (("scored", r.scored), ("incomplete", r.incomplete), ("rejected", r.rejected),
                           ("review", r.in_review)):
            w = width * count / r.roster if r.roster else 0
            if w:
                parts.append({"kind": key, "x": round(x, 1), "w": round(w, 1)})
            x += w
        bars.append({"round": r, "parts": parts, "width": width})
    return ctx.render("rounds.html", http_status=status, bars=bars, problems=problems or [],
                      form=form or {"label": "", "due": ""})


def open_round(ctx: Ctx) -> Response:
    label, due = ctx.field("label"), ctx.field("due")
    upload = ctx.form.get("roster") if ctx.form else None
    form = {"label": label, "due": due}
    if not valid_label(label):
        return rounds_page(ctx, [f"{label!r} cannot be a round label: use a letter or digit, then letters, digits, "
                                 "'.', '_' and '-' (e.g. 2026 or 2026-fall)."], form, 400)
    if not isinstance(upload, UploadFile) or not upload.filename:
        return rounds_page(ctx, ["Choose the roster: a CSV file with the columns id, name, region, sector, "
                                 "contact_name and contact_email."], form, 400)
    data = upload.file.read(ROSTER_MAX + 1)
    if len(data) > ROSTER_MAX:
        return rounds_page(ctx, ["The roster is larger than 5 MB; is it the right file?"], form, 400)
    result = parse_roster(data, upload.filename.replace("\\", "/").rsplit("/", 1)[-1][:100] or "roster.csv")
    if not result.valid:
        return rounds_page(ctx, [str(p) for p in result.problems], form, 400)
    existed = ctx.store.round(label) is not None
    change = ctx.store.open_round(label, result.partnerships, due or None)
    verb = "updated" if existed else "opened"
    ctx.audit(f"round {verb}", label, f"{len(result.partnerships)} partnerships ({len(change.added)} added, "
                                      f"{len(change.removed)} removed)")
    return ctx.redirect(f"/rounds/{label}", f"Round {label} {verb}: {len(result.partnerships)} partnerships on "
                                            f"the roster ({len(change.added)} added, {len(change.removed)} removed).")


def round_page(ctx: Ctx) -> Response:
    label = ctx.params["label"]
    info = ctx.store.round(label)
    if info is None:
        return ctx.error(404, "No such round", f"There is no round {label!r}.")
    status = round_status(ctx.store, label)
    q = ctx.request.query_params
    sort = q.get("sort", "partnership_id") if q.get("sort") in SORTABLE else "partnership_id"
    descending = q.get("dir") == "desc"
    only = q.get("status", "")
    text = q.get("q", "").strip().casefold()
    rows = [r for r in status.rows if (not only or r.status == only)
            and (not text or text in r.partnership_id.casefold() or text in r.name.casefold())]
    rows.sort(key=lambda r: (getattr(r, sort) or "", r.partnership_id), reverse=descending)
    # The rows as HTML, made here with every value escaped: a thousand rows of template calls and
    # per-value escaping cost more than the query behind them (the round page must stay well
    # under 300 ms for a round of 1,000 partnerships).
    body = Markup("".join(ROW.format(
        href=quote(r.partnership_id, safe=""), pid=escape(r.partnership_id), name=escape(r.name),
        issued=escape(r.issued_at[:10]) or "–",
        sent=(f'<span class="warn">failed {escape(r.send_failed)}</span>' if r.send_failed and not r.sent_at
              else _when(r.sent_at)),
        reminded=_when(r.reminded_at), returned=_when(r.returned_at), status=escape(r.status),
        kind=escape(r.status.replace(" ", "-")), stage=escape(r.overall_stage) or "–",
        reported=_when(r.report_sent_at)) for r in rows))
    return ctx.render("round.html", status=status, info=info, body=body, columns=COLUMNS, sort=sort,
                      descending=descending, only=only, text=q.get("q", ""), states=STATES, totals=status.totals(),
                      shown=len(rows))


def _when(iso: str) -> str:
    return escape(iso[:16].replace("T", " ")) if iso else "–"


ROW = ('<tr><th scope="row"><a href="/partnerships/{href}">{pid}</a></th><td>{name}</td><td>{issued}</td>'
       '<td>{sent}</td><td>{reminded}</td><td>{returned}</td><td><span class="badge s-{kind}">{status}</span></td>'
       '<td>{stage}</td><td>{reported}</td></tr>\n')


def close_round(ctx: Ctx) -> Response:
    return _set_state(ctx, "close")


def reopen_round(ctx: Ctx) -> Response:
    return _set_state(ctx, "reopen")


def _set_state(ctx: Ctx, state: str) -> Response:
    label = ctx.params["label"]
    if ctx.store.round(label) is None:
        return ctx.error(404, "No such round", f"There is no round {label!r}.")
    info = ctx.store.set_round_state(label, "closed" if state == "close" else "open")
    ctx.audit(f"round {state}", label)
    said = (f"Round {label} closed: returns that arrive now wait in review as late." if info.state == "closed"
            else f"Round {label} is open again.")
    return ctx.redirect(f"/rounds/{label}", said)


# --- downloads -----------------------------------------------------------------------------------

def _temp_file(suffix: str) -> Path:
    fd, name = tempfile.mkstemp(prefix="matrixgen-", suffix=suffix)  # 0600
    os.close(fd)
    return Path(name)


def _download(path: Path, name: str, media: str) -> FileResponse:
    """The file, then deleted: downloads are made for the request that asks."""
    return FileResponse(path, filename=name, media_type=media, background=BackgroundTask(path.unlink, missing_ok=True))


def export(ctx: Ctx) -> Response:
    from ...export import round_export, write_export

    label, kind = ctx.params["label"], ctx.params["kind"]
    if ctx.store.round(label) is None or kind not in ("xlsx", "csv", "problems.csv"):
        return ctx.error(404, "Not found", "There is no such round or download.")
    made = round_export(ctx.store, label)
    with tempfile.TemporaryDirectory(prefix="matrixgen-") as folder:
        written = write_export(made, Path(folder) / f"round-{label}.{'xlsx' if kind == 'xlsx' else 'csv'}")
        wanted = written[1] if kind == "problems.csv" else written[0]
        target = _temp_file(wanted.suffix)
        os.replace(wanted, target)
    media = ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" if kind == "xlsx"
             else "text/csv; charset=utf-8")
    return _download(target, wanted.name, media)


def reports_zip(ctx: Ctx) -> Response:
    from ...report import report_path

    label = ctx.params["label"]
    if ctx.store.round(label) is None:
        return ctx.error(404, "No such round", f"There is no round {label!r}.")
    files = [Path(r.path) for r in ctx.store.reports(label).values() if Path(r.path).is_file()]
    portfolio = report_path(ctx.web.data_dir / "reports", label, None)
    if portfolio.is_file():
        files.append(portfolio)
    if not files:
        return ctx.error(404, "No reports yet", f"No report of round {label} has been rendered yet. "
                                                "Render them from the round's page first.")
    target = _temp_file(".zip")
    with zipfile.ZipFile(target, "w", zipfile.ZIP_STORED) as z:  # PDFs are compressed already
        for f in sorted(files):
            z.write(f, f.name)
    return _download(target, f"reports-{label}.zip", "application/zip")


def blank(ctx: Ctx) -> Response:
    """The round's generic blank, for a partnership to type its name on; made on first request."""
    from ...generate import Options, generate_blank

    label = ctx.params["label"]
    info = ctx.store.round(label)
    if info is None:
        return ctx.error(404, "No such round", f"There is no round {label!r}.")
    made = [w for w in ctx.store.issued(label) if w.partnership_id is None and w.path and Path(w.path).is_file()]
    if made:
        path = Path(max(made, key=lambda w: w.generated_at).path)
    else:
        generated = generate_blank(ctx.web.rubric, ctx.web.data_dir / "blank" / label,
                                   Options(round=label, due=info.due), ctx.web.key)
        ctx.store.record_issue(label, ctx.web.rubric, [generated])
        path = generated.path
    return FileResponse(path, filename=path.name,
                        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")


PAGES = [
    Page("/rounds", rounds_page),
    Page("/rounds/open", open_round, methods=("POST",), permission=CHANGE),
    Page("/rounds/{label}", round_page),
    Page("/rounds/{label}/close", close_round, methods=("POST",), permission=CHANGE),
    Page("/rounds/{label}/reopen", reopen_round, methods=("POST",), permission=CHANGE),
    Page("/rounds/{label}/export.{kind}", export),
    Page("/rounds/{label}/reports.zip", reports_zip),
    Page("/rounds/{label}/blank.xlsx", blank),
]
