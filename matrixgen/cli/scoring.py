"""`matrixgen score` and `matrixgen scores`: returned files into the store, and what it holds."""

from __future__ import annotations

import atexit
import gc
from pathlib import Path

import click

from ..files import data_dir
from ..layout import check_round
from . import table
from .common import (
    CONTEXT,
    Tally,
    db_option,
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
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@db_option
@out_option("output/scores")
@round_option()
@rubric_option
@silent_option
def score(paths, db, out_dir, round_label, rubric_path, silent) -> None:
    """Score returned workbooks (files or folders, searched recursively) into the store.

    Writes summary.csv, summary.xlsx and problems.csv to --out. Exit code 0 when every file
    scored cleanly, 1 when any file was incomplete or rejected (the rest are still stored)."""
    tally = Tally()
    on_interrupt(lambda: interrupted(tally))
    from ..batch import read_paths, store_results
    from ..summary import write_outputs

    if not check_round(round_label):
        raise click.BadParameter(f"{round_label!r}: use letters, digits, '.', '_' and '-' (e.g. 2026 or 2026-fall)",
                                 param_hint="--round")
    r = load_rubric_or_exit(rubric_path)
    key = load_key_or_exit()
    # Reading starts before the store opens: loading SQLAlchemy and opening the store overlap with it.
    with read_paths(paths, r, key, data_dir() / "archive", round_label=round_label) as reading:
        tally.total = len(reading.files)
        store = open_store_or_exit(db)
        with progress(silent, len(reading.files), "Scoring") as bar:

            def stored(_outcome) -> None:
                bar.update(1)
                tally.step()

            result = store_results(reading, store, progress=stored)
    store.close()
    # What the run made lives until the process ends: spare the interpreter's last garbage
    # collection the walk over all of it (~0.1 s of a 1,000-file run's exit).
    atexit.register(gc.freeze)
    written = write_outputs(result, out_dir, [s.label for s in r.stages])
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
        lines.append(f"{o.file}{who}: {o.status}")
        for p in shown:
            where = f"{p.location}: " if p.location and p.location != o.file else ""
            lines.append(f"  {p.severity.value} {p.code} {where}{p.message}")
    return "\n".join(lines)


@main.command(context_settings=CONTEXT)
@round_option()
@db_option
@click.option("--all", "show_all", is_flag=True, help="Every submission, not only the current one per partnership.")
@click.option("--json", "as_json", is_flag=True, help="Print the rows as JSON (a list of objects) for other programs.")
def scores(round_label, db, show_all, as_json) -> None:
    """List what is stored: partnership, round, status, overall stage, when."""
    store = open_store_or_exit(db)
    rows = scores_rows(store, round_label, show_all)
    if as_json:
        click.echo(table.as_json(rows))
        return
    if not rows:
        click.echo("Nothing stored" + (f" for round {round_label}" if round_label else "") + ".")
        return
    shown = [((r["partnership_id"] or "(typed)") if r["partnership_id"] is not None else "", r["name"] or "",
              r["round"], r["status"], r["overall_stage"], f"{r['progress']:.0f}%" if r["progress"] is not None else "",
              _when(r["received_at"]), "yes" if r["current"] else "no", r["file"]) for r in rows]
    lines = table.render(SCORES_TITLES, shown, shrink=("name", "file"), width=table.terminal_width())
    click.echo("\n".join(lines))


def _when(iso: str) -> str:
    return iso[:16].replace("T", " ") if iso else ""


SCORES_TITLES = ("partnership", "name", "round", "status", "overall stage", "progress", "received", "current", "file")


def scores_rows(store, round_label: str, show_all: bool) -> list[dict]:
    """One object per stored submission; progress in percent, as in summary.csv."""
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
            "partnership_id": (p.partnership_id or "") if p else None, "name": p.name if p else None,
            "round": s.round_label or "", "status": s.status, "overall_stage": stage,
            "progress": round(100 * s.progress, 1) if s.progress is not None else None,
            "received_at": s.received_at, "current": bool(s.current), "file": s.file_name,
        })
    return rows
