"""Answers + Rubric -> stages, progress and next steps. Pure functions: no I/O.

The rule, in plain words:

* A criterion is met when its answer is the scale's met answer (Met).
* A dimension reaches a stage when every criterion it has at that stage, and at every earlier
  stage, is met. Stages where the dimension has no criteria are passed over.
* The partnership's overall stage (the "staged" method, like CMMI's staged levels) is the highest
  stage S such that every criterion of every dimension at S and at all earlier stages is met.
* Progress is points earned over points possible, so it moves even when a stage does not.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from .rubric import Criterion, Response, Rubric


@dataclass(frozen=True)
class DimensionScore:
    dimension_id: str
    stage_id: str | None  # the last stage reached; None = not yet at a stage
    next_stage_id: str | None  # the first stage with criteria not yet reached
    next_steps: tuple[str, ...]  # criterion ids of next_stage_id that are not met
    points: float
    possible: float

    @property
    def progress(self) -> float:
        return self.points / self.possible if self.possible else 0.0


@dataclass(frozen=True)
class Inconsistency:
    """A later-stage criterion is Met while an earlier one of the same dimension is not."""

    dimension_id: str
    met_criterion_id: str
    unmet_criterion_id: str


@dataclass(frozen=True)
class Score:
    stage_id: str | None
    next_stage_id: str | None
    next_steps: tuple[str, ...]
    points: float
    possible: float
    dimensions: tuple[DimensionScore, ...]
    met: frozenset[str]
    unanswered: tuple[str, ...]
    inconsistencies: tuple[Inconsistency, ...]

    @property
    def progress(self) -> float:
        return self.points / self.possible if self.possible else 0.0

    @property
    def complete(self) -> bool:
        return not self.unanswered

    def dimension(self, dimension_id: str) -> DimensionScore:
        return next(d for d in self.dimensions if d.dimension_id == dimension_id)


def is_met(response: Response | None) -> bool:
    return response is not None and response.met


def _reached(rubric: Rubric, groups: list[tuple[str, list[Criterion]]], answers: Mapping[str, Response | None]):
    """Walk (stage, criteria) groups in stage order; return (reached, next stage, its unmet ids)."""
    reached = None
    for stage_id, criteria in groups:
        if not criteria:
            continue
        unmet = tuple(c.id for c in criteria if not is_met(answers.get(c.id)))
        if unmet:
            return reached, stage_id, unmet
        reached = stage_id
    return reached, None, ()


@dataclass(frozen=True)
class _Plan:
    """What scoring needs to know of a rubric, worked out once per rubric instead of per submission."""

    dimension_groups: dict[str, list[tuple[str, list[Criterion]]]]  # dimension id -> (stage, its criteria)
    overall_groups: list[tuple[str, list[Criterion]]]
    stage_index: dict[str, int]  # criterion id -> the index of its stage
    max_points: float


_PLANS: dict[int, tuple[Rubric, _Plan]] = {}  # by id(rubric); the rubric is kept so that its id stays its own


def _plan(rubric: Rubric) -> _Plan:
    cached = _PLANS.get(id(rubric))
    if cached is not None and cached[0] is rubric:
        return cached[1]
    plan = _Plan(
        dimension_groups={d.id: [(s.id, [c for c in d.criteria if c.stage_id == s.id]) for s in rubric.stages]
                          for d in rubric.dimensions},
        overall_groups=[(s.id, [c for c in rubric.criteria if c.stage_id == s.id]) for s in rubric.stages],
        stage_index={c.id: rubric.stage(c.stage_id).index for c in rubric.criteria},
        max_points=rubric.max_points,
    )
    if len(_PLANS) >= 64:
        _PLANS.clear()
    _PLANS[id(rubric)] = (rubric, plan)
    return plan


def score_dimension(rubric: Rubric, dimension_id: str, answers: Mapping[str, Response | None]) -> DimensionScore:
    dim = rubric.dimension(dimension_id)
    plan = _plan(rubric)
    reached, next_stage, next_steps = _reached(rubric, plan.dimension_groups[dim.id], answers)
    points = sum(answers[c.id].points for c in dim.criteria if answers.get(c.id) is not None)
    return DimensionScore(
        dimension_id=dim.id,
        stage_id=reached,
        next_stage_id=next_stage,
        next_steps=next_steps,
        points=points,
        possible=plan.max_points * len(dim.criteria),
    )


def inconsistencies(rubric: Rubric, answers: Mapping[str, Response | None]) -> tuple[Inconsistency, ...]:
    found = []
    stage_index = _plan(rubric).stage_index
    for dim in rubric.dimensions:
        for later in dim.criteria:
            if not is_met(answers.get(later.id)):
                continue
            later_index = stage_index[later.id]
            for earlier in dim.criteria:
                if stage_index[earlier.id] < later_index and not is_met(answers.get(earlier.id)):
                    found.append(Inconsistency(dim.id, later.id, earlier.id))
    return tuple(found)


def score(rubric: Rubric, answers: Mapping[str, Response | None]) -> Score:
    """Score one submission. ``answers`` maps criterion id -> Response (None or absent = unanswered)."""
    dimensions = tuple(score_dimension(rubric, d.id, answers) for d in rubric.dimensions)
    stage, next_stage, next_steps = _reached(rubric, _plan(rubric).overall_groups, answers)
    return Score(
        stage_id=stage,
        next_stage_id=next_stage,
        next_steps=next_steps,
        points=sum(d.points for d in dimensions),
        possible=sum(d.possible for d in dimensions),
        dimensions=dimensions,
        met=frozenset(c.id for c in rubric.criteria if is_met(answers.get(c.id))),
        unanswered=tuple(c.id for c in rubric.criteria if answers.get(c.id) is None),
        inconsistencies=inconsistencies(rubric, answers),
    )


def stage_label(rubric: Rubric, stage_id: str | None, none: str = "Not yet at a stage") -> str:
    return rubric.stage(stage_id).label if stage_id else none


def rule_sentence(rubric: Rubric, stage_id: str | None) -> str:
    """One line explaining an overall stage, e.g. for the top of a report."""
    labels = [s.label for s in rubric.stages]
    if stage_id is None:
        return f"Not yet at a stage: not every {labels[0]} criterion is met yet."
    upto = labels[: rubric.stage(stage_id).index + 1]
    listed = upto[0] if len(upto) == 1 else ", ".join(upto[:-1]) + " and " + upto[-1]
    return f"{rubric.stage(stage_id).label}: every {listed} criterion is met."
