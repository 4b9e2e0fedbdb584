"""`matrixgen report`: PDF reports per partnership and the round's portfolio."""

from __future__ import annotations

from pathlib import Path

import click

from ..files import data_dir
from .common import (
    CONTEXT, Tally, check_label, db_option, echo_problems, main, on_interrupt, open_store_or_exit, out_option,
    pick_round, progress, round_option, silent_option,
)


@main.command(context_settings=CONTEXT)
@db_option
@round_option(help="Round label (default: the newest open round).")
@click.option("--partnership", "partnership_ids", multiple=True, metavar="ID", callback=check_label,
              help="Only this partnership (repeat for more; default: every partnership with a current submission).")
@out_option("reports")
@click.option("--portfolio/--no-portfolio", default=True, show_default=True,
              help="Also write the portfolio report of the whole round.")
@silent_option
def report(db, round_label, partnership_ids, out_dir, portfolio, silent) -> None:
    """Write a PDF report per partnership and the round's portfolio report.

    Default: the newest open round, every partnership with a current submission in it (one whose
    return waits in review waits too), into --out/<round>/, default <data directory>/reports.
    Exit code 1 when any report failed (the others are still written), 2 for an unknown round."""
    tally = Tally()
    on_interrupt(lambda: interrupted(tally))
    from ..report import load_reports, write_stored_reports

    store = open_store_or_exit(db)
    label = pick_round(store, round_label)
    out_dir = out_dir if out_dir is not None else data_dir() / "reports"
    loaded = load_reports(store, label, partnership_ids)
    echo_problems(loaded.problems)
    if not loaded.ok:
        raise SystemExit(1)
    total = len(loaded.reports) + (1 if portfolio else 0)
    tally.total, tally.where = total, str(Path(out_dir) / loaded.round)
    with progress(silent, total, "Rendering") as bar:

        def done(report_file) -> None:
            bar.update(1)
            if report_file.ok:
                tally.step()

        files = write_stored_reports(store, loaded, out_dir, portfolio=portfolio, on_done=done)
    for f in files:
        echo_problems(f.problems)
    failed = [f for f in files if not f.ok]
    written = len(files) - len(failed)
    click.echo(f"Round {loaded.round}: wrote {written} of {len(files)} report(s) to {Path(out_dir) / loaded.round}"
               + (f"; {len(failed)} failed: " + ", ".join(f.path.name for f in failed) if failed else ""))
    if failed:
        raise SystemExit(1)


def interrupted(tally: Tally) -> str:
    """The line a Ctrl-C prints: each PDF is written whole or not at all."""
    if tally.total is None:
        return "no report was written; run the same command again"
    return (f"{tally.done} of {tally.total} reports written to {tally.where}, {tally.total - tally.done} not; "
            "run the same command again to write them all")
