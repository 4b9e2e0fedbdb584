"""The review queue: what waits for a person, the decisions, and how status, reminders and reports
treat a return while it waits."""

from __future__ import annotations

import getpass
import json

import pytest
from click.testing import CliRunner

from conftest import ALPHA, BETA, KEY, RUBRIC, all_answers, bad_file, upto
from matrixgen.batch import score_paths
from matrixgen.cli import main
from matrixgen.mail import plan_from_store
from matrixgen.report import load_reports
from matrixgen.simulate import Respondent, fill
from matrixgen.status import round_status
from matrixgen.store import Store, StoreError


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.setenv("MATRIXGEN_HOME", str(tmp_path / "data"))
    monkeypatch.delenv("MATRIXGEN_DB", raising=False)
    s = Store.open(tmp_path / "data" / "matrixgen.db")
    s.open_round("2026", [ALPHA, BETA])
    yield s
    s.close()


def score(store, tmp_path, files: dict[str, bytes], **kw):
    inbox = tmp_path / f"inbox{len(list(tmp_path.glob('inbox*')))}"
    inbox.mkdir()
    for name, data in files.items():
        (inbox / name).write_bytes(data)
    return score_paths([inbox], store, RUBRIC, KEY, tmp_path / "archive", workers=0, **kw)


def states(store) -> dict[str, str]:
    return {r.partnership_id: r.status for r in round_status(store, "2026").rows}


def cli(*args):
    return CliRunner().invoke(main, list(args))


def typed_blank(issued, name: str, answers=None) -> bytes:
    return fill(issued["blank"], answers or upto("emerging"), typed={"Partnership name": name})


# --- a return waits, and everything else waits with it -------------------------------------------------------------


def test_review__generic_blank_close_name__waits_no_reminder_no_report(store, tmp_path, issued):
    score(store, tmp_path, {"blank.xlsx": typed_blank(issued, "Three Rivers Tech Talent Netwrk")})
    [item] = store.review_items("2026")
    assert (item.reason_code, item.suggested_partnership.partnership_id, item.suggested_round) == (
        "MG-REVIEW-001", "NE-IT", "2026")
    assert states(store) == {"NE-IT": "in review", "WC-AG": "not returned"}
    assert [p.partnership.id for p in plan_from_store(store, "reminders", "2026")] == ["WC-AG"]
    assert load_reports(store, "2026").ok is False  # nothing current to report on: the report waits


def test_review__accept__current_submission_and_undo_puts_it_back(store, tmp_path, issued):
    score(store, tmp_path, {"blank.xlsx": typed_blank(issued, "Three Rivers Tech Talent Netwrk")})
    [item] = store.review_items()
    decided = store.decide(item.pk, "accept", by="dana")
    assert (decided.state, decided.decided_by, decided.decided_partnership.partnership_id) == ("accepted", "dana",
                                                                                                 "NE-IT")
    assert states(store)["NE-IT"] == "scored"
    assert [d.info.partnership.partnership_id for d in store.results("2026")] == ["NE-IT"]
    assert [r.partnership.id for r in load_reports(store, "2026").reports] == ["NE-IT"]

    again = store.undo(item.pk, by="dana")
    assert again.waiting and states(store)["NE-IT"] == "in review"
    assert store.results("2026") == []
    assert [(d.action, d.decided_by) for d in store.decisions(item.pk)] == [("accept", "dana"), ("undo", "dana")]


def test_review__assign_over_a_current_submission__replaces_it_and_undo_restores_it(store, tmp_path, issued):
    score(store, tmp_path, {"ne.xlsx": fill(issued["alpha"], upto("exploring"))})
    score(store, tmp_path, {"blank.xlsx": typed_blank(issued, "Someone Unknown", upto("operational"))})
    [item] = store.review_items()
    assert item.reason_code == "MG-REVIEW-002" and item.suggested_partnership is None
    store.decide(item.pk, "assign", by="dana", partnership_id="NE-IT")
    [current] = store.results("2026")
    assert current.info.file_name == "blank.xlsx" and current.score().stage_id == "operational"
    store.undo(item.pk, by="dana")
    [current] = store.results("2026")
    assert current.info.file_name == "ne.xlsx"


def test_review__reject_with_reason__rejected_and_the_reminder_says_why(store, tmp_path, issued):
    answers = all_answers()
    data = fill(issued["beta"], answers, respondent=Respondent("Ann", "Convener", ALPHA.contact_email, ""))
    score(store, tmp_path, {"wc.xlsx": data})
    [item] = store.review_items()
    assert item.reason_code == "MG-REVIEW-003"  # filled in by NE-IT's contact
    store.decide(item.pk, "reject", by="dana", reason="filled in by another partnership; please have yours do it")
    assert states(store)["WC-AG"] == "rejected"
    [reminder] = [p for p in plan_from_store(store, "reminders", "2026") if p.partnership.id == "WC-AG"]
    assert reminder.state == "rejected"
    assert reminder.problems == ("filled in by another partnership; please have yours do it",)


def test_review__decisions_that_cannot_be_taken__each_refused_with_its_code(store, tmp_path, issued):
    score(store, tmp_path, {"blank.xlsx": typed_blank(issued, "Someone Unknown")})
    [item] = store.review_items()

    def code(**kw) -> str:
        action = kw.pop("action")
        with pytest.raises(StoreError) as caught:
            if action == "undo":
                store.undo(item.pk, by="x")
            else:
                store.decide(kw.pop("pk", item.pk), action, by="x", **kw)
        return caught.value.problem.code

    assert code(action="accept") == "MG-REVIEW-023"  # nothing suggested
    assert code(action="reject") == "MG-REVIEW-024"
    assert code(action="assign", partnership_id="XX-1") == "MG-REVIEW-025"
    assert code(action="assign", partnership_id="NE-IT", round_label="1999") == "MG-REVIEW-026"
    assert code(action="undo") == "MG-REVIEW-022"
    assert code(action="accept", pk=999) == "MG-REVIEW-020"
    store.decide(item.pk, "assign", by="x", partnership_id="NE-IT")
    assert code(action="assign", partnership_id="WC-AG") == "MG-REVIEW-021"


def test_review__late_return_after_close__waits_then_accepted_counts(store, tmp_path, issued):
    store.set_round_state("2026", "closed")
    score(store, tmp_path, {"late.xlsx": fill(issued["alpha"], upto("emerging"))})
    [item] = store.review_items()
    assert item.reason_code == "MG-REVIEW-006" and states(store)["NE-IT"] == "in review"
    store.decide(item.pk, "accept", by="dana")
    assert states(store)["NE-IT"] == "scored"


def test_review__rejected_file_named_as_issued__attributed_and_reminded_with_the_reason(store, tmp_path, issued):
    _, data, _ = bad_file("encrypted", issued)
    score(store, tmp_path, {"WC-AG_Wabash-Prairie-Agriculture-Council.xlsx": data})
    assert states(store)["WC-AG"] == "rejected" and store.review_items() == []
    [reminder] = [p for p in plan_from_store(store, "reminders", "2026") if p.partnership.id == "WC-AG"]
    assert reminder.state == "rejected" and "password" in reminder.problems[0]


# --- the command ----------------------------------------------------------------------------------------------------


def test_cli_review__empty_queue__exit_0(store):
    result = cli("review")
    assert (result.exit_code, result.stdout) == (0, "Nothing waits for review.\n")


def test_cli_review__waiting__json_fields_and_exit_1_then_accept_by_the_os_user(store, tmp_path, issued):
    score(store, tmp_path, {"blank.xlsx": typed_blank(issued, "Three Rivers Tech Talent Netwrk")})
    listed = cli("review", "--json")
    assert listed.exit_code == 1
    [item] = json.loads(listed.stdout)
    assert {k: item[k] for k in ("item", "file", "round", "reason_code", "suggested_partnership",
                                 "suggested_round")} == {"item": 1, "file": "blank.xlsx", "round": "2026",
                                                         "reason_code": "MG-REVIEW-001",
                                                         "suggested_partnership": "NE-IT", "suggested_round": "2026"}
    assert item["reason"].startswith("a generic workbook: the name typed on it")
    table = cli("review", "--round", "2026")
    assert table.exit_code == 1 and table.stdout.splitlines()[0].split() == [
        "item", "received", "file", "round", "reason", "suggested", "state"]

    accepted = cli("review", "accept", "1")
    assert accepted.exit_code == 0
    assert accepted.stdout == (f"Item 1 accepted by {getpass.getuser()}: NE-IT, round 2026: "
                               "its current submission.\n")
    assert cli("review").exit_code == 0
    undone = cli("review", "undo", "1", "--by", "lee")
    assert undone.stdout == "Item 1: the decision was undone; it waits for review again.\n"
    history = cli("review", "--all")
    assert "accepted" not in history.stdout and history.exit_code == 1
    rejected = cli("review", "reject", "1", "--reason", "not ours", "--by", "lee")
    assert rejected.stdout == "Item 1 rejected by lee; NE-IT's next reminder gives the reason.\n"
    assert "   rejected by lee on " in cli("review", "--all").stdout


def test_cli_review__assign_unknown_partnership__exit_1_with_the_code(store, tmp_path, issued):
    score(store, tmp_path, {"blank.xlsx": typed_blank(issued, "Someone Unknown")})
    result = cli("review", "assign", "1", "--partnership", "XX-1")
    assert result.exit_code == 1 and "[MG-REVIEW-025]" in result.stderr
    assert cli("review", "assign", "1", "--partnership", "../x").exit_code == 2


def test_cli_round__list_close_reopen_delete(store, tmp_path, issued):
    store.open_round("2099", [ALPHA])  # a mistyped round
    listed = cli("round", "list", "--json")
    rows = {r["label"]: r for r in json.loads(listed.stdout)}
    assert set(rows) == {"2026", "2099"} and rows["2026"]["state"] == "open" and rows["2026"]["roster"] == 2
    assert {"label", "state", "opened", "due", "returned", "scored", "in_review", "not_returned"} <= set(rows["2026"])
    assert cli("round", "delete", "2099").stdout == "Round 2099 deleted.\n"
    score(store, tmp_path, {"ne.xlsx": fill(issued["alpha"], upto("exploring"))})
    refused = cli("round", "delete", "2026")
    assert refused.exit_code == 1 and "round 2026 has 1 return(s)" in refused.stderr
    assert cli("round", "close", "2026").stdout.startswith("Round 2026 closed on ")
    assert json.loads(cli("round", "list", "--json").stdout)[0]["state"] == "closed"
    assert cli("round", "reopen", "2026").stdout == "Round 2026 is open.\n"
    assert cli("round", "close", "1999").exit_code == 2
