"""`matrixgen rubric check|show`: validate a rubric file, or print it."""

from __future__ import annotations

import textwrap
from pathlib import Path

import click

from ..rubric import Rubric, load_rubric
from .common import CONTEXT, echo_problems, load_rubric_or_exit, main


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
