"""The store's part of rounds and sending: schema v2, round rosters, rendered reports, status."""

from __future__ import annotations



from matrixgen.generate import Options, generate_workbooks
from matrixgen.roster import Partnership
from matrixgen.rubric import load_rubric
from matrixgen.mail import SENT, Record, SqlSendLog
from matrixgen.status import round_status, write_csv
from matrixgen.store import Store

RUBRIC = load_rubric().rubric
ANN = Partnership("NE-IT", "Three Rivers", "Northeast", "IT", "Ann", "ann@example.org")
BEN = Partnership("NW-AM", "=Calumet", "Northwest", "Manufacturing", "Ben", "ben@example.org")


def test_open_round__keeps_due_when_not_given__updates_contact(tmp_path):
    store = Store.open(tmp_path / "s.db")
    store.open_round("2026", [ANN, BEN], due="May 1")
    moved = Partnership(ANN.id, ANN.name, ANN.region, ANN.sector, "Ann Lee", "ann.lee@example.org")
    change = store.open_round("2026", [moved])
    assert (change.added, change.removed, change.kept) == ((), ("NW-AM",), ("NE-IT",))
    assert store.round("2026").due == "May 1"
    assert store.members("2026") == (moved,)


def test_reports__the_latest_rendering_wins(tmp_path):
    store = Store.open(tmp_path / "s.db")
    store.record_report("2026", "NE-IT", tmp_path / "a.pdf", "a" * 64)
    store.record_report("2026", "NE-IT", tmp_path / "b.pdf", "b" * 64)
    [(pid, report)] = store.reports("2026").items()
    assert (pid, report.sha256, report.path) == ("NE-IT", "b" * 64, str((tmp_path / "b.pdf").resolve()))
    assert store.reports("2025") == {}


def test_status__rows_for_the_roster_with_issue_and_send_times__csv_is_formula_safe(tmp_path):
    store = Store.open(tmp_path / "s.db")
    store.open_round("2026", [ANN, BEN], due="May 1")
    made = generate_workbooks(RUBRIC, [ANN, BEN], tmp_path / "blank", Options(round="2026"), b"k" * 32)
    store.record_issue("2026", RUBRIC, made)
    log = SqlSendLog(store.engine)
    log.finish(log.begin(Record("2026", "blanks", ANN.id, "", ANN.contact_email)), SENT)
    status = round_status(store, "2026")
    assert [(r.partnership_id, bool(r.issued_at), bool(r.sent_at), r.progress) for r in status.rows] == [
        ("NE-IT", True, True, "sent"), ("NW-AM", True, False, "issued")]
    assert status.totals()["sent"] == 1 and status.totals()["not returned"] == 2
    text_out = write_csv(status, tmp_path / "status.csv").read_text(encoding="utf-8")
    assert ",'=Calumet," in text_out


def test_demo__dry_run_emails__blanks_for_all_with_email__reminders_only_for_the_missing(demo_run):
    from email import message_from_bytes
    from email.policy import default as default_policy

    from matrixgen.demo import QUIRKS

    result = demo_run
    outbox = result.out / "outbox" / "2026"
    names = sorted(f.name for f in outbox.iterdir())
    assert len([n for n in names if n.startswith("blanks_")]) == 11  # NE-HC has no contact email
    # Never returned, rejected (.xls, a password: attributed by the file name we issued), or incomplete;
    # not the one whose return waits in review.
    expected = sorted(pid for pid, quirk in QUIRKS["2026"].items()
                      if quirk in ("missing", "xls", "password", "incomplete"))
    assert [n[len("reminders_"):-4] for n in names if n.startswith("reminders_")] == expected
    locked = message_from_bytes((outbox / "reminders_SW-LOG.eml").read_bytes(), policy=default_policy)
    assert "the workbook is password-protected: remove the password" in locked.get_body(("plain",)).get_content()
    incomplete = next(pid for pid, q in QUIRKS["2026"].items() if q == "incomplete")
    msg = message_from_bytes((outbox / f"reminders_{incomplete}.eml").read_bytes(), policy=default_policy)
    assert msg.get_body(("plain",)).get_content().count("- Assessment!E") == 3
    assert any("reminder emails written" in what for what, _ in result.steps)


def test_return_states__rejected_signed_file__reminder_lists_why__a_later_good_return_wins(tmp_path):
    from matrixgen.errors import problem
    from matrixgen.mail import REJECTED, SCORED, plan_from_store, return_states
    from matrixgen.store import NewSubmission

    store = Store.open(tmp_path / "s.db")
    store.open_round("2026", [ANN, BEN])
    made = generate_workbooks(RUBRIC, [ANN, BEN], tmp_path / "blank", Options(round="2026"), b"k" * 32)
    store.record_issue("2026", RUBRIC, made)
    why = problem("MG-SCORE-001", "old.xlsx", rubric_id="x", version="0", hash="abc")
    store.add_submissions([NewSubmission("old.xlsx", "1" * 64, 10, "2026-02-01T00:00:00Z", REJECTED, "xlsx", "",
                                         identity=made[0].identity, verified=True, round_label="2026",
                                         partnership_id="NE-IT", problems=[why])])
    states = return_states(store, "2026")
    assert states["NE-IT"].status == REJECTED and states["NE-IT"].problems == (why.message,)
    [ann] = [p for p in plan_from_store(store, "reminders", "2026") if p.partnership.id == "NE-IT"]
    assert ann.state == REJECTED and ann.attachment is None

    store.add_submissions([NewSubmission("good.xlsx", "2" * 64, 10, "2026-02-02T00:00:00Z", SCORED, "xlsx", "",
                                         identity=made[0].identity, verified=True, round_label="2026",
                                         partnership_id="NE-IT", rubric_hash=RUBRIC.content_hash)])
    assert return_states(store, "2026")["NE-IT"].status == SCORED
    assert [p.partnership.id for p in plan_from_store(store, "reminders", "2026")] == ["NW-AM"]
