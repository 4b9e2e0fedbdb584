"""The whole pipeline on embedded sample data, for a first look and for the test suite."""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from . import identity
from .generate import Generated, Options, generate_blank, generate_workbooks
from .roster import load_roster
from .rubric import Rubric, require_rubric


def sample_roster_path() -> Path:
    return Path(str(resources.files("matrixgen") / "data" / "sample_roster.csv"))


@dataclass
class DemoResult:
    out: Path
    steps: list[tuple[str, str]] = field(default_factory=list)  # (what happened, where to look)
    blanks: list[Generated] = field(default_factory=list)


def run_demo(out: str | Path, rubric: Rubric | None = None, rounds: tuple[str, ...] = ("2025", "2026")) -> DemoResult:
    out = Path(out)
    rubric = rubric or require_rubric()
    result = DemoResult(out)
    # The demo keeps its own key beside its own store: it leaves nothing outside its folder.
    key = identity.load_key(out)
    roster = load_roster(sample_roster_path())
    for label in rounds:
        options = Options(round=label, due=f"March 31, {int(label[:4]) + 1}" if label[:4].isdigit() else "")
        folder = out / label / "blank"
        generate_blank(rubric, folder, options, key)
        made = generate_workbooks(rubric, roster.partnerships, folder, options, key)
        result.blanks += made
        result.steps.append((f"round {label}: {len(made)} personalised workbooks and one generic blank", str(folder)))
    return result
