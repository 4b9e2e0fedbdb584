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
from .errors import Problem, problem
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


# --- rounds, who has returned, email ---------------------------------------------------------------


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
@db_option
def status(round_label, csv_path, db) -> None:
    """One line per partnership: issued, sent, returned, status, overall stage, report sent.

    Default round: the newest. Times are UTC."""
    from .status import round_status, write_csv

    store = open_store_or_exit(db)
    label = round_label or store.latest_round()
    if label is None:
        click.echo("No rounds yet: open one with `matrixgen round open LABEL --roster roster.csv`.")
        return
    require_round(store, label)
    result = round_status(store, label)
    click.echo(format_status(result))
    if csv_path is not None:
        click.echo(f"\nWrote {write_csv(result, csv_path)}")


def _when(iso: str) -> str:
    return iso[:16].replace("T", " ") if iso else "-"


def format_status(result) -> str:
    due = f", due {result.due}" if result.due else ""
    lines = [f"Round {result.label}{due}: {len(result.rows)} partnerships (times UTC)", ""]
    table = [("partnership", "name", "issued", "sent", "reminded", "returned", "status", "overall stage",
              "report sent")]
    for r in result.rows:
        sent = _when(r.sent_at) if r.sent_at else (f"failed {r.send_failed}" if r.send_failed else "-")
        name = r.name if len(r.name) <= 28 else r.name[:27] + "…"
        table.append((r.partnership_id, name, r.issued_at[:10] or "-", sent, _when(r.reminded_at),
                      _when(r.returned_at), r.status or "-", r.overall_stage or "-", _when(r.report_sent_at)))
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip() for row in table]
    t = result.totals()
    lines += ["", (f"{t['partnerships']} partnerships: {t['issued']} issued, {t['sent']} sent"
                   + (f" ({t['send failed']} failed)" if t["send failed"] else "")
                   + f", {t['returned']} returned ({t['scored']} scored, {t['incomplete']} incomplete, "
                   f"{t['rejected']} rejected), {t['not returned']} not returned, {t['reports sent']} reports sent")]
    missing = [f"{r.partnership_id} ({r.status or 'not returned'})" for r in result.rows if r.missing]
    if missing:
        lines.append("Still to come: " + ", ".join(missing))
    return "\n".join(lines)


@main.command(context_settings=CONTEXT)
@click.argument("kind", type=click.Choice(["blanks", "reminders", "reports"]))
@round_option(required=True)
@click.option("--partnership", "partnership_ids", multiple=True, metavar="ID",
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
    reminders  to partnerships without a scored return (incomplete ones get the missing cells)
    reports    its latest report PDF, only to its own contact

    Every message is recorded before and after it is sent: a re-run sends only what has not gone
    out and retries what failed. Exit code 1 when any message failed."""
    from dataclasses import replace

    from . import send as mail

    check_round_or_fail(round_label)
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
    info = require_round(store, round_label)
    rubric = store.rubric(info.rubric_hash) if info.rubric_hash else None
    rnd = mail.Round(round_label, info.due, rubric.title if rubric else mail.Round.title)
    if kind == "reports":
        from .report import render_missing_reports

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
    with progress(silent, len(planned), "Sending" if not dry_run else "Writing") as bar:
        result = mail.send_batch(rnd, planned, settings, mail.SqlSendLog(store.engine), transport,
                                 resend=resend, limit=limit, dry_run=dry_run, progress=lambda _o: bar.update(1))
    click.echo(format_sent(result, kind, round_label))
    echo_problems(result.all_problems())
    if dry_run and result.count(mail.WRITTEN):
        click.echo(f"Wrote {result.count(mail.WRITTEN)} message(s) to {outbox}/: nothing was sent or recorded.")
    if not result.ok:
        raise SystemExit(1)


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


@main.command(context_settings=CONTEXT)
@db_option
@round_option()
@click.option("--partnership", "partnership_ids", multiple=True, metavar="ID",
              help="Only this partnership (repeat for more; default: every partnership with a current submission).")
@out_option("output/reports")
@click.option("--portfolio/--no-portfolio", default=True, show_default=True,
              help="Also write the portfolio report of the whole round.")
@silent_option
def report(db, round_label, partnership_ids, out_dir, portfolio, silent) -> None:
    """Write a PDF report per partnership and the round's portfolio report.

    Default: the newest round, every partnership with a current submission in it, into
    --out/<round>/. Exit code 1 when any report failed (the others are still written)."""
    from .report import load_reports, write_stored_reports

    if round_label:
        check_round_or_fail(round_label)
    store = open_store_or_exit(db)
    loaded = load_reports(store, round_label or None, partnership_ids)
    echo_problems(loaded.problems)
    if not loaded.ok:
        raise SystemExit(1)
    total = len(loaded.reports) + (1 if portfolio else 0)
    with progress(silent, total, "Rendering") as bar:
        files = write_stored_reports(store, loaded, out_dir, portfolio=portfolio, on_done=lambda _f: bar.update(1))
    for f in files:
        echo_problems(f.problems)
    echo_problems(files.notes)  # once per run, not per report
    failed = [f for f in files if not f.ok]
    written = len(files) - len(failed)
    click.echo(f"Round {loaded.round}: wrote {written} of {len(files)} report(s) to {Path(out_dir) / loaded.round}"
               + (f"; {len(failed)} failed: " + ", ".join(f.path.name for f in failed) if failed else ""))
    if failed:
        raise SystemExit(1)


@main.command(context_settings=CONTEXT)
@out_option("output/demo")
def demo(out_dir) -> None:
    """Run the whole pipeline on embedded sample data (each run starts clean)."""
    from .demo import DemoError, closing_summary, run_demo

    click.echo(f"Running two sample rounds into {out_dir}/ ...")
    try:
        result = run_demo(out_dir)
    except DemoError as exc:
        click.echo(f"error: {exc}", err=True)
        raise SystemExit(1)
    for what, where in result.steps:
        click.echo(f"{what}\n    -> {where}")
    click.echo("")
    click.echo("\n".join(closing_summary(result)))
