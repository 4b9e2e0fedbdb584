"""`matrixgen collect`: returns from the office mailbox (or exported mail) into the store, answered."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import click

from ..files import data_dir
from .common import (
    CONTEXT, db_option, echo_problems, format_table, load_key_or_exit, load_rubric_or_exit, main, open_store_or_exit,
    out_option, pick_round, round_option, rubric_option, silent_option,
)


@main.command(context_settings=CONTEXT)
@round_option(help="The round of files that carry none (default: the only open round; otherwise they wait in review).")
@click.option("--from", "from_path", type=click.Path(exists=True, path_type=Path), default=None,
              help="Read exported mail instead of the mailbox: a folder of .eml files, an mbox file or a Maildir.")
@click.option("--watch", is_flag=True, help="Keep running: wait for new mail (IMAP IDLE, else every --poll seconds).")
@click.option("--poll", type=click.FloatRange(min=1), default=60.0, show_default=True, metavar="SECONDS",
              help="With --watch: how long to wait for mail before looking again.")
@click.option("--no-receipts", is_flag=True, help="Answer no one (the messages are still recorded and moved).")
@click.option("--dry-run", is_flag=True, help="List what would happen to each message; store, answer and move nothing.")
@click.option("--limit", type=click.IntRange(min=1), default=None, metavar="N", help="Take at most N new messages this run.")
@click.option("--settings", "settings_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Settings file with [imap] and [mail] tables (default: ./matrixgen.toml when present).")
@click.option("--templates", type=click.Path(file_okay=False, exists=True, path_type=Path), default=None,
              help="Folder of the office's email templates (default: MATRIXGEN_MAIL_TEMPLATES).")
@db_option
@out_option("scores")
@rubric_option
@silent_option
def collect(round_label, from_path, watch, poll, no_receipts, dry_run, limit, settings_path, templates, db, out_dir,
            rubric_path, silent) -> None:
    """Collect returned workbooks from the office mailbox, score them, and answer each sender.

    Each message is recorded once (by UIDVALIDITY and UID, else Message-ID), its attachments are
    scored like `matrixgen score` (the sender is evidence of whose they are), its sender gets one
    receipt, and it is moved to the done folder. Machines (auto-replies, lists, delivery reports)
    are never answered. Exit code 0 when every message was handled, 1 when something failed (the
    server, a receipt, a move), 2 for usage errors."""
    from dataclasses import replace

    from .. import mail
    from ..mail.collect import Receipts, collect as collect_mail, watch as watch_mail
    from ..mail.imap import ImapSource, connection_errors
    from ..mail.settings import load_imap_settings
    from ..mail.sources import ExportedMail, SourceError

    if watch and from_path is not None:
        raise click.UsageError("--watch reads the mailbox; exported mail (--from) is read once")
    if watch and dry_run:
        raise click.UsageError("--watch and --dry-run do not go together")
    if from_path is None:
        loaded = load_imap_settings(settings_path)
        echo_problems(loaded.problems)
        if not loaded.valid:
            click.echo("Nothing was collected: fix the mailbox settings and run again.", err=True)
            raise SystemExit(1)
        make_source = lambda: ImapSource(loaded.settings)  # noqa: E731
    else:
        make_source = lambda: ExportedMail(from_path)  # noqa: E731
    receipts = None
    if not (no_receipts or dry_run):
        smtp = mail.load_settings(settings_path)
        echo_problems(smtp.problems)
        if not smtp.valid:
            click.echo("Nothing was collected: fix the mail settings (receipts go out by SMTP), or use --no-receipts.",
                       err=True)
            raise SystemExit(1)
        settings = smtp.settings if templates is None else replace(smtp.settings, templates=templates)
        receipts = Receipts(settings, mail.SmtpTransport(settings), mail.EmailTemplates(settings.templates))
    rubric = load_rubric_or_exit(rubric_path)
    key = load_key_or_exit()
    store = open_store_or_exit(db, create=not dry_run)
    if round_label:
        pick_round(store, round_label)

    def run(source) -> object:
        started = datetime.now(timezone.utc)
        result = collect_mail(source, store, rubric, key, data_dir(), round_label=round_label, receipts=receipts,
                              dry_run=dry_run, limit=limit, progress=None if silent or not watch else _line)
        report(source, result, dry_run, watch)
        if result.batch is not None and result.batch.outcomes:
            from ..summary import run_folder, write_outputs

            folder = run_folder(out_dir if out_dir is not None else data_dir() / "scores", started)
            written = write_outputs(result.batch, folder, [s.label for s in rubric.stages])
            click.echo(f"Wrote {', '.join(str(w) for w in written)}")
        return result

    if watch:
        def opened():
            source = make_source()
            echo_problems(source.open())
            return source

        def dropped(found, backoff: float) -> None:
            echo_problems([found])
            click.echo(f"Trying again in {backoff:.0f} s.", err=True)

        click.echo(f"Watching {_shown(make_source())} for new mail (Ctrl-C stops).")
        try:
            watch_mail(opened, run, poll=poll, on_error=dropped)
        except SourceError as exc:
            echo_problems([exc.problem])
            raise SystemExit(1)
        except KeyboardInterrupt:
            click.echo("Stopped.")
        return
    source = make_source()
    try:
        echo_problems(source.open())
        result = run(source)
    except SourceError as exc:
        echo_problems([exc.problem])
        raise SystemExit(1)
    except connection_errors() as exc:
        from ..errors import problem
        from ..mail.errors import reason

        echo_problems([problem("MG-MAIL-025", "", reason=reason(exc))])
        raise SystemExit(1)
    finally:
        source.close()
    if not result.ok:
        raise SystemExit(1)


def _shown(source) -> str:
    return getattr(source, "mailbox", "")


def _line(found) -> None:
    click.echo(f"  {found.outcome:<11} {found.sender or '(no sender)'}: {found.subject}")


def report(source, result, dry_run: bool, watch: bool) -> None:
    """The messages of this run, then the totals, the notes and what went wrong."""
    echo_problems(result.notes)
    if not result.messages:
        if not watch:
            click.echo(f"No new mail in {_shown(source)}.")
        return
    if not watch:
        rows = []
        for m in result.messages:
            files = ", ".join(f"{name} ({status})" for name, status in m.files) or "-"
            rows.append((m.pk or "-", m.sender or "-", m.outcome, files, m.receipt or "-"))
        click.echo(format_table(("message", "from", "outcome", "files", "receipt"), rows, shrink=("files", "from")))
        click.echo("")
    counts = result.counts()
    total = len(result.messages)
    line = f"{total} message{'s' if total != 1 else ''}: " + ", ".join(f"{n} {k}" for k, n in counts.items())
    receipts = [m.receipt for m in result.messages if m.receipt]
    if receipts:
        line += f"; {sum(r == 'sent' for r in receipts)} receipt(s) sent"
    if result.moved:
        line += f"; {result.moved} moved to the done folder"
    if result.held:
        line += f"; {result.held} left for the next run (--limit)"
    click.echo(line)
    reasons = [m for m in result.messages if m.reason and m.outcome not in ("scored", "done before")]
    for m in reasons:
        click.echo(f"  {m.pk or '-'}: {m.reason}")
    echo_problems(result.problems)
    if dry_run:
        click.echo("Dry run: nothing was stored, answered or moved.")
