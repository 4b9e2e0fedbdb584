"""`matrixgen demo`: the whole pipeline on embedded sample data."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import click

from ..files import shown_path
from .common import CONTEXT, main, out_dir as default_out, out_option


def typed_command() -> str:
    """``matrixgen`` when that runs this program from the PATH, else the path it was run by (such
    as ``.venv/bin/matrixgen`` after ``make demo``), so the hints printed can be pasted as they are."""
    here = Path(sys.argv[0])
    found = shutil.which("matrixgen")
    if found and here.exists() and os.path.samefile(found, here):
        return "matrixgen"
    return shown_path(here.resolve()) if here.name == "matrixgen" and here.exists() else "matrixgen"


@main.command(context_settings=CONTEXT)
@out_option("demo")
def demo(out_dir) -> None:
    """Run the whole pipeline on embedded sample data (each run starts clean)."""
    from ..demo import DemoError, closing_summary, run_demo

    out_dir = default_out(out_dir, "demo")
    click.echo(f"Running two sample rounds into {out_dir}/ ...")
    try:
        result = run_demo(out_dir, prog=typed_command())
    except DemoError as exc:
        click.echo(f"error: {exc}", err=True)
        raise SystemExit(1)
    for what, where in result.steps:
        click.echo(f"{what}\n    -> {shown_path(where)}")
    click.echo("")
    click.echo("\n".join(closing_summary(result)))
