"""`matrixgen send`: blank workbooks, reminders and reports by email."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import click

from .. import interrupt
from ..files import data_dir, shown_path
from .common import (
    CONTEXT, check_label, db_option, echo_problems, main, on_interrupt, open_store_or_exit, pick_round, progress,
    round_option, silent_option,
)


@main.command(context_settings=CONTEXT)
@click.argument("kind", type=click.Choice(["blanks", "reminders", "reports"]))
@round_option(required=True, help="The round (required: what goes out is never guessed).")
@click.option("--partnership", "partnership_ids", multiple=True, metavar="ID", callback=check_label,
              help="Only this partnership (repeat for more).")
@click.option("--dry-run", is_flag=True, help="Write each message as a .eml file into <data>/outbox/<round>/ "
                                                "instead of sending; nothing is recorded.")
@click.option("--limit", type=click.IntRange(min=1), default=None, metavar="N", help="Send at most N messages this run.")
@click.option("--resend", is_flag=True, help="Send again what was already sent.")
@click.option("--throttle", type=click.FloatRange(min=0), default=None, metavar="N",
              help="At most N messages a minute (default: MATRIXGEN_SMTP_THROTTLE, else no limit).")
@click.option("--settings", "settings_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Settings file with a [mail] table (default: ./matrixgen.toml when present).")
@click.option("--templates", type=click.Path(file_okay=False, exists=True, path_type=Path), default=None,
              help="Folder of the office's email templates (default: MATRIXGEN_MAIL_TEMPLATES).")
@db_option
@silent_option
def send(kind, round_label, partnership_ids, dry_run, limit, resend, throttle, settings_path, templates, db,
         silent) -> None:
    """Email each partnership its blank workbook, a reminder, or its report.

    \b
    blanks     its own signed workbook, to its roster contact
    reminders  to partnerships without a scored return and nothing in review (an incomplete
               one gets each answer to fix, at its cell; a rejected one, why)
    reports    its latest report PDF, only to its own contact

    Every message is recorded before and after it is sent: a re-run sends only what has not gone
    out and retries what failed. Exit code 1 when any message failed."""
    from dataclasses import replace

    sending = Sending()
    on_interrupt(lambda: interrupted(sending, dry_run))
    from .. import mail

    loaded = mail.load_settings(settings_path, smtp=not dry_run)
    echo_problems(loaded.problems)
    if not loaded.valid:
        click.echo("Nothing was sent: fix the settings and run again.", err=True)
        raise SystemExit(1)
    settings = loaded.settings
    if throttle is not None:
        settings = replace(settings, throttle=throttle)
    if templates is not None:
        settings = replace(settings, templates=templates)
    store = open_store_or_exit(db)
    pick_round(store, round_label)
    info = store.require_round(round_label)
    rubric = store.rubric(info.rubric_hash) if info.rubric_hash else None
    rnd = mail.Round(round_label, info.due, rubric.title if rubric else mail.Round.title)
    if kind == "reports":
        from ..report import render_missing_reports

        made = render_missing_reports(store, round_label, data_dir() / "reports", partnership_ids)
        if made:
            click.echo(f"Rendered {sum(f.ok for f in made)} report(s) that were missing or out of date "
                       f"into {data_dir() / 'reports' / round_label}/")
            echo_problems([*(p for f in made for p in f.problems), *made.notes])
    planned, wrong = mail.only(mail.plan_from_store(store, kind, round_label), partnership_ids, round_label)
    if wrong:
        echo_problems(wrong)
        raise SystemExit(1)
    if not planned:
        click.echo(f"Nothing to send: round {round_label} has no partnerships on its roster.")
        return
    outbox = mail.outbox_folder(data_dir(), round_label)
    transport = mail.OutboxTransport(outbox, kind) if dry_run else mail.SmtpTransport(settings)
    sending.total = len(planned)
    # A first Ctrl-C waits for the message in hand to be recorded: one stopped between the server
    # and the send log would have to be checked by hand before it could be sent again.
    with progress(silent, len(planned), "Sending" if not dry_run else "Writing") as bar, interrupt.deferred() as held:

        def handled(outcome) -> None:
            bar.update(1)
            sending.outcomes.append(outcome)
            held.checkpoint()

        result = mail.send_batch(rnd, planned, settings, mail.SqlSendLog(store.engine), transport,
                                 resend=resend, limit=limit, dry_run=dry_run, progress=handled)
    click.echo(format_sent(result, kind, round_label))
    echo_problems(result.all_problems())
    if dry_run and result.count(mail.WRITTEN):
        click.echo(f"Wrote {result.count(mail.WRITTEN)} message(s) to {shown_path(outbox)}/: "
                   "nothing was sent or recorded.")
    if not result.ok:
        raise SystemExit(1)


@dataclass
class Sending:
    """How far ``send`` has gone: what a Ctrl-C reports."""

    total: int | None = None  # messages planned; None: not yet planned
    outcomes: list = field(default_factory=list)


def interrupted(sending: Sending, dry_run: bool) -> str:
    """The line a Ctrl-C prints: every message is recorded before and after it goes."""
    if sending.total is None:
        return "nothing was sent; run the same command again"
    gone = sum(o.status in ("sent", "written", "skipped") for o in sending.outcomes)
    failed = sum(o.status == "failed" for o in sending.outcomes)
    return (f"{gone} of {sending.total} messages {'written' if dry_run else 'sent'} (or sent before)"
            + (f", {failed} failed" if failed else "")
            + f", {sending.total - len(sending.outcomes)} not attempted; run the same command again to "
            + ("write" if dry_run else "send") + " the rest")


def format_sent(result, kind: str, round_label: str) -> str:
    lines = []
    for o in result.outcomes:
        if o.status in ("sent", "written", "failed"):
            lines.append(f"  {o.status:<8}{o.partnership_id:<14}{o.recipient or '(no email)'}")
    counts = [f"{result.count(s)} {label}" for s, label in (
        ("sent", "sent"), ("written", "written"), ("failed", "failed"), ("skipped", "already sent"),
        ("unknown", "unknown"), ("held", "not attempted")) if result.count(s)]
    lines.append(f"{kind}, round {round_label}: " + (", ".join(counts) or "nothing to do"))
    if result.count("skipped"):
        lines.append("  (already sent: use --resend to send those again)")
    return "\n".join(lines)
