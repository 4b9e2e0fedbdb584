from __future__ import annotations

import itertools

import pytest

from matrixgen.rubric import load_rubric, parse_rubric
from matrixgen.score import rule_sentence, score, stage_label

REAL = load_rubric().rubric

SMALL = """
[rubric]
id = "small"
title = "Small"
version = "1"

[[stages]]
id = "a"
label = "A"

[[stages]]
id = "b"
label = "B"

[[stages]]
id = "c"
label = "C"

[[responses]]
label = "Met"
points = 2
met = true

[[responses]]
label = "Partly"
points = 1

[[responses]]
label = "No"
points = 0

[[dimensions]]
id = "x"
label = "X"
criteria = [
  { id = "x-a", stage = "a", text = "x at a" },
  { id = "x-c", stage = "c", text = "x at c" },
]

[[dimensions]]
id = "y"
label = "Y"
criteria = [
  { id = "y-b1", stage = "b", text = "y at b" },
  { id = "y-b2", stage = "b", text = "y at b again" },
  { id = "y-c", stage = "c", text = "y at c" },
]
"""


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    path = tmp_path_factory.mktemp("rubric") / "small.toml"
    path.write_text(SMALL, encoding="utf-8")
    result = load_rubric(path)
    assert result.valid, result.problems
    return result.rubric


def reference_stage(rubric, criteria, met: set[str]) -> str | None:
    """The rule as the issue states it, written independently of score.py."""
    reached = None
    for stage in rubric.stages:
        at = [c for c in criteria if c.stage_id == stage.id]
        if not at:
            continue
        if all(c.id in met for c in at):
            reached = stage.id
        else:
            break
    return reached


def test_score__every_answer_combination_on_a_small_rubric__matches_the_rule(small):
    states = [small.response("Met"), small.response("Partly"), small.response("No"), None]
    ids = [c.id for c in small.criteria]
    for combo in itertools.product(states, repeat=len(ids)):
        answers = dict(zip(ids, combo))
        met = {cid for cid, r in answers.items() if r is not None and r.met}
        result = score(small, answers)
        assert result.stage_id == reference_stage(small, small.criteria, met)
        for dim in small.dimensions:
            d = result.dimension(dim.id)
            assert d.stage_id == reference_stage(small, dim.criteria, met)
            assert d.points == sum(answers[c.id].points for c in dim.criteria if answers[c.id] is not None)
            assert d.possible == 2 * len(dim.criteria)
        assert result.points == sum(r.points for r in combo if r is not None)
        assert result.progress == pytest.approx(result.points / (2 * len(ids)))
        assert result.unanswered == tuple(cid for cid, r in answers.items() if r is None)
        assert result.complete == all(r is not None for r in combo)


def test_score__stage_without_criteria__is_passed_over(small):
    # X has criteria at a and c only: a and c met -> c, although X has nothing at b.
    met = small.response("Met")
    result = score(small, {"x-a": met, "x-c": met})
    assert result.dimension("x").stage_id == "c"
    assert result.dimension("x").next_stage_id is None
    # Y has nothing at a: its first stage with criteria is b.
    assert result.dimension("y").stage_id is None
    assert result.dimension("y").next_stage_id == "b"
    assert result.dimension("y").next_steps == ("y-b1", "y-b2")


def test_score__next_steps__are_the_unmet_criteria_of_the_next_stage(small):
    met, partly = small.response("Met"), small.response("Partly")
    result = score(small, {"x-a": met, "y-b1": met, "y-b2": partly})
    assert result.stage_id == "a"
    assert result.next_stage_id == "b"
    assert result.next_steps == ("y-b2",)


def test_score__later_met_while_earlier_not__is_an_inconsistency(small):
    met, no = small.response("Met"), small.response("No")
    result = score(small, {"x-a": no, "x-c": met})
    assert [(i.dimension_id, i.met_criterion_id, i.unmet_criterion_id) for i in result.inconsistencies] == [
        ("x", "x-c", "x-a")]
    assert result.dimension("x").stage_id is None


def test_score__nothing_answered__is_none_with_zero_progress_and_all_unanswered(small):
    result = score(small, {})
    assert result.stage_id is None
    assert result.progress == 0
    assert result.unanswered == tuple(c.id for c in small.criteria)
    assert not result.complete


def test_score__real_rubric_examples_from_the_issue():
    met, no = REAL.response("Met"), REAL.response("Not yet")
    answers = {c.id: no for c in REAL.criteria}
    answers.update({"NC-1": met, "NC-2": no, "SC-1": no})
    result = score(REAL, answers)
    assert result.dimension("neutral-convener").stage_id == "emerging"
    assert result.dimension("sustainability").stage_id is None
    assert stage_label(REAL, result.dimension("sustainability").stage_id) == "Not yet at a stage"


@pytest.mark.parametrize("stage", ["exploring", "emerging", "operational", "sustainable"])
def test_score__real_rubric_met_through_a_stage__reaches_exactly_that_stage(stage):
    last = REAL.stage(stage).index
    answers = {c.id: REAL.response("Met" if REAL.stage(c.stage_id).index <= last else "Not yet") for c in REAL.criteria}
    result = score(REAL, answers)
    assert result.stage_id == stage
    assert not result.inconsistencies
    assert rule_sentence(REAL, stage).startswith(REAL.stage(stage).label)


def test_score__real_rubric_one_exploring_criterion_unmet__overall_none_but_progress_moves():
    answers = {c.id: REAL.response("Met") for c in REAL.criteria}
    answers["EE-1"] = REAL.response("In progress")
    result = score(REAL, answers)
    assert result.stage_id is None
    assert result.next_stage_id == "exploring"
    assert result.next_steps == ("EE-1",)
    assert result.progress == pytest.approx((len(REAL.criteria) - 0.5) / len(REAL.criteria))
    assert {i.unmet_criterion_id for i in result.inconsistencies} == {"EE-1"}


def test_score__real_rubric_unanswered__counted_not_met_and_listed():
    answers = {c.id: REAL.response("Met") for c in REAL.criteria}
    del answers["GM-1"]
    answers["SC-1"] = None
    result = score(REAL, answers)
    assert result.unanswered == ("GM-1", "SC-1")
    assert result.stage_id == "emerging"
    assert result.dimension("geography").stage_id is None


def test_score__scoring_method_defaults_to_staged():
    result = parse_rubric(SMALL)
    assert result.rubric.scoring_method == "staged"
