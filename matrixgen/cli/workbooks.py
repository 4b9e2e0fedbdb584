"""`matrixgen generate`: fillable workbooks, generic or one per roster partnership."""

from __future__ import annotations

from pathlib import Path

import click

from ..files import data_dir
from ..roster import load_roster
from .common import (
    CONTEXT, Tally, db_option, echo_problems, load_key_or_exit, load_rubric_or_exit, main, on_interrupt,
    open_store_or_exit, out_option, pick_round, progress, round_option, rubric_option, silent_option,
)


@main.command(context_settings=CONTEXT)
@rubric_option
@click.option("--blank", "blank", is_flag=True,
              help="One generic blank, for a partnership to type its name on (round: --round, else the newest "
                   "open round, else none).")
@click.option("--roster", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="CSV with id,name,region,sector,contact_name,contact_email: one workbook per row "
                   "(default: the round's roster, from `round open`).")
@round_option(help="An opened round (default: the newest open round).")
@out_option("blank")
@click.option("--due", default="", help="Return-by date shown on the Instructions sheet (default: the round's).")
@click.option("--contact", default="", help="Who to ask, shown on the Instructions sheet.")
@db_option
@silent_option
def generate(rubric_path, blank, roster, round_label, out_dir, due, contact, db, silent) -> None:
    """Write fillable workbooks: one signed workbook per partnership of a round, or a generic blank.

    Only `matrixgen round open` creates a round. The store records the rubric version used and
    which workbook went to which partnership, so that returned files are scored with the version
    they were made from. Workbooks go to --out, default <data directory>/blank/<round>/."""
    tally = Tally()
    on_interrupt(lambda: interrupted(tally))
    from ..generate import Options, generate_blank, generate_workbooks  # openpyxl: only this command needs it

    r = load_rubric_or_exit(rubric_path)
    partnerships = None
    if roster is not None:
        if blank:
            raise click.UsageError("--blank and --roster do not go together: a generic blank has no roster")
        result = load_roster(roster)
        echo_problems(result.problems)
        if not result.valid:
            click.echo("No workbooks written: fix the roster and run again.", err=True)
            raise SystemExit(1)
        partnerships = result.partnerships
    key = load_key_or_exit()
    store = open_store_or_exit(db, create=True)
    if blank and not round_label:
        label = store.newest_open_round() or ""  # no round open: the blank carries none
    elif round_label or roster is None:
        label = pick_round(store, round_label)
    else:
        label = ""  # workbooks from a roster file, outside any round
    opened = store.round(label) if label else None
    if opened is not None:
        if partnerships is None and not blank:
            partnerships = store.members(label)
        due = due or opened.due
    folder = out_dir if out_dir is not None else data_dir() / "blank" / (label or "no-round")
    options = Options(round=label, due=due, contact=contact)
    if blank:
        made = generate_blank(r, folder, options, key)
        store.record_issue(label or None, r, [made])
        click.echo(f"Wrote a generic blank{f' for round {label}' if label else ' (no round)'}: {made.path}")
        return
    if not partnerships:
        click.echo(f"error: round {label} has nobody on its roster; run `matrixgen round open {label} --roster "
                   "roster.csv`", err=True)
        raise SystemExit(1)
    tally.total, tally.where = len(partnerships), str(folder)
    with progress(silent, len(partnerships), "Generating") as bar:

        def written(_partnership) -> None:
            bar.update(1)
            tally.step()

        made_all = generate_workbooks(r, partnerships, folder, options, key, progress=written)
    store.record_issue(label or None, r, made_all)  # one transaction: all of them or none
    round_note = f" for round {label}" if label else ""
    click.echo(f"Wrote {len(made_all)} workbooks{round_note} to {folder}/")


def interrupted(tally: Tally) -> str:
    """The line a Ctrl-C prints: each workbook is written whole or not at all."""
    if tally.total is None:
        return "no workbook was recorded in the store; run the same command again"
    return (f"{tally.done} of {tally.total} workbooks written to {tally.where}/, {tally.total - tally.done} not, "
            "and none recorded in the store; run the same command again to write and record them all")
