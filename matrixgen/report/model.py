"""What a report shows, as data: the view models and the helpers that present their values.

``PartnershipReportData`` and ``PortfolioData`` hold everything a page shows, so rendering needs
no database and tests build them from the real rubric and ``score.score()``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import Iterable, Mapping

from ..errors import Problem
from ..roster import Partnership
from ..rubric import Response, Rubric
from ..score import Score, stage_label

PEERS_MIN = 5  # fewer partnerships than this in a round and counts could point at someone
NOT_YET = "Not yet at a stage"


# --- view models ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    """One criterion as the partnership answered it."""

    label: str | None = None  # the response label on the rubric's scale; None = unanswered
    evidence: str = ""


@dataclass(frozen=True)
class PastRound:
    """An earlier round of the same partnership, for the progress section."""

    round: str
    score: Score
    answers: Mapping[str, Answer] = field(default_factory=dict)


@dataclass(frozen=True)
class PartnershipReportData:
    rubric: Rubric
    partnership: Partnership
    round: str
    score: Score
    answers: Mapping[str, Answer]
    received_at: datetime | date | str | None = None
    respondent: str = ""
    sha256: str = ""
    status: str = "complete"
    problems: tuple[Problem, ...] = ()
    history: tuple[PastRound, ...] = ()  # earlier rounds, oldest first
    peers: Mapping[str | None, int] | None = None  # stage id (None = no stage) -> partnerships
    generated_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))


@dataclass(frozen=True)
class PortfolioRow:
    partnership: Partnership
    stage_id: str | None
    progress: float
    status: str = "complete"
    problem_count: int = 0
    previous_stage_id: str | None = None
    previous_progress: float | None = None  # None = no submission in the previous round

    @property
    def has_previous(self) -> bool:
        return self.previous_progress is not None


@dataclass(frozen=True)
class PortfolioData:
    rubric: Rubric
    round: str
    rows: tuple[PortfolioRow, ...]
    previous_round: str | None = None
    not_returned: tuple[Partnership, ...] | None = None  # None = the round's roster is not known
    problems: tuple[tuple[str, Problem], ...] = ()  # (partnership id, problem)
    generated_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))

    def stage_index(self, stage_id: str | None) -> int:
        return _stage_index(self.rubric, stage_id)

    @property
    def counts_by_stage(self) -> dict[str | None, int]:
        """Partnerships per overall stage, every stage present (None = not yet at a stage)."""
        counts: dict[str | None, int] = {None: 0, **{s.id: 0 for s in self.rubric.stages}}
        for row in self.rows:
            counts[row.stage_id] = counts.get(row.stage_id, 0) + 1
        return counts

    def counts_by(self, attribute: str) -> dict[str, dict[str | None, int]]:
        """``{"region name": {stage id: count}}`` for attribute ``region`` or ``sector``."""
        groups: dict[str, dict[str | None, int]] = {}
        for row in sorted(self.rows, key=lambda r: natural(getattr(r.partnership, attribute))):
            key = getattr(row.partnership, attribute) or "(not given)"
            counts = groups.setdefault(key, {None: 0, **{s.id: 0 for s in self.rubric.stages}})
            counts[row.stage_id] = counts.get(row.stage_id, 0) + 1
        return groups

    @property
    def advanced(self) -> tuple[PortfolioRow, ...]:
        return tuple(r for r in self.rows if r.has_previous
                     and self.stage_index(r.stage_id) > self.stage_index(r.previous_stage_id))

    @property
    def slipped(self) -> tuple[PortfolioRow, ...]:
        return tuple(r for r in self.rows if r.has_previous
                     and self.stage_index(r.stage_id) < self.stage_index(r.previous_stage_id))


def natural(text: str) -> tuple:
    """Sort key that puts "Region 2" before "Region 10"."""
    return tuple(int(part) if part.isdigit() else part.casefold() for part in re.split(r"(\d+)", text))


def peer_counts(rubric: Rubric, scores: Iterable[Score]) -> dict[str | None, int] | None:
    """How many partnerships are at each stage; None when the round is too small to show."""
    scores = list(scores)
    if len(scores) < PEERS_MIN:
        return None
    counts: dict[str | None, int] = {None: 0, **{s.id: 0 for s in rubric.stages}}
    for s in scores:
        counts[s.stage_id] = counts.get(s.stage_id, 0) + 1
    return counts


# --- presentation helpers ---------------------------------------------------------------------


def percent(value: float) -> int:
    """0.625 -> 63 (half up, as people round, not Python's half-to-even)."""
    return int(value * 100 + 0.5)


def abbreviate(text: str, limit: int = 110) -> str:
    if len(text) <= limit:
        return text
    cut = text[: limit - 1].rsplit(" ", 1)[0].rstrip(" ,;:—-(")
    return cut + "…"


def format_day(value: datetime | date | str | None) -> str:
    if value is None or value == "":
        return "not recorded"
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    return f"{value:%B} {value.day}, {value.year}"


def format_moment(value: datetime | str) -> str:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    if value.tzinfo is not None:
        return value.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return value.strftime("%Y-%m-%d %H:%M")


def _iso(value: datetime | str) -> str:
    return value.isoformat(timespec="seconds") if isinstance(value, datetime) else str(value)


def answer_kind(response: Response | None) -> str:
    """The CSS class and legend key of an answer: met, progress, notyet or unanswered."""
    if response is None:
        return "unanswered"
    if response.met:
        return "met"
    return "progress" if response.points > 0 else "notyet"


SYMBOLS = {"met": "●", "progress": "◐", "notyet": "○", "unanswered": "?"}


def _response(rubric: Rubric, answer: Answer | None) -> Response | None:
    if answer is None or answer.label is None:
        return None
    return rubric.match_response(answer.label)


def _legend(rubric: Rubric) -> list[dict]:
    entries = [{"kind": answer_kind(r), "label": r.label} for r in rubric.responses]
    entries.append({"kind": "unanswered", "label": "Unanswered"})
    return [dict(e, symbol=SYMBOLS[e["kind"]]) for e in entries]


def _stage_index(rubric: Rubric, stage_id: str | None) -> int:
    # An earlier round may have used another rubric version: unknown stage ids rank lowest.
    stage = next((s for s in rubric.stages if s.id == stage_id), None)
    return -1 if stage is None else stage.index


def _label(rubric: Rubric, stage_id: str | None, none: str = NOT_YET) -> str:
    if stage_id is not None and not any(s.id == stage_id for s in rubric.stages):
        return stage_id  # a stage of another rubric version: its id is the best we have
    return stage_label(rubric, stage_id, none)


def _change(rubric: Rubric, before: str | None, after: str | None) -> str:
    a, b = _stage_index(rubric, before), _stage_index(rubric, after)
    return "up" if b > a else "down" if b < a else "same"
