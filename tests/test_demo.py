from __future__ import annotations

import io
import os

import openpyxl
import pytest

from matrixgen.demo import DEMO_KEY, LEVELS, MARKER, QUIRKS, DemoError, closing_summary, prepare, run_demo
from matrixgen.rubric import load_rubric
from matrixgen.score import score
from matrixgen.simulate import answers_for_level, retype

RUBRIC = load_rubric().rubric


@pytest.fixture
def demo(demo_run):
    return demo_run


def test_demo__two_rounds__every_partnership_issued_and_quirks_applied(demo):
    assert sorted(demo.issued) == ["2025", "2026"]
    for label, issued in demo.issued.items():
        assert len(issued) == 12
        returned = {r.partnership_id for r in demo.returned[label] if r.quirk != "late"}
        missing = {pid for pid, q in QUIRKS[label].items() if q == "missing"}
        assert returned == {g.partnership.id for g in issued} - missing
    assert [(r.partnership_id, r.path.name) for r in demo.returned["2026"] if r.quirk == "late"] == [
        ("NE-HC", "NE-HC_2025_sent-late.xlsx")]
    by_quirk = {r.quirk: r for r in demo.returned["2026"] if r.quirk}
    assert by_quirk["xls"].path.suffix == ".xls"
    assert by_quirk["xls"].path.read_bytes()[:8] == bytes.fromhex("d0cf11e0a1b11ae1")


def test_demo__incomplete_return__a_blank_and_two_answers_off_the_scale(demo):
    r = next(r for r in demo.returned["2026"] if r.quirk == "incomplete")
    ws = openpyxl.load_workbook(io.BytesIO(r.path.read_bytes()))["Assessment"]
    answers = [row[4].value for row in ws.iter_rows(min_row=4) if row[0].value]
    assert sorted(a for a in answers if a not in ("Met", "In progress", "Not yet", None)) == ["Mett", "N/A"]
    assert answers.count(None) == 1
    outcome = next(o for o in demo.scored["2026"].outcomes if o.partnership_id == "SE-AM")
    assert sorted(p.code for p in outcome.problems if p.is_error) == ["MG-READ-021", "MG-READ-022", "MG-READ-022"]


def test_demo__second_run__starts_clean(tmp_path):
    out = tmp_path / "demo"
    prepare(out)
    (out / "stray.txt").write_text("x")
    prepare(out)
    assert not (out / "stray.txt").exists() and (out / MARKER).exists()


def test_demo__foreign_folder__refused_not_wiped(tmp_path):
    (tmp_path / "precious.txt").write_text("keep")
    with pytest.raises(DemoError):
        run_demo(tmp_path)
    assert (tmp_path / "precious.txt").read_text() == "keep"


def test_simulate__levels__most_partnerships_improve_between_rounds():
    assert sum(b > a for a, b in LEVELS.values()) >= 10 and any(b < a for a, b in LEVELS.values())


@pytest.mark.parametrize("level,stage", [(0.0, None), (4.5, "sustainable")])
def test_simulate__answers_for_level__extremes_score_as_expected(level, stage):
    import random

    answers = answers_for_level(RUBRIC, level, random.Random(0))
    # Noise moves a dimension by at most 0.6 of a stage, so the extremes are certain.
    got = score(RUBRIC, {cid: RUBRIC.match_response(label) for cid, (label, _) in answers.items()})
    assert got.stage_id == stage


def test_simulate__retype__still_matches_the_same_answer():
    import random

    rng = random.Random(1)
    for label in ("Met", "In progress", "Not yet"):
        for _ in range(10):
            assert RUBRIC.match_response(retype(label, rng)).label == label


def test_demo__scoring__every_return_accounted_for_with_the_expected_status(demo):
    assert demo.scored["2025"].counts() == {"scored": 11, "incomplete": 0, "rejected": 0, "review": 0,
                                            "duplicate": 0}
    assert demo.scored["2026"].counts() == {"scored": 6, "incomplete": 1, "rejected": 2, "review": 3,
                                            "duplicate": 0}
    by_id = {o.partnership_id: o for o in demo.scored["2026"].outcomes if o.partnership_id}
    assert by_id["WV-HC"].status == "scored" and by_id["WV-HC"].verified  # the LibreOffice re-save
    assert by_id["SE-AM"].status == "incomplete"
    # Rejected files named as issued are attributed, so their reminders say what to fix.
    assert {pid: [p.code for p in o.problems] for pid, o in by_id.items() if o.status == "rejected"} == {
        "SC-CON": ["MG-READ-005"], "SW-LOG": ["MG-READ-004"]}
    review = {o.file: o.problems[-1].code for o in demo.scored["2026"].outcomes if o.status == "review"}
    assert sorted(review.values()) == ["MG-REVIEW-001", "MG-REVIEW-003", "MG-REVIEW-006"]


def test_demo__round_with_every_quirk__each_roster_partnership_in_the_right_state(demo):
    assert {r.partnership_id: r.status for r in demo.status.rows} == {
        "CE-LOG": "scored", "EC-AM": "scored", "MC-IT": "scored", "NC-HC": "scored", "NE-IT": "scored",
        "WV-HC": "scored",
        "NE-HC": "scored",  # its generic blank, accepted in review
        "SE-AM": "incomplete", "SC-CON": "rejected", "SW-LOG": "rejected",
        "WC-AG": "in review",  # filled in by EC-AM's contact: a person decides
        "NW-AM": "not returned",
    }
    assert (demo.decided.state, demo.decided.decided_by, demo.decided.decided_partnership.partnership_id) == (
        "accepted", "demo", "NE-HC")
    assert sorted(i.reason_code for i in demo.waiting) == ["MG-REVIEW-003", "MG-REVIEW-006"]
    assert {i.reason_code: i.suggested_round for i in demo.waiting} == {"MG-REVIEW-003": "2026",
                                                                        "MG-REVIEW-006": "2025"}


def test_demo__store__history_of_both_rounds(demo):
    from matrixgen.store import Store

    store = Store.open(demo.store_path, demo.out)
    assert [s.round_label for s in store.history("CE-LOG")] == ["2025", "2026"]
    assert [p.partnership_id for p in store.not_returned("2026")] == ["NW-AM", "SC-CON", "SW-LOG", "WC-AG"]
    assert [(r.label, r.state) for r in store.rounds()] == [("2026", "open"), ("2025", "closed")]
    assert not [p for p in store.partnerships() if not p.verified]  # no partnership made up from a typed name
    store.close()


def test_demo__reports__one_pdf_per_current_submission_and_the_portfolio(demo):
    from pypdf import PdfReader

    ok = [f for f in demo.reports if f.ok]
    assert len(ok) == len(demo.reports) == 9  # 7 scored + 1 incomplete + the portfolio; in review waits
    portfolio = next(f for f in ok if f.partnership_id is None)
    assert portfolio.path.name == "portfolio-2026.pdf"
    ce_log = next(f for f in ok if f.partnership_id == "CE-LOG")
    text = "".join(page.extract_text() for page in PdfReader(ce_log.path).pages)
    assert "Crossroads Logistics Partnership" in text and "Whitewater" not in text


def test_demo__closing_summary__counts_and_paths_to_open(demo):
    lines = closing_summary(demo)
    assert lines[0] == ("Round 2026: 12 partnerships on the roster: 7 scored, 1 incomplete, 2 rejected, "
                        "1 in review, 1 not returned")
    assert lines[1] == ("Still owing a scored workbook: NW-AM (not returned), SC-CON (rejected), SE-AM (incomplete), "
                        "SW-LOG (rejected), WC-AG (in review)")
    stages = dict(part.rsplit(" ", 1) for part in lines[2][len("Overall stage: "):].split(", "))
    assert sum(int(n) for n in stages.values()) == 8
    assert lines[3] == f"Waiting for review: 2 (matrixgen review --db {demo.store_path})"
    assert lines[5].endswith("portfolio-2026.pdf")


def test_demo__closing_summary__ends_with_how_to_look_in_the_browser(demo):
    pytest.importorskip("argon2", reason="the demo user needs the [web] extra")
    from matrixgen.identity import load_key
    from matrixgen.store import Store
    from matrixgen.web.accounts import Accounts

    line = closing_summary(demo)[-1]
    assert line.startswith(f"In the browser: MATRIXGEN_HOME={demo.out} matrixgen serve, then sign in at "
                           "http://127.0.0.1:8000/ as demo@example.org with the password ")
    store = Store.open(demo.store_path, create=False)
    user, token = Accounts(store.engine).sign_in("demo@example.org", demo.web_password, "127.0.0.1")
    store.close()
    assert user is not None and user.staff and token
    assert load_key(demo.out) == DEMO_KEY  # `serve` verifies the demo's workbooks with the demo's key


def test_demo__with_an_open_umask__every_file_0600_every_folder_0700(tmp_path):
    """Everything the pipeline writes (store, key, archive, workbooks, returns, summaries, outbox,
    reports) holds names, addresses and answers: private whatever the umask."""
    old = os.umask(0o022)
    try:
        result = run_demo(tmp_path / "demo", rounds=("2026",))
    finally:
        os.umask(old)
    wrong = [(str(p.relative_to(tmp_path)), oct(p.stat().st_mode & 0o777)) for p in (tmp_path / "demo").rglob("*")
             if (p.stat().st_mode & 0o777) != (0o700 if p.is_dir() else 0o600)]
    assert wrong == []
    assert len(list(result.out.rglob("*.pdf"))) > 1 and len(list(result.out.rglob("*.eml"))) > 1


def test_demo__command_not_on_the_path__hints_name_it_as_it_was_run(tmp_path, monkeypatch):
    from matrixgen.cli.demo import typed_command

    script = tmp_path / ".venv" / "bin" / "matrixgen"
    script.parent.mkdir(parents=True)
    script.write_text("#!/bin/sh\n")
    script.chmod(0o755)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("sys.argv", [".venv/bin/matrixgen", "demo"])
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    assert typed_command() == ".venv/bin/matrixgen"
    monkeypatch.setenv("PATH", f"{script.parent}:/usr/bin:/bin")
    assert typed_command() == "matrixgen"


def test_demo__reports_step__carries_the_run_notes_once(demo):
    step = next(what for what, _ in demo.steps if "PDF reports rendered" in what)
    notes = [str(p) for p in demo.reports.notes]  # the subsetter note on a machine without it
    assert step.count("[MG-REPORT-") == len(notes)
    assert all(note in step for note in notes)
