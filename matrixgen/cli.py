"""The command line: parse options, call the library, print, map results to exit codes.

This is the only module that imports click. Exit codes: 0 success, 1 the input had problems
(all of them printed), 2 usage errors (click's own).
"""

from __future__ import annotations

import atexit
import gc
import os
import sys
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING

import click

from . import __version__, identity
from .errors import Problem
from .layout import check_round
from .roster import load_roster
from .rubric import Rubric, load_rubric

if TYPE_CHECKING:
    from .store import Store

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


def data_dir() -> Path:
    """Where the store, archive and secret key live unless told otherwise."""
    return Path(os.environ.get("MATRIXGEN_HOME", "output"))


# --- shared options, defined once -------------------------------------------------------------

rubric_option = click.option(
    "--rubric", "rubric_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
    help="Rubric file (default: the packaged rubric.toml).",
)
silent_option = click.option("-s", "--silent", is_flag=True, help="No progress bar.")
db_option = click.option(
    "--db", "db", default=None, metavar="URL",
    help="The store: a SQLite file path or a SQLAlchemy URL (default: $MATRIXGEN_DB, else <data>/matrixgen.db).",
)


def out_option(default: str):
    return click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
                        default=default, show_default=True, help="Output folder.")


def round_option(required: bool = False):
    return click.option("--round", "round_label", default="", required=required, metavar="LABEL",
                        help="Round label, e.g. 2026 or 2026-fall.")


def echo_problems(problems: tuple[Problem, ...] | list[Problem]) -> None:
    for p in problems:
        click.echo(f"{p.severity.value}: {p}", err=True)


def load_rubric_or_exit(path: Path | None) -> Rubric:
    result = load_rubric(path)
    echo_problems(result.problems)
    if not result.valid:
        raise SystemExit(1)
    assert result.rubric is not None
    return result.rubric


def open_store_or_exit(db: str | None) -> Store:
    from .store import Store, StoreError  # SQLAlchemy: loaded only by the commands that use the store

    try:
        return Store.open(db, data_dir())
    except StoreError as exc:
        echo_problems([exc.problem])
        raise SystemExit(1)


def load_key_or_exit() -> bytes:
    try:
        return identity.load_key(data_dir())
    except identity.KeyError_ as exc:
        click.echo(f"error: {exc}; set MATRIXGEN_SECRET or restore the key file", err=True)
        raise SystemExit(1)


def progress(silent: bool, length: int, label: str):
    # Drawn on stderr so that piping a command's results never mixes in a progress bar.
    return click.progressbar(length=length, label=label, hidden=silent, show_pos=True, file=sys.stderr)


# --- commands -----------------------------------------------------------------------------------


@click.group(context_settings=CONTEXT)
@click.version_option(__version__, "--version", prog_name="matrixgen")
def main() -> None:
    """Sector-partnership self-assessment: rubric -> workbooks -> scores -> reports."""


@main.group(context_settings=CONTEXT)
def rubric() -> None:
    """Check or show a rubric file."""


@rubric.command("check", context_settings=CONTEXT)
@click.argument("path", required=False, type=click.Path(dir_okay=False, path_type=Path))
def rubric_check(path: Path | None) -> None:
    """Validate a rubric and report every problem (default: the packaged rubric)."""
    result = load_rubric(path)
    echo_problems(result.problems)
    if not result.valid:
        click.echo(f"{len(result.errors)} error(s), {len(result.warnings)} warning(s)", err=True)
        raise SystemExit(1)
    r = result.rubric
    assert r is not None
    click.echo(f"ok: {r.id} version {r.version}: {len(r.stages)} stages, {len(r.dimensions)} dimensions, "
               f"{len(r.criteria)} criteria, {len(r.responses)} responses; hash {r.short_hash}")


@rubric.command("show", context_settings=CONTEXT)
@click.argument("path", required=False, type=click.Path(dir_okay=False, path_type=Path))
def rubric_show(path: Path | None) -> None:
    """Print the matrix as a table, then every criterion in full."""
    r = load_rubric_or_exit(path)
    click.echo(format_matrix(r))


def format_matrix(r: Rubric) -> str:
    width = max(len(d.label) for d in r.dimensions) + 2
    cols = [max(len(s.label), 5) + 2 for s in r.stages]
    lines = [f"{r.title} (version {r.version}, hash {r.short_hash})", ""]
    lines.append("Dimension".ljust(width) + "".join(s.label.ljust(w) for s, w in zip(r.stages, cols)).rstrip())
    lines.append("-" * (width + sum(cols)))
    for d in r.dimensions:
        cells = [", ".join(c.id for c in r.cells(d.id, s.id)) or "·" for s in r.stages]
        lines.append(d.label.ljust(width) + "".join(c.ljust(w) for c, w in zip(cells, cols)).rstrip())
    lines += ["", "Criteria"]
    stage_w = max(len(s.label) for s in r.stages) + 2
    id_w = max(len(c.id) for c in r.criteria) + 2
    indent = " " * (id_w + stage_w)
    for c in r.criteria:
        text = c.text + (f" (Guidance: {c.guidance})" if c.guidance else "")
        wrapped = textwrap.wrap(text, 100 - len(indent)) or [""]
        lines.append(c.id.ljust(id_w) + r.stage(c.stage_id).label.ljust(stage_w) + wrapped[0])
        lines += [indent + w for w in wrapped[1:]]
    lines += ["", "Answers: " + "; ".join(f"{x.label} ({x.points:g}{', met' if x.met else ''})" for x in r.responses)]
    return "\n".join(lines)


@main.command(context_settings=CONTEXT)
@rubric_option
@click.option("--roster", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="CSV with id,name,region,sector,contact_name,contact_email: one workbook per row.")
@round_option()
@out_option("output/blank")
@click.option("--due", default="", help="Return-by date shown on the Instructions sheet.")
@click.option("--contact", default="", help="Who to ask, shown on the Instructions sheet.")
@db_option
@silent_option
def generate(rubric_path, roster, round_label, out_dir, due, contact, db, silent) -> None:
    """Write fillable workbooks: one generic blank, or one signed workbook per roster row.

    The store records the rubric version used and which workbook went to which partnership,
    so that returned files are scored with the version they were made from."""
    from .generate import Options, generate_blank, generate_workbooks  # openpyxl: only this command needs it

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
    options = Options(round=round_label, due=due, contact=contact)
    if partnerships is None:
        made = generate_blank(r, out_dir, options, key)
        store.record_issue(round_label, r, [made])
        click.echo(f"Wrote a blank workbook: {made.path}")
        return
    with progress(silent, len(partnerships), "Generating") as bar:
        made_all = generate_workbooks(r, partnerships, out_dir, options, key, progress=lambda _p: bar.update(1))
    store.record_issue(round_label, r, made_all)
    round_note = f" for round {round_label}" if round_label else ""
    click.echo(f"Wrote {len(made_all)} workbooks{round_note} to {out_dir}/")




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
    from .batch import read_paths, store_results
    from .summary import write_outputs

    if not check_round(round_label):
        raise click.BadParameter(f"{round_label!r}: use letters, digits, '.', '_' and '-' (e.g. 2026 or 2026-fall)",
                                 param_hint="--round")
    r = load_rubric_or_exit(rubric_path)
    key = load_key_or_exit()
    # Reading starts before the store opens: loading SQLAlchemy and opening the store overlap with it.
    with read_paths(paths, r, key, data_dir() / "archive", round_label=round_label) as reading:
        store = open_store_or_exit(db)
        with progress(silent, len(reading.files), "Scoring") as bar:
            result = store_results(reading, store, progress=lambda _o: bar.update(1))
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
    click.echo(f"\nWrote {', '.join(str(w) for w in written)}")
    if not result.clean:
        raise SystemExit(1)


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
def scores(round_label, db, show_all) -> None:
    """List what is stored: partnership, round, status, overall stage, when."""
    store = open_store_or_exit(db)
    rows = store.submissions(round_label or None, current_only=not show_all)
    if not rows:
        click.echo("Nothing stored" + (f" for round {round_label}" if round_label else "") + ".")
        return
    labels: dict[str, dict[str, str]] = {}
    table = [("partnership", "name", "round", "status", "overall stage", "progress", "received", "current", "file")]
    for s in rows:
        if s.rubric_hash and s.rubric_hash not in labels:
            rubric = store.rubric(s.rubric_hash)
            labels[s.rubric_hash] = {st.id: st.label for st in rubric.stages} if rubric else {}
        stage = labels.get(s.rubric_hash or "", {}).get(s.overall_stage or "", "")
        if s.status != "rejected" and not stage:
            stage = "not yet at a stage"
        p = s.partnership
        table.append((
            (p.partnership_id or "(typed)") if p else "", p.name if p else "", s.round_label or "", s.status,
            stage, f"{100 * s.progress:.0f}%" if s.progress is not None else "", s.received_at,
            "yes" if s.current else "no", s.file_name,
        ))
    widths = [max(len(str(row[i])) for row in table) for i in range(len(table[0]))]
    for row in table:
        click.echo("  ".join(str(v).ljust(w) for v, w in zip(row, widths)).rstrip())


@main.command(context_settings=CONTEXT)
@out_option("output/demo")
def demo(out_dir) -> None:
    """Run the whole pipeline on embedded sample data."""
    from .demo import DemoError, run_demo

    try:
        result = run_demo(out_dir)
    except DemoError as exc:
        click.echo(f"error: {exc}", err=True)
        raise SystemExit(1)
    for what, where in result.steps:
        click.echo(f"{what}\n    -> {where}")
