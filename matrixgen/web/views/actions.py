"""Actions that write or send many files: issue workbooks, send blanks, reminders or reports, render
reports. Each first shows exactly what would happen (the dry run), then runs, once confirmed, as
a background job recorded with who started it."""

from __future__ import annotations

from email.message import EmailMessage
from pathlib import Path

from starlette.responses import Response

from ... import mail
from ..app import Ctx, Page
from ..jobs import Progress
from ..permissions import CHANGE

KINDS = {"blanks": "blank workbooks", "reminders": "reminders", "reports": "reports"}


def _round(ctx: Ctx):
    return ctx.store.round(ctx.params["label"])


# --- issue workbooks --------------------------------------------------------------------------------

def issue_preview(ctx: Ctx) -> Response:
    from ...generate import workbook_filename

    info = _round(ctx)
    if info is None:
        return ctx.error(404, "No such round", "There is no such round.")
    members = ctx.store.members(info.label)
    taken: set[str] = set()
    rows = [(p.id, p.name, workbook_filename(p, taken)) for p in members]
    issued = {w.partnership_id for w in ctx.store.issued(info.label) if w.partnership_id}
    folder = ctx.web.data_dir / "blank" / info.label
    return ctx.render("issue.html", info=info, rows=rows, folder=folder, again=len(issued & {r[0] for r in rows}),
                      rubric=ctx.web.rubric)


def issue(ctx: Ctx) -> Response:
    from ...generate import Options, generate_workbooks

    info = _round(ctx)
    if info is None:
        return ctx.error(404, "No such round", "There is no such round.")
    members = ctx.store.members(info.label)
    if not members:
        return ctx.redirect(f"/rounds/{info.label}", "The round has nobody on its roster.", "error")
    web, folder = ctx.web, ctx.web.data_dir / "blank" / info.label

    def work(progress: Progress) -> dict:
        made = generate_workbooks(web.rubric, members, folder, Options(round=info.label, due=info.due), web.key,
                                  progress=lambda _p: progress.step())
        web.store.record_issue(info.label, web.rubric, made)
        return {"written": len(made), "folder": str(folder)}

    pk = ctx.web.jobs.start("issue", info.label, ctx.user.email, len(members), work)
    ctx.audit("issue workbooks", info.label, f"job {pk}: {len(members)} workbooks")
    return ctx.redirect(f"/jobs/{pk}")


# --- send ---------------------------------------------------------------------------------------------

class PreviewTransport:
    """What ``send_batch`` would hand the mail server, kept instead of sent."""

    def __init__(self) -> None:
        self.messages: dict[str, dict] = {}

    def open(self) -> None:
        pass

    def ready(self) -> None:
        pass

    def send(self, msg: EmailMessage, sender: str, recipient: str, name: str) -> Path | None:
        self.messages[name] = {"subject": str(msg["Subject"] or ""),
                               "attachments": [a.get_filename() or "" for a in msg.iter_attachments()]}
        return None

    def close(self) -> None:
        pass


def _settings(ctx: Ctx, smtp: bool):
    return mail.load_settings(ctx.web.settings_path, smtp=smtp)


def _mail_round(ctx: Ctx, info) -> mail.Round:
    rubric = ctx.store.rubric(info.rubric_hash) if info.rubric_hash else None
    return mail.Round(info.label, info.due, rubric.title if rubric else mail.Round.title)


def send_preview(ctx: Ctx) -> Response:
    from ...report import missing_reports

    info, kind = _round(ctx), ctx.params["kind"]
    if info is None or kind not in KINDS:
        return ctx.error(404, "Not found", "There is no such round or kind of message.")
    loaded = _settings(ctx, smtp=False)
    sending = _settings(ctx, smtp=True)
    rows, to_render = [], []
    if loaded.valid:
        to_render = missing_reports(ctx.store, info.label) if kind == "reports" else []
        planned = mail.plan_from_store(ctx.store, kind, info.label)
        transport = PreviewTransport()
        result = mail.send_batch(_mail_round(ctx, info), planned, loaded.settings, mail.SqlSendLog(ctx.store.engine),
                                 transport, dry_run=True)
        for o in result.outcomes:
            message = transport.messages.get(o.partnership_id, {})
            status = {"written": "will be sent", "skipped": "already sent", "held": "not this time"}.get(
                o.status, o.status)
            problem = o.problem
            if problem is not None and problem.code == "MG-SEND-036" and o.partnership_id in to_render:
                status, problem = "report rendered first, then sent", None
            rows.append({"partnership": o.partnership_id, "recipient": o.recipient or "(no email)", "status": status,
                         "subject": message.get("subject", ""), "attachments": message.get("attachments", []),
                         "problem": str(problem) if problem else ""})
    will = sum(1 for r in rows if r["status"] in ("will be sent", "report rendered first, then sent"))
    return ctx.render("send.html", info=info, kind=kind, what=KINDS[kind], rows=rows, will=will,
                      problems=[str(p) for p in (loaded.problems if not loaded.valid else sending.problems)],
                      can_send=sending.valid and will > 0, to_render=to_render)


def send(ctx: Ctx) -> Response:
    from ...report import render_missing_reports

    info, kind = _round(ctx), ctx.params["kind"]
    if info is None or kind not in KINDS:
        return ctx.error(404, "Not found", "There is no such round or kind of message.")
    loaded = _settings(ctx, smtp=True)
    if not loaded.valid:
        return ctx.redirect(f"/rounds/{info.label}/send/{kind}", "The mail settings are not complete: nothing was sent.",
                            "error")
    store, data_dir, rnd, settings = ctx.store, ctx.web.data_dir, _mail_round(ctx, info), loaded.settings

    def work(progress: Progress) -> dict:
        rendered = render_missing_reports(store, info.label, data_dir / "reports") if kind == "reports" else []
        planned = mail.plan_from_store(store, kind, info.label)
        progress.set_total(len(planned), f"sending {KINDS[kind]}")
        result = mail.send_batch(rnd, planned, settings, mail.SqlSendLog(store.engine), mail.SmtpTransport(settings),
                                 progress=lambda _o: progress.step())
        return {"rendered": sum(1 for f in rendered if f.ok),
                "counts": {s: result.count(s) for s in ("sent", "failed", "skipped", "unknown", "held")},
                "outcomes": [{"partnership": o.partnership_id, "recipient": o.recipient, "status": o.status,
                              "problem": str(o.problem) if o.problem else ""} for o in result.outcomes],
                "problems": [str(p) for p in result.problems]}

    pk = ctx.web.jobs.start(f"send {kind}", info.label, ctx.user.email, 0, work)
    ctx.audit(f"send {kind}", info.label, f"job {pk}")
    return ctx.redirect(f"/jobs/{pk}")


# --- render reports -------------------------------------------------------------------------------------

def reports_preview(ctx: Ctx) -> Response:
    from ...report import load_reports, report_path

    info = _round(ctx)
    if info is None:
        return ctx.error(404, "No such round", "There is no such round.")
    loaded = load_reports(ctx.store, info.label)
    out = ctx.web.data_dir / "reports"
    rows = [(r.partnership.id, r.partnership.name, report_path(out, info.label, r.partnership.id).name)
            for r in loaded.reports]
    return ctx.render("reports.html", info=info, rows=rows, problems=[str(p) for p in loaded.problems],
                      folder=out / info.label, portfolio=report_path(out, info.label, None).name if loaded.ok else "")


def render_reports(ctx: Ctx) -> Response:
    from ...report import load_reports, write_stored_reports

    info = _round(ctx)
    if info is None:
        return ctx.error(404, "No such round", "There is no such round.")
    store, out = ctx.store, ctx.web.data_dir / "reports"
    loaded = load_reports(store, info.label)
    if not loaded.ok:
        return ctx.redirect(f"/rounds/{info.label}/reports", "There is nothing to report on yet.", "error")

    def work(progress: Progress) -> dict:
        files = write_stored_reports(store, loaded, out, on_done=lambda _f: progress.step())
        return {"files": [{"name": f.path.name, "ok": f.ok, "partnership": f.partnership_id or "",
                           "problems": [str(p) for p in f.problems]} for f in files]}

    pk = ctx.web.jobs.start("reports", info.label, ctx.user.email, len(loaded.reports) + 1, work)
    ctx.audit("render reports", info.label, f"job {pk}: {len(loaded.reports)} partnership reports and the portfolio")
    return ctx.redirect(f"/jobs/{pk}")


PAGES = [
    Page("/rounds/{label}/issue", issue_preview, permission=CHANGE),
    Page("/rounds/{label}/issue", issue, methods=("POST",), permission=CHANGE, name="issue-post"),
    Page("/rounds/{label}/send/{kind}", send_preview, permission=CHANGE),
    Page("/rounds/{label}/send/{kind}", send, methods=("POST",), permission=CHANGE, name="send-post"),
    Page("/rounds/{label}/reports", reports_preview, permission=CHANGE),
    Page("/rounds/{label}/reports", render_reports, methods=("POST",), permission=CHANGE, name="reports-post"),
]
