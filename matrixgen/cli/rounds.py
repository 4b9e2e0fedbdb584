"""`matrixgen round open|list|close|reopen|delete` and `matrixgen status`: rounds, and who has returned."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import click

from ..roster import load_roster
from . import table
from .common import (
    CONTEXT, check_label, db_option, echo_problems, format_table, main, open_store_or_exit, pick_round, round_option,
)


def _when(iso: str) -> str:
    return iso[:16].replace("T", " ") if iso else "-"


@main.group("round", context_settings=CONTEXT)
def round_group() -> None:
    """Open, list, close, reopen or delete rounds. Only `round open` creates one."""


label_argument = click.argument("label", callback=check_label)


@round_group.command("open", context_settings=CONTEXT)
@label_argument
@click.option("--roster", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="CSV with id,name,region,sector,contact_name,contact_email: the round's partnerships.")
@click.option("--due", default=None, help="Return-by date, as the emails and workbooks should show it.")
@db_option
def round_open(label, roster, due, db) -> None:
    """Open round LABEL with this roster (run again to change it: ids stay the same across rounds)."""
    result = load_roster(roster)
    echo_problems(result.problems)
    if not result.valid:
        click.echo("The round was not opened: fix the roster and run again.", err=True)
        raise SystemExit(1)
    store = open_store_or_exit(db, create=True)
    existed = store.round(label) is not None
    change = store.open_round(label, result.partnerships, due)
    info = store.round(label)
    due_note = f", due {info.due}" if info and info.due else ""
    verb = "updated" if existed else "opened"
    click.echo(f"Round {label} {verb}: {len(result.partnerships)} partnerships on the roster "
               f"({len(change.added)} added, {len(change.removed)} removed){due_note}")
    if info is not None and not info.open:
        click.echo(f"  the round is closed: `matrixgen round reopen {label}` to take returns again")
    if change.removed:
        click.echo(f"  no longer in this round: {', '.join(change.removed)}")
    no_email = [p.id for p in result.partnerships if not p.contact_email]
    if no_email:
        click.echo(f"  no contact email (send will report them): {', '.join(no_email)}")


@round_group.command("list", context_settings=CONTEXT)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of objects instead of a table.")
@db_option
def round_list(as_json, db) -> None:
    """Every round, newest first: state, dates, roster size and what came back."""
    from ..status import round_summaries

    store = open_store_or_exit(db)
    found = round_summaries(store)
    if as_json:
        click.echo(json.dumps([asdict(r) for r in found], indent=2))
        return
    if not found:
        click.echo("No rounds yet: open one with `matrixgen round open LABEL --roster roster.csv`.")
        return
    header = ("round", "state", "opened", "due", "roster", "returned", "scored", "incomplete", "rejected",
              "in review", "not returned")
    rows = [(r.label, r.state, _when(r.opened), r.due or "-", r.roster, r.returned, r.scored, r.incomplete,
             r.rejected, r.in_review, r.not_returned) for r in found]
    click.echo(format_table(header, rows, shrink=("due",)))


@round_group.command("close", context_settings=CONTEXT)
@label_argument
@db_option
def round_close(label, db) -> None:
    """Close round LABEL: returns that arrive later wait in review as late."""
    _set_state(db, label, "closed")


@round_group.command("reopen", context_settings=CONTEXT)
@label_argument
@db_option
def round_reopen(label, db) -> None:
    """Reopen round LABEL: it takes returns again."""
    _set_state(db, label, "open")


def _set_state(db, label: str, state: str) -> None:
    store = open_store_or_exit(db)
    pick_round(store, label)
    info = store.set_round_state(label, state)
    if state == "closed":
        click.echo(f"Round {label} closed on {_when(info.closed_at)} UTC: later returns go to review as late.")
    else:
        click.echo(f"Round {label} is open.")


@round_group.command("delete", context_settings=CONTEXT)
@label_argument
@db_option
def round_delete(label, db) -> None:
    """Delete round LABEL (a mistyped one): only while nothing has been returned for it."""
    store = open_store_or_exit(db)
    pick_round(store, label)
    returned = store.delete_round(label)
    if returned:
        click.echo(f"error: round {label} has {returned} return(s); a round with returns is kept "
                   f"(close it with `matrixgen round close {label}`)", err=True)
        raise SystemExit(1)
    click.echo(f"Round {label} deleted.")


@main.command(context_settings=CONTEXT)
@round_option(help="Round label (default: the newest open round).")
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write the table as a CSV file.")
@click.option("--json", "as_json", is_flag=True,
              help="Print the rows as JSON (a list of objects, the CSV's columns) instead of the table.")
@db_option
def status(round_label, csv_path, as_json, db) -> None:
    """One line per partnership: issued, sent, returned, status, overall stage, report sent.

    Default round: the newest open one. Times are UTC. Exit code 0; 2 for an unknown round."""
    from ..status import json_rows, round_status, write_csv

    store = open_store_or_exit(db)
    label = pick_round(store, round_label)
    result = round_status(store, label)
    click.echo(table.as_json(json_rows(result)) if as_json else format_status(result))
    if csv_path is not None:
        written = write_csv(result, csv_path)
        click.echo(f"Wrote {written}" if as_json else f"\nWrote {written}", err=as_json)


def format_status(result) -> str:
    due = f", due {result.due}" if result.due else ""
    closed = " (closed)" if result.state == "closed" else ""
    lines = [f"Round {result.label}{closed}{due}: {len(result.rows)} partnerships (times UTC)", ""]
    header = ("partnership", "name", "issued", "sent", "reminded", "returned", "status", "overall stage",
              "report sent")
    rows = []
    for r in result.rows:
        sent = _when(r.sent_at) if r.sent_at else (f"failed {r.send_failed}" if r.send_failed else "-")
        rows.append((r.partnership_id, r.name, r.issued_at[:10] or "-", sent, _when(r.reminded_at),
                     _when(r.returned_at), r.status, r.overall_stage or "-", _when(r.report_sent_at)))
    lines.append(format_table(header, rows, shrink=("name",)))
    t = result.totals()
    lines += ["", (f"{t['partnerships']} partnerships: {t['issued']} issued, {t['sent']} sent"
                   + (f" ({t['send failed']} failed)" if t["send failed"] else "")
                   + f", {t['returned']} returned ({t['scored']} scored, {t['incomplete']} incomplete, "
                   f"{t['rejected']} rejected, {t['in review']} in review), {t['not returned']} not returned, "
                   f"{t['reports sent']} reports sent")]
    if t["review queue"]:
        lines.append(f"Review queue: {t['review queue']} waiting (`matrixgen review --round {result.label}`)")
    bouncing = [f"{r.partnership_id} {r.bouncing}" for r in result.rows if r.bouncing]
    if bouncing:
        lines.append("Contact address bouncing (correct contact_email in the roster, then `matrixgen round open` "
                     "it again): " + ", ".join(bouncing))
    missing = [f"{r.partnership_id} ({r.status})" for r in result.rows if r.missing]
    if missing:
        lines.append("Still to come: " + ", ".join(missing))
    return "\n".join(lines)
