"""`matrixgen score` and `matrixgen scores`: returned files into the store, and what it holds."""

from __future__ import annotations

import atexit
import gc
from pathlib import Path

import click

from ..files import data_dir
from . import table
from .common import (
    CONTEXT, Tally, db_option, format_table, load_key_or_exit, load_rubric_or_exit, main, on_interrupt,
    open_store_or_exit, out_option, pick_round, progress, round_option, rubric_option, silent_option,
)


@main.command(context_settings=CONTEXT)
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@db_option
@out_option("scores")
@round_option(help="The round of files that carry none (default: the only open round; otherwise they wait "
                   "in review).")
@rubric_option
@silent_option
def score(paths, db, out_dir, round_label, rubric_path, silent) -> None:
    """Score returned workbooks (files or folders, searched recursively) into the store.

    Each file is matched to a roster partnership and an open round, or waits in review (see
    `matrixgen review`). Writes summary.csv, summary.xlsx and problems.csv into a new folder
    under --out named by the run's UTC time. Exit code 0 when every file scored cleanly, 1 when
    any was incomplete, rejected or waits in review (the rest are still stored)."""
    tally = Tally()
    on_interrupt(lambda: interrupted(tally))
    from ..batch import read_paths, store_results
    from ..summary import run_folder, write_outputs

    r = load_rubric_or_exit(rubric_path)
    key = load_key_or_exit()
    # Reading starts before the store opens: loading SQLAlchemy and opening the store overlap with it.
    with read_paths(paths, r, key, data_dir() / "archive", round_label=round_label) as reading:
        if not reading.files:
            skipped = f" ({len(reading.skipped)} skipped: lock or hidden files)" if reading.skipped else ""
            click.echo(f"No files to score in {', '.join(str(p) for p in paths)}{skipped}; nothing was written.")
            return
        tally.total = len(reading.files)
        store = open_store_or_exit(db, create=True)
        if round_label:
            pick_round(store, round_label)
        with progress(silent, len(reading.files), "Scoring") as bar:

            def stored(_outcome) -> None:
                bar.update(1)
                tally.step()

            result = store_results(reading, store, progress=stored)
    store.close()
    # What the run made lives until the process ends: spare the interpreter's last garbage
    # collection the walk over all of it (~0.1 s of a 1,000-file run's exit).
    atexit.register(gc.freeze)
    written = write_outputs(result, run_folder(out_dir if out_dir is not None else data_dir() / "scores",
                                               reading.started_at), [s.label for s in r.stages])
    click.echo(format_counts(result))
    grouped = format_problems(result)
    if grouped:
        click.echo("")
        click.echo(grouped)
    if result.notes:  # last, where a long list of files does not hide it
        click.echo("")
        for note in result.notes:
            click.echo(f"{note.severity.value}: {note}")
    click.echo(f"\nWrote {', '.join(str(w) for w in written)}")
    if not result.clean:
        raise SystemExit(1)


def interrupted(tally: Tally) -> str:
    """The line a Ctrl-C prints: each file is stored whole or not at all."""
    if tally.total is None:
        return "no file was scored; run the same command again to score them"
    if tally.done == tally.total:
        return (f"all {tally.total} files were scored into the store, but the summaries were not written; run the "
                "same command again to write them (the files then count as duplicates)")
    return (f"{tally.done} of {tally.total} files scored into the store, {tally.total - tally.done} not, and no "
            "summary written; run the same command again to score the rest")


def format_counts(result) -> str:
    counts = result.counts()
    total = len(result.outcomes)
    lines = [f"{total} file{'s' if total != 1 else ''} in {result.seconds:.1f} s"]
    lines += [f"  {status:<11}{n:>6}" for status, n in counts.items()]
    if result.skipped:
        lines.append(f"  {'skipped':<11}{len(result.skipped):>6}")
    return "\n".join(lines)


def format_problems(result) -> str:
    """Problems grouped by file; 'already received' notes are left to the counts above."""
    lines = []
    if result.skipped:
        lines += ["Skipped"] + [f"  {p.location}: {p.message}" for p in result.skipped]
    for o in result.outcomes:
        shown = [p for p in o.problems if p.code != "MG-STORE-001"]
        if not shown:
            continue
        who = f" ({o.partnership_id or o.partnership_name})" if (o.partnership_id or o.partnership_name) else ""
        status = o.status
        if o.status == "review":
            status = "in review"
            who = f" (suggested: {o.suggested_partnership})" if o.suggested_partnership else who
        lines.append(f"{o.file}{who}: {status}")
        for p in shown:
            where = f"{p.location}: " if p.location and p.location != o.file else ""
            lines.append(f"  {p.severity.value} {p.code} {where}{p.message}")
    return "\n".join(lines)


@main.command(context_settings=CONTEXT)
@round_option(help="Only this round (with --xlsx/--csv: the round to export, default the newest open one).")
@db_option
@click.option("--all", "show_all", is_flag=True, help="Every submission, not only the current one per partnership.")
@click.option("--json", "as_json", is_flag=True, help="Print the rows as JSON (a list of objects) for other programs.")
@click.option("--xlsx", "xlsx_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Export the round: one row per roster partnership, and its problems on a second sheet.")
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Export the round as CSV (problems in <name>-problems.csv beside it).")
def scores(round_label, db, show_all, as_json, xlsx_path, csv_path) -> None:
    """List what is stored: partnership, round, status, overall stage, when; or export a round."""
    store = open_store_or_exit(db)
    if xlsx_path is not None or csv_path is not None:
        from ..export import round_export, write_export

        label = pick_round(store, round_label)
        export = round_export(store, label)
        for target in (xlsx_path, csv_path):
            if target is not None:
                for written in write_export(export, target):
                    click.echo(f"Wrote {written}")
        click.echo(f"Round {label}: {len(export.rows)} partnerships on the roster, {len(export.problems)} problem(s)")
        return
    if round_label:
        pick_round(store, round_label)
    rows = scores_rows(store, round_label, show_all)
    if as_json:
        click.echo(table.as_json(rows))
        return
    if not rows:
        click.echo("Nothing stored" + (f" for round {round_label}" if round_label else "") + ".")
        return
    shown = [(r["partnership_id"] or "-", r["name"] or f"({r['claimed_name'] or 'unknown'})", r["round"] or "-",
              r["status"], r["overall_stage"], f"{r['progress']:.0f}%" if r["progress"] is not None else "",
              _when(r["received_at"]), "yes" if r["current"] else "no", r["file"]) for r in rows]
    click.echo(format_table(SCORES_TITLES, shown, shrink=("name", "file")))


SCORES_TITLES = ("partnership", "name", "round", "status", "overall stage", "progress", "received", "current", "file")


def _when(iso: str) -> str:
    return iso[:16].replace("T", " ") if iso else ""


def scores_rows(store, round_label: str, show_all: bool) -> list[dict]:
    """One object per stored submission, for the table and ``--json``; progress in percent, as in
    summary.csv. ``name`` is None for a return matched to no partnership (``claimed_name``: what
    was typed on it)."""
    labels: dict[str, dict[str, str]] = {}
    rows = []
    for s in store.submissions(round_label or None, current_only=not show_all):
        if s.rubric_hash and s.rubric_hash not in labels:
            rubric = store.rubric(s.rubric_hash)
            labels[s.rubric_hash] = {st.id: st.label for st in rubric.stages} if rubric else {}
        stage = labels.get(s.rubric_hash or "", {}).get(s.overall_stage or "", "")
        if s.status != "rejected" and not stage:
            stage = "not yet at a stage"
        p = s.partnership
        rows.append({
            "partnership_id": (p.partnership_id or None) if p else None, "name": p.name if p else None,
            "claimed_name": s.claimed_name or None, "round": s.round_label or "", "status": s.status,
            "overall_stage": stage, "progress": round(100 * s.progress, 1) if s.progress is not None else None,
            "received_at": s.received_at, "current": bool(s.current), "file": s.file_name,
        })
    return rows
