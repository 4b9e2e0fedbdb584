from __future__ import annotations

import filecmp
from pathlib import Path

import pytest

from matrixgen.rubric import default_rubric_path, load_rubric, parse_rubric, rubric_from_canonical

ROOT = Path(__file__).resolve().parents[1]

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

[[responses]]
label = "Met"
points = 1.0
met = true

[[responses]]
label = "Not yet"
points = 0.0
met = false

[[dimensions]]
id = "d1"
label = "One"

[[dimensions.criteria]]
id = "D1-1"
stage = "b"
text = "Second"

[[dimensions.criteria]]
id = "D1-2"
stage = "a"
text = "First"
"""

# The cell mapping the issue fixes: (dimension id, label, [(stage, criterion text)]).
EXPECTED = [
    ("employer-engagement", "Employer Driven/Industry Engagement", [
        ("exploring", 'Actively considering the "who, what, where, and why" of forming a partnership—determining if a partnership makes sense for their community or sector'),
        ("emerging", "Has engaged at least one employer champion to help drive the launch and implementation of a sector partnership"),
        ("operational", "Is led by industry as demonstrated by private sector members playing leadership roles (Chairperson, guiding team, etc.)"),
        ("sustainable", "Employers have seen value of the partnership"),
    ]),
    ("organizational-capacity", "Organizational Capacity and Alignment", [
        ("exploring", "Working to identify partners who should be involved; may have been initiated by a couple employers who have acknowledged a shared workforce problem or need but still perceive themselves as competitors at this stage"),
        ("emerging", 'Has the "right people at the table": includes industry sector employers with common challenges and individuals from workforce development, education, economic development and other programs or organizations in strategic partner roles who are able to address these challenges'),
        ("operational", "Includes critical and engaged partners across programs from workforce development, economic development, education, community organizations and others"),
    ]),
    ("neutral-convener", "Neutral Convener", [
        ("emerging", "Has, at minimum, an interim convener and a guiding team or advisory group"),
        ("operational", "Has a strong facilitator, convener, or convening team"),
    ]),
    ("shared-vision", "Shared Vision", [
        ("emerging", "Begin objectives"),
        ("operational", "Operates under a shared strategic plan, road map, workplan, etc., with some form of document identifying roles, responsibilities, and partner investments (example: memo of understanding)"),
    ]),
    ("service-delivery", "Sector-Based Service Delivery", [
        ("operational", "Can demonstrate clearly identified priorities and an action plan, and may be able to demonstrate recent or current activities, outputs, or products that are a direct outcome of the partnership (examples: career awareness campaigns for K-12, reduced vacancy rates or time to hire for employers, clear career pathways for job seekers, industry recognized/high demand certificates)"),
        ("sustainable", "Have produced outcomes"),
    ]),
    ("data-informed", "Data-informed Decision Making", [
        ("operational", "Uses data to inform decision making"),
        ("sustainable", "Have adopted a set of metrics and collected data that is reportable"),
    ]),
    ("geography", "Geographical Make-up", [
        ("operational", "Operates in a true labor market region, not within the confines of a workforce area or other geopolitical boundaries"),
    ]),
    ("sustainability", "Sustainability and Continuous Improvement", [
        ("sustainable", "Have a sustainability plan including how to financially sustain work over time"),
    ]),
]


def codes_at(result):
    return {(p.code, p.location) for p in result.problems}


def test_rubric__packaged_default__valid_with_four_stages_eight_dimensions_17_criteria():
    result = load_rubric()
    assert result.valid and result.problems == ()
    r = result.rubric
    assert [s.id for s in r.stages] == ["exploring", "emerging", "operational", "sustainable"]
    assert [s.label for s in r.stages] == ["Exploring", "Emerging", "Operational", "Sustainable"]
    assert len(r.dimensions) == 8 and len(r.criteria) == 17
    assert r.id == "indiana-sector-partnership-stages" and r.version == "2017-12-06"


def test_rubric__packaged_copy__is_the_top_level_file():
    assert filecmp.cmp(default_rubric_path(), ROOT / "rubric.toml", shallow=False)


def test_rubric__indiana_matrix__every_cell_mapped_faithfully():
    r = load_rubric(ROOT / "rubric.toml").rubric
    actual = [(d.id, d.label, [(c.stage_id, c.text) for c in d.criteria]) for d in r.dimensions]
    assert actual == EXPECTED


def test_rubric__answer_scale__met_in_progress_not_yet():
    r = load_rubric().rubric
    assert [(x.label, x.points, x.met) for x in r.responses] == [
        ("Met", 1.0, True), ("In progress", 0.5, False), ("Not yet", 0.0, False)]


def test_rubric__criterion_ids__unique_and_stable():
    r = load_rubric().rubric
    assert [c.id for c in r.criteria] == [
        "EE-1", "EE-2", "EE-3", "EE-4", "OC-1", "OC-2", "OC-3", "NC-1", "NC-2",
        "SV-1", "SV-2", "SD-1", "SD-2", "DI-1", "DI-2", "GM-1", "SC-1"]


def test_rubric__begin_objectives__carries_guidance_and_keeps_seed_text():
    c = load_rubric().rubric.criterion("SV-1")
    assert c.text == "Begin objectives" and "shared objectives" in c.guidance


@pytest.mark.parametrize("raw,label", [
    ("Met", "Met"), ("met", "Met"), ("MET", "Met"), (" met ", "Met"), ("In Progress", "In progress"),
    ("in  progress", "In progress"), ("NOT YET", "Not yet"), ("Not\u00a0yet", "Not yet"), (1, "Met"),
    (0.5, "In progress"), ("0", "Not yet"), ("yes", "Met"),
])
def test_rubric__match_response__folds_case_spacing_aliases_and_numbers(raw, label):
    assert load_rubric().rubric.match_response(raw).label == label


@pytest.mark.parametrize("raw", ["Mett", "", None, True, 2, "maybe"])
def test_rubric__match_response__off_scale__none(raw):
    assert load_rubric().rubric.match_response(raw) is None


def test_rubric__small_inline__criteria_ordered_by_stage(tmp_path):
    (tmp_path / "r.toml").write_text(SMALL)
    r = load_rubric(tmp_path / "r.toml").rubric
    assert [c.id for c in r.criteria] == ["D1-2", "D1-1"]


def test_rubric__content_hash__stable_and_changes_with_content():
    a = parse_rubric(SMALL).rubric
    b = parse_rubric(SMALL + "\n# a comment changes nothing\n").rubric
    c = parse_rubric(SMALL.replace('text = "First"', 'text = "First!"')).rubric
    assert a.content_hash == b.content_hash != c.content_hash
    assert len(a.content_hash) == 64


def test_rubric__canonical_round_trip__same_rubric_same_hash():
    r = load_rubric().rubric
    again = rubric_from_canonical(r.canonical_json())
    assert again == r and again.content_hash == r.content_hash


def test_rubric__unknown_stage__error_at_key_path():
    result = parse_rubric(SMALL.replace('stage = "b"', 'stage = "operationl"'))
    assert not result.valid
    assert ("MG-RUBRIC-004", "rubric.toml: dimensions[0].criteria[0].stage") in codes_at(result)
    assert "stages are a, b" in result.errors[0].message


def test_rubric__many_problems__all_reported_at_once():
    bad = SMALL.replace('stage = "b"', 'stage = "zzz"').replace('text = "First"', 'text = "  "') \
        .replace('id = "D1-2"', 'id = "D1-1"')
    bad = "extra = 1\n" + bad
    result = parse_rubric(bad)
    found = codes_at(result)
    assert ("MG-RUBRIC-004", "rubric.toml: dimensions[0].criteria[0].stage") in found
    assert ("MG-RUBRIC-006", "rubric.toml: dimensions[0].criteria[1].text") in found
    assert ("MG-RUBRIC-005", "rubric.toml: dimensions[0].criteria[1].id") in found
    assert ("MG-RUBRIC-008", "rubric.toml: extra") in found


def test_rubric__unknown_key__warning_only():
    result = parse_rubric(SMALL.replace('label = "One"', 'label = "One"\ncolour = "red"'))
    assert result.valid
    assert [(p.code, p.severity.value, p.location) for p in result.problems] == [
        ("MG-RUBRIC-008", "warning", "rubric.toml: dimensions[0].colour")]


def test_rubric__bad_toml__line_and_column_from_parser():
    result = parse_rubric('[rubric]\nid = "x\n')
    assert [(p.code, p.location) for p in result.problems] == [("MG-RUBRIC-002", "rubric.toml: line 2, column 8")]


def test_rubric__no_stages__error():
    text = SMALL.replace('[[stages]]\nid = "a"\nlabel = "A"\n\n[[stages]]\nid = "b"\nlabel = "B"\n', "")
    assert ("MG-RUBRIC-007", "rubric.toml: stages") in codes_at(parse_rubric(text))


def test_rubric__duplicate_dimension_and_stage_ids__errors():
    text = SMALL.replace('id = "b"\nlabel = "B"', 'id = "a"\nlabel = "B"')
    assert ("MG-RUBRIC-005", "rubric.toml: stages[1].id") in codes_at(parse_rubric(text))


def test_rubric__no_met_response__error():
    text = SMALL.replace("met = true", "met = false")
    assert ("MG-RUBRIC-011", "rubric.toml: responses") in codes_at(parse_rubric(text))


def test_rubric__points_not_a_number__error():
    text = SMALL.replace("points = 1.0", 'points = "one"')
    assert ("MG-RUBRIC-009", "rubric.toml: responses[0].points") in codes_at(parse_rubric(text))


def test_rubric__missing_file__error_not_exception(tmp_path):
    result = load_rubric(tmp_path / "nope.toml")
    assert [(p.code, p.location) for p in result.problems] == [("MG-RUBRIC-001", "nope.toml")]


def test_rubric__bad_id__error():
    text = SMALL.replace('id = "D1-1"', 'id = "D1 1/../x"')
    assert ("MG-RUBRIC-014", "rubric.toml: dimensions[0].criteria[0].id") in codes_at(parse_rubric(text))
