"""What a batch says about each file: an Outcome per file (a row of summary.csv), and the batch's result."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Mapping

from ..errors import Problem

if TYPE_CHECKING:
    pass


STATUSES = ("scored", "incomplete", "rejected", "review", "duplicate")


@dataclass(frozen=True)
class Outcome:
    """What happened to one file: a row of summary.csv."""

    file: str  # as given, relative to the folder it was found in
    sha256: str
    size: int
    status: str  # scored | incomplete | rejected | review (stored, waiting for a person) | duplicate
    partnership_id: str = ""
    partnership_name: str = ""
    round_label: str = ""
    overall_stage: str = ""  # label; '' = not yet at a stage, or not scored
    progress: float | None = None  # 0..1
    dimension_stages: Mapping[str, str] = field(default_factory=dict)  # dimension id -> stage label or ''
    current: bool = False
    verified: bool = False
    problems: tuple[Problem, ...] = ()
    submission_pk: int | None = None
    suggested_partnership: str = ""  # in review: whose matrixgen thinks it is


@dataclass
class BatchResult:
    outcomes: list[Outcome]
    skipped: list[Problem]  # lock files and hidden files, as notes
    dimensions: list[tuple[str, str]]  # (id, label) columns for the summary, current rubric first
    seconds: float = 0.0
    notes: list[Problem] = field(default_factory=list)  # about the batch as a whole, for staff

    def counts(self) -> dict[str, int]:
        found = {s: 0 for s in STATUSES}
        for o in self.outcomes:
            found[o.status] += 1
        return found

    @property
    def clean(self) -> bool:
        """Every file scored (or was already stored): nothing incomplete, rejected or waiting for review."""
        return all(o.status in ("scored", "duplicate") for o in self.outcomes)

    @property
    def problems(self) -> list[tuple[str, Problem]]:
        return ([("", p) for p in self.skipped] + [(o.file, p) for o in self.outcomes for p in o.problems]
                + [("", p) for p in self.notes])
