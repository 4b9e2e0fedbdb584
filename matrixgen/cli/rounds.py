"""`matrixgen round ...` and `matrixgen status`: a round's roster and who has returned."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from ..errors import problem
from ..layout import check_round
from ..roster import load_roster
from . import table
from .common import (
    CONTEXT,
    db_option,
    echo_problems,
    main,
    open_store_or_exit,
    round_option,
)

if TYPE_CHECKING:
    from ..store import Store

def check_round_or_fail(label: str, hint: str = "--round") -> None:
    if not check_round(label):
        raise click.BadParameter(f"{label!r}: use letters, digits, '.', '_' and '-' (e.g. 2026 or 2026-fall)",
                                 param_hint=hint)


def require_round(store: Store, label: str):
    info = store.round(label)
    if info is None:
        known = ", ".join(r.label for r in store.rounds() if r.label) or "none yet"
        echo_problems([problem("MG-SEND-038", "--round", value=label, known=known)])
        raise SystemExit(1)
    return info


@main.group("round", context_settings=CONTEXT)
def round_group() -> None:
    """Open a round: record its roster and due date in the store."""


@round_group.command("open", context_settings=CONTEXT)
@click.argument("label")
@click.option("--roster", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="CSV with id,name,region,sector,contact_name,contact_email: the round's partnerships.")
@click.option("--due", default=None, help="Return-by date, as the emails and workbooks should show it.")
@db_option
def round_open(label, roster, due, db) -> None:
    """Record round LABEL with this roster (run again to change it: ids stay the same across rounds)."""
    check_round_or_fail(label, "LABEL")
    result = load_roster(roster)
    echo_problems(result.problems)
    if not result.valid:
        click.echo("The round was not opened: fix the roster and run again.", err=True)
        raise SystemExit(1)
    store = open_store_or_exit(db)
    change = store.open_round(label, result.partnerships, due)
    info = store.round(label)
    due_note = f", due {info.due}" if info and info.due else ""
    click.echo(f"Round {label}: {len(result.partnerships)} partnerships on the roster "
               f"({len(change.added)} added, {len(change.removed)} removed){due_note}")
    if change.removed:
        click.echo(f"  no longer in this round: {', '.join(change.removed)}")
    no_email = [p.id for p in result.partnerships if not p.contact_email]
    if no_email:
        click.echo(f"  no contact email (send will report them): {', '.join(no_email)}")


@main.command(context_settings=CONTEXT)
@round_option()
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write the table as a CSV file.")
@click.option("--json", "as_json", is_flag=True,
              help="Print the rows as JSON (a list of objects, the CSV's columns) instead of the table.")
@db_option
def status(round_label, csv_path, as_json, db) -> None:
    """One line per partnership: issued, sent, returned, status, overall stage, report sent.

    Default round: the newest. Times are UTC."""
    from ..status import json_rows, round_status, write_csv

    store = open_store_or_exit(db)
    label = round_label or store.latest_round()
    if label is None:
        click.echo("No rounds yet: open one with `matrixgen round open LABEL --roster roster.csv`.", err=as_json)
        if as_json:
            click.echo(table.as_json([]))
        return
    require_round(store, label)
    result = round_status(store, label)
    if as_json:
        click.echo(table.as_json(json_rows(result)))
    else:
        click.echo(format_status(result, table.terminal_width()))
    if csv_path is not None:
        written = write_csv(result, csv_path)
        click.echo(f"Wrote {written}" if as_json else f"\nWrote {written}", err=as_json)


def _when(iso: str) -> str:
    return iso[:16].replace("T", " ") if iso else "-"


STATUS_TITLES = ("partnership", "name", "issued", "sent", "reminded", "returned", "status", "overall stage",
                 "report sent")


def format_status(result, width: int | None = None) -> str:
    due = f", due {result.due}" if result.due else ""
    lines = [f"Round {result.label}{due}: {len(result.rows)} partnerships (times UTC)", ""]
    rows = []
    for r in result.rows:
        sent = _when(r.sent_at) if r.sent_at else (f"failed {r.send_failed}" if r.send_failed else "-")
        rows.append((r.partnership_id, r.name, r.issued_at[:10] or "-", sent, _when(r.reminded_at),
                     _when(r.returned_at), r.status or "-", r.overall_stage or "-", _when(r.report_sent_at)))
    lines += table.render(STATUS_TITLES, rows, shrink=("name",), width=width)
    t = result.totals()
    lines += ["", (f"{t['partnerships']} partnerships: {t['issued']} issued, {t['sent']} sent"
                   + (f" ({t['send failed']} failed)" if t["send failed"] else "")
                   + f", {t['returned']} returned ({t['scored']} scored, {t['incomplete']} incomplete, "
                   f"{t['rejected']} rejected), {t['not returned']} not returned, {t['reports sent']} reports sent")]
    missing = [f"{r.partnership_id} ({r.status or 'not returned'})" for r in result.rows if r.missing]
    if missing:
        lines.append("Still to come: " + ", ".join(missing))
    return "\n".join(lines)
