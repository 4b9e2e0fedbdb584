"""Matching a return to a roster partnership and an open round, or a reason for a person to decide."""

from __future__ import annotations

import pytest

from matrixgen.identity import Identity
from matrixgen.match import Context, Member, Returned, RoundState, fold, match, match_batch

OHIO = Member("SE-HC", "Ohio River Health Careers Partnership", "rosa@example.org")
WC_AG = Member("WC-AG", "Wabash Prairie Agriculture Council", "ellen@example.org")
EC_AM = Member("EC-AM", "Whitewater Valley Manufacturing", "grace@example.org")
MEMBERS = (OHIO, WC_AG, EC_AM)


def ctx(*, given: str = "", closed: bool = False, rounds=("2026",)) -> Context:
    states = {label: RoundState(label, "closed" if closed and label == "2026" else "open",
                                "2026-04-01T00:00:00Z" if closed else "", MEMBERS) for label in rounds}
    opened = tuple(label for label in reversed(rounds) if states[label].state == "open")
    return Context(states, opened, given, frozenset(m.partnership_id for m in MEMBERS))


def signed(pid: str = "WC-AG", round_: str = "2026", **kw) -> Returned:
    ident = Identity("r", "v", "h", pid, "name", round=round_)
    return Returned(kw.pop("file_name", f"{pid}_x.xlsx"), kw.pop("status", "scored"), ident, True, **kw)


def generic(name: str, round_: str = "2026", **kw) -> Returned:
    ident = Identity("r", "v", "h", "", name, round=round_)
    return Returned(kw.pop("file_name", "blank.xlsx"), kw.pop("status", "scored"), ident, False, **kw)


def test_match__signed_workbook__its_partnership_and_round():
    assert match(signed(), ctx()) == match(signed(), ctx(given="2026"))
    found = match(signed(), ctx())
    assert (found.partnership_id, found.round_label, found.review) == ("WC-AG", "2026", None)


@pytest.mark.parametrize("typed", ["Ohio River Health Careers Partnership", "ohio river health-careers partnership",
                                   "  OHIO RIVER   HEALTH CAREERS PARTNERSHIP. "])
def test_match__generic_blank_exact_roster_name__accepted_ignoring_case_spacing_punctuation(typed):
    found = match(generic(typed), ctx())
    assert (found.partnership_id, found.round_label, found.review) == ("SE-HC", "2026", None)


def test_match__generic_blank_typed_id__that_partnership():
    found = match(generic("whatever we are called", typed_id="se-hc"), ctx())
    assert (found.partnership_id, found.review) == ("SE-HC", None)


def test_match__generic_blank_close_name__review_with_the_suggestion():
    found = match(generic("Ohio River Health Career Partnership"), ctx())
    assert found.partnership_id is None and found.round_label == "2026"
    assert (found.review.code, found.review.suggested_partnership, found.review.suggested_round) == (
        "MG-REVIEW-001", "SE-HC", "2026")
    assert "'Ohio River Health Careers Partnership'" in found.review.reason


def test_match__generic_blank_unknown_name__review_and_no_partnership_made_up():
    found = match(generic("Lakeshore Health Alliance"), ctx())
    assert found.partnership_id is None
    assert (found.review.code, found.review.suggested_partnership) == ("MG-REVIEW-002", None)


def test_match__generic_blank_without_round__given_then_only_open_then_review():
    blank = generic("Wabash Prairie Agriculture Council", round_="")
    assert match(blank, ctx(rounds=("2025", "2026"), given="2025")).round_label == "2025"
    assert match(blank, ctx()).round_label == "2026"  # the only open round
    two_open = match(blank, ctx(rounds=("2025", "2026")))
    assert two_open.review.code == "MG-REVIEW-005" and two_open.review.suggested_round == "2026"
    assert two_open.review.suggested_partnership == "WC-AG"


def test_match__respondent_is_another_partnerships_contact__review():
    found = match(signed(respondent_email="Grace@Example.org "), ctx())
    assert found.partnership_id is None
    assert (found.review.code, found.review.suggested_partnership) == ("MG-REVIEW-003", "WC-AG")
    assert "EC-AM" in found.review.reason
    own = match(signed(respondent_email="ellen@example.org"), ctx())
    assert own.review is None


def test_match__sender_is_another_partnerships_contact__review():
    assert match(signed(sender="rosa@example.org"), ctx()).review.code == "MG-REVIEW-003"


def test_match__issued_for_another_round_than_given__review_suggesting_its_own():
    found = match(signed(round_="2025"), ctx(rounds=("2025", "2026"), given="2026"))
    assert (found.review.code, found.review.suggested_round, found.round_label) == ("MG-REVIEW-004", "2025", None)


def test_match__round_never_opened__review():
    found = match(signed(round_="2099"), ctx())
    assert found.review.code == "MG-REVIEW-008" and found.round_label is None


def test_match__closed_round__late_review():
    found = match(signed(), ctx(closed=True))
    assert (found.review.code, found.review.suggested_partnership, found.review.suggested_round) == (
        "MG-REVIEW-006", "WC-AG", "2026")


@pytest.mark.parametrize("name", ["WC-AG_Wabash-Prairie-Agriculture-Council.xlsx", "inbox/wc-ag_Wabash.xlsx"])
def test_match__rejected_file_named_as_issued__attributed_never_reviewed(name):
    found = match(Returned(name, "rejected", None, False), ctx())
    assert (found.partnership_id, found.round_label, found.review) == ("WC-AG", "2026", None)


def test_match__rejected_file_from_a_contact__attributed_by_sender():
    found = match(Returned("scan.pdf", "rejected", None, False, sender="rosa@example.org"), ctx())
    assert found.partnership_id == "SE-HC"


@pytest.mark.parametrize("name", ["WC-AG-x.xlsx", "notes.xlsx", "XX-9_x.xlsx", "WC-AG.xlsx", "WC-AG_/x.xlsx"])
def test_match__rejected_file_otherwise_named__nobody(name):
    assert match(Returned(name, "rejected", None, False), ctx()).partnership_id is None


def test_match_batch__two_different_files_from_one_partnership__both_review():
    a, b = signed(file_name="a.xlsx", sha256="1"), signed(file_name="b.xlsx", sha256="2")
    found = match_batch([a, b, signed("EC-AM", sha256="3")], ctx())
    assert [f.review.code if f.review else None for f in found] == ["MG-REVIEW-007", "MG-REVIEW-007", None]
    assert "a.xlsx, b.xlsx" in found[0].review.reason and found[0].review.suggested_partnership == "WC-AG"


def test_fold__punctuation_case_and_spacing__ignored():
    assert fold(" St. Joseph  Valley — Health-Care ") == fold("st joseph valley health care")
