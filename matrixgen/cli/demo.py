"""`matrixgen demo`: the whole pipeline on embedded sample data."""

from __future__ import annotations

import click

from .common import CONTEXT, main, out_dir as default_out, out_option


@main.command(context_settings=CONTEXT)
@out_option("demo")
def demo(out_dir) -> None:
    """Run the whole pipeline on embedded sample data (each run starts clean)."""
    from ..demo import DemoError, closing_summary, run_demo

    out_dir = default_out(out_dir, "demo")
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
