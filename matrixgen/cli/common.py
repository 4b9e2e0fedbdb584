"""What every command shares: the ``main`` group, options defined once, and how problems,
the rubric, the store and the key are loaded or reported."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import click

from .. import __version__, identity
from ..errors import Problem, problem
from ..files import LABEL_RULE, data_dir, shown_path, valid_label
from ..rubric import Rubric, load_rubric

if TYPE_CHECKING:
    from ..store import Store

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


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


def out_option(folder: str):
    """``--out``; without it, ``<data directory>/<folder>`` (see ``out_dir``)."""
    return click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
                        help=f"Output folder (default: <data directory>/{folder}, the data directory being "
                             "$MATRIXGEN_HOME or output/).")


def out_dir(given: Path | None, folder: str) -> Path:
    return given if given is not None else data_dir() / folder


def check_label(ctx, param, value):
    """click callback: the one label rule for round labels and partnership ids, a usage error (2) otherwise."""
    values = value if isinstance(value, tuple) else (value,)
    for v in values:
        if v and not valid_label(v):
            raise click.BadParameter(f"{v!r}: use {LABEL_RULE} (e.g. 2026 or 2026-fall)")
    return value


def round_option(required: bool = False, help: str = "Round label, e.g. 2026 or 2026-fall."):
    # No default at all when required: click 8.3+ takes an explicit default=None as a value given.
    default = {} if required else {"default": ""}
    return click.option("--round", "round_label", required=required, metavar="LABEL", callback=check_label,
                        help=help, **default)


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


def open_store_or_exit(db: str | None, *, create: bool = False) -> Store:
    """The store; only commands that write pass ``create`` (a mistyped --db must not make an
    empty store that then answers "nothing stored"). Says when it made or upgraded one."""
    from ..store import Store, StoreError  # SQLAlchemy: loaded only by the commands that use the store

    try:
        store = Store.open(db, data_dir(), create=create)
    except StoreError as exc:
        echo_problems([exc.problem])
        raise SystemExit(1)
    if store.upgrade.created:
        click.echo(f"Created a new store at {_where(store)}", err=True)
    elif store.upgrade.upgraded:
        click.echo(f"Upgraded the store at {_where(store)} to schema version "
                   f"{int(store.upgrade.to_revision)}:", err=True)
        for revision, summary in store.upgrade.steps:
            click.echo(f"  {int(revision)}: {summary}", err=True)
    return store


def _where(store: Store) -> str:
    """The store's file as the user would type it, or its URL."""
    shown = store.shown
    return shown_path(shown.removeprefix("sqlite:///")) if shown.startswith("sqlite:///") else shown


def pick_round(store: Store, given: str | None) -> str:
    """``--round`` if it exists, else the newest open round (saying so); exit 1 when there is none."""
    if given:
        if store.round(given) is None:
            known = ", ".join(r.label for r in store.rounds()) or "none yet"
            echo_problems([problem("MG-STORE-006", "--round", value=given, known=known)])
            raise SystemExit(2)
        return given
    label = store.newest_open_round()
    if label is None:
        closed = store.latest_round()
        if closed is None:
            click.echo("No rounds yet: open one with `matrixgen round open LABEL --roster roster.csv`.", err=True)
        else:
            click.echo(f"No round is open (the newest, {closed}, is closed): give --round LABEL.", err=True)
        raise SystemExit(1)
    click.echo(f"Round {label} (the newest open round; --round chooses another)", err=True)
    return label


def load_key_or_exit() -> bytes:
    try:
        return identity.load_key(data_dir())
    except identity.KeyError_ as exc:
        echo_problems([exc.problem])
        raise SystemExit(1)


def format_table(header: tuple, rows: list[tuple], shrink: tuple[str, ...] = ()) -> str:
    """A plain-text table that fits the terminal: the ``shrink`` columns give up width, cut with "…"
    (``table.render``, the one formatter of every table the commands print)."""
    from . import table

    return "\n".join(table.render(header, rows, shrink=shrink, width=table.terminal_width()))


def progress(silent: bool, length: int, label: str):
    # Drawn on stderr so that piping a command's results never mixes in a progress bar.
    return click.progressbar(length=length, label=label, hidden=silent, show_pos=True, file=sys.stderr)



# --- Ctrl-C -------------------------------------------------------------------------------------

INTERRUPTED = "matrixgen.interrupted"
INTERRUPTED_EXIT = 130  # 128 + SIGINT, as shells report it


def on_interrupt(describe: Callable[[], str]) -> None:
    """What a command says, in one line, if Ctrl-C stops it: what was finished and what was not."""
    click.get_current_context().meta[INTERRUPTED] = describe


@dataclass
class Tally:
    """How far a command's work has gone: what ``on_interrupt`` reports."""

    total: int | None = None  # None: not yet known
    done: int = 0
    where: str = ""  # the folder the work goes to

    def step(self, *_: object) -> None:
        self.done += 1


class Main(click.Group):
    """The command group; a Ctrl-C ends any command with one line instead of click's "Aborted!"
    (and the exit code 130), whatever the command was doing (see ``matrixgen.interrupt``)."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            describe = ctx.meta.get(INTERRUPTED)
            click.echo(f"Interrupted: {describe()}" if describe else "Interrupted.", err=True)
            ctx.exit(INTERRUPTED_EXIT)


@click.group(cls=Main, context_settings=CONTEXT)
@click.version_option(__version__, "--version", prog_name="matrixgen")
def main() -> None:
    """Sector-partnership self-assessment: rubric -> workbooks -> scores -> reports."""
    # What matrixgen writes holds names, addresses and answers: private whatever the user's umask,
    # including files that libraries create for us (SQLite's -wal and -shm).
    os.umask(0o077)


