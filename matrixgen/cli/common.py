"""What every command shares: the ``main`` group, options defined once, and how problems,
the rubric, the store and the key are loaded or reported."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import click

from .. import __version__, identity
from ..errors import Problem
from ..files import data_dir
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
    from ..store import (  # SQLAlchemy: loaded only by the commands that use the store
        Store,
        StoreError,
    )

    try:
        return Store.open(db, data_dir())
    except StoreError as exc:
        echo_problems([exc.problem])
        raise SystemExit(1)


def load_key_or_exit() -> bytes:
    try:
        return identity.load_key(data_dir())
    except identity.KeyError_ as exc:
        echo_problems([exc.problem])
        raise SystemExit(1)


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


