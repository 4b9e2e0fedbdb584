"""`matrixgen generate`: fillable workbooks, generic or one per roster partnership."""

from __future__ import annotations

from pathlib import Path

import click

from ..layout import check_round
from ..roster import load_roster
from .common import (
    CONTEXT,
    Tally,
    db_option,
    echo_problems,
    load_key_or_exit,
    load_rubric_or_exit,
    main,
    on_interrupt,
    open_store_or_exit,
    out_option,
    progress,
    round_option,
    rubric_option,
    silent_option,
)


@main.command(context_settings=CONTEXT)
@rubric_option
@click.option("--roster", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="CSV with id,name,region,sector,contact_name,contact_email: one workbook per row "
                   "(default: the roster of --round, if it was opened with `round open`).")
@round_option()
@out_option("output/blank")
@click.option("--due", default="", help="Return-by date shown on the Instructions sheet (default: the round's).")
@click.option("--contact", default="", help="Who to ask, shown on the Instructions sheet.")
@db_option
@silent_option
def generate(rubric_path, roster, round_label, out_dir, due, contact, db, silent) -> None:
    """Write fillable workbooks: one generic blank, or one signed workbook per roster row.

    The store records the rubric version used and which workbook went to which partnership,
    so that returned files are scored with the version they were made from."""
    tally = Tally()
    on_interrupt(lambda: interrupted(tally, out_dir))
    from ..generate import (  # openpyxl: only this command needs it
        Options,
        generate_blank,
        generate_workbooks,
    )

    if not check_round(round_label):
        raise click.BadParameter(f"{round_label!r}: use letters, digits, '.', '_' and '-' (e.g. 2026 or 2026-fall)",
                                 param_hint="--round")
    r = load_rubric_or_exit(rubric_path)
    partnerships = None
    if roster is not None:
        result = load_roster(roster)
        echo_problems(result.problems)
        if not result.valid:
            click.echo("No workbooks written: fix the roster and run again.", err=True)
            raise SystemExit(1)
        partnerships = result.partnerships
    key = load_key_or_exit()
    store = open_store_or_exit(db)
    opened = store.round(round_label) if round_label else None
    if opened is not None:
        # A round opened with `round open`: its stored roster and due date, unless given here.
        if partnerships is None and opened.roster_size:
            partnerships = store.members(round_label)
        due = due or opened.due
    options = Options(round=round_label, due=due, contact=contact)
    if partnerships is None:
        made = generate_blank(r, out_dir, options, key)
        store.record_issue(round_label, r, [made])
        click.echo(f"Wrote a blank workbook: {made.path}")
        return
    tally.total = len(partnerships)
    with progress(silent, len(partnerships), "Generating") as bar:

        def written(_partnership) -> None:
            bar.update(1)
            tally.step()

        made_all = generate_workbooks(r, partnerships, out_dir, options, key, progress=written)
    store.record_issue(round_label, r, made_all)  # one transaction: all of them or none
    round_note = f" for round {round_label}" if round_label else ""
    click.echo(f"Wrote {len(made_all)} workbooks{round_note} to {out_dir}/")


def interrupted(tally: Tally, out_dir: Path) -> str:
    """The line a Ctrl-C prints: each workbook is written whole or not at all."""
    if tally.total is None:
        return "no workbook was written; run the same command again"
    return (f"{tally.done} of {tally.total} workbooks written to {out_dir}/, {tally.total - tally.done} not, and none "
            "recorded in the store; run the same command again to write and record them all")
