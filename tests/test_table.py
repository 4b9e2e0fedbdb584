from __future__ import annotations

from matrixgen.cli.table import as_json, cut, display_width, render

TITLES = ("id", "name", "status")
ROWS = [("NE-IT", "Three Rivers Tech Talent Network", "scored"),
        ("WC-AG", "Wabash Prairie Agriculture Council of the Region", "incomplete")]


def test_render__no_width__every_value_whole():
    assert render(TITLES, ROWS) == [
        "id     name                                              status",
        "NE-IT  Three Rivers Tech Talent Network                  scored",
        "WC-AG  Wabash Prairie Agriculture Council of the Region  incomplete",
    ]


def test_render__narrower_terminal__only_the_shrinkable_column_cut_with_ellipsis():
    lines = render(TITLES, ROWS, shrink=("name",), width=40)
    assert lines == [
        "id     name                   status",
        "NE-IT  Three Rivers Tech Ta…  scored",
        "WC-AG  Wabash Prairie Agric…  incomplete",
    ]
    assert len(lines[2]) == 40


def test_render__two_shrinkable_columns__the_widest_gives_way_first():
    rows = [("A", "x" * 30, "f" * 12)]
    lines = render(("id", "name", "file"), rows, shrink=("name", "file"), width=40)
    assert lines[1] == "A   " + "x" * 21 + "…" + "  " + "f" * 12


def test_render__too_narrow_for_the_minimum__ids_and_statuses_never_cut():
    lines = render(TITLES, ROWS, shrink=("name",), width=10)
    assert lines[2] == "WC-AG  Wabash Pr…  incomplete"


def test_cut__wide_characters__count_two_columns():
    assert display_width("東京") == 4 and cut("東京都庁", 5) == "東京…"
    assert cut("Café", 4) == "Café" and cut("Cafe\u0301 ok", 4) == "Caf…"


def test_as_json__rows__a_list_of_objects_keeping_types():
    assert as_json([{"id": "A", "progress": 50.0, "current": True, "name": None}]) == (
        '[\n  {\n    "id": "A",\n    "progress": 50.0,\n    "current": true,\n    "name": null\n  }\n]')
