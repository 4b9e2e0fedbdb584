from __future__ import annotations

from matrixgen.roster import parse_roster

HEADER = "id,name,region,sector,contact_name,contact_email\n"


def codes_at(result):
    return [(p.code, p.location) for p in result.problems]


def test_roster__excel_utf8_bom__read():
    data = ("\ufeff" + HEADER + "A1,Alpha,North,IT,Ann,ann@example.org\r\n").encode("utf-8")
    result = parse_roster(data)
    assert result.valid and result.partnerships[0].id == "A1"
    assert result.partnerships[0].contact_email == "ann@example.org"


def test_roster__only_required_columns__rest_empty():
    result = parse_roster(b"name,id\nAlpha,A1\n")
    assert result.valid
    assert (result.partnerships[0].id, result.partnerships[0].name, result.partnerships[0].region) == ("A1", "Alpha", "")


def test_roster__missing_header_column__error_on_line_1():
    assert codes_at(parse_roster(b"id,region\nA1,North\n")) == [("MG-ROSTER-002", "roster.csv line 1")]


def test_roster__every_bad_row__reported_with_its_line():
    data = (HEADER
            + "A1,Alpha,,,,\n"
            + ",NoId,,,,\n"
            + "A1,Dup,,,,\n"
            + "../x,Bad id,,,,\n"
            + "B2,,,,,\n"
            + "C3,Bad mail,,,,not-an-email\n"
            + "D4,Short row\n").encode()
    assert codes_at(parse_roster(data)) == [
        ("MG-ROSTER-003", "roster.csv line 3"),
        ("MG-ROSTER-004", "roster.csv line 4"),
        ("MG-ROSTER-005", "roster.csv line 5"),
        ("MG-ROSTER-003", "roster.csv line 6"),
        ("MG-ROSTER-011", "roster.csv line 7"),
        ("MG-ROSTER-007", "roster.csv line 8"),
    ]


def test_roster__not_utf8__clear_error():
    result = parse_roster(HEADER.encode() + "A1,Caf\xe9,,,,\n".encode("latin-1"))
    assert codes_at(result) == [("MG-ROSTER-008", "roster.csv")]


def test_roster__control_characters_in_name__error():
    result = parse_roster((HEADER + 'A1,"Line\nbreak",,,,\n').encode())
    assert codes_at(result) == [("MG-ROSTER-006", "roster.csv line 2")]


def test_roster__header_only__no_partnerships_error():
    assert codes_at(parse_roster(HEADER.encode())) == [("MG-ROSTER-009", "roster.csv")]


def test_roster__unknown_column__warning_and_still_valid():
    result = parse_roster(b"id,name,phone\nA1,Alpha,555\n")
    assert result.valid and [p.code for p in result.problems] == ["MG-ROSTER-010"]


def test_roster__blank_trailing_lines__ignored():
    assert parse_roster((HEADER + "A1,Alpha,,,,\n,,,,,\n\n").encode()).valid


def test_roster__quoted_name_spanning_two_lines__later_rows_keep_their_own_line_numbers():
    data = (HEADER
            + 'A1,"Alpha\r\nPartnership",,,,\n'  # lines 2-3: one row
            + "B2,Beta,,,,\n"                    # line 4
            + "\n"                               # line 5
            + "B2,Dup,,,,\n"                     # line 6
            + "../x,Bad id,,,,\n").encode()      # line 7
    result = parse_roster(data)
    assert codes_at(result) == [
        ("MG-ROSTER-006", "roster.csv line 2"),  # a row is named by the line it starts on
        ("MG-ROSTER-004", "roster.csv line 6"),
        ("MG-ROSTER-005", "roster.csv line 7"),
    ]
    assert "line 4" in result.problems[1].message  # where the first B2 is
