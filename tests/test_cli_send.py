"""round open / generate --round / send / status through the CLI, against a real SMTP server."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from datetime import datetime, timezone
from email import message_from_bytes
from email.policy import default as default_policy
from pathlib import Path

import pytest
from click.testing import CliRunner
from pypdf import PdfReader

from mailserver import SMTP_PASSWORD, SMTP_USER, mail_server, tls_ca  # noqa: F401 (fixtures)
from matrixgen.cli import main
from matrixgen.rubric import load_rubric
from matrixgen.simulate import fill
from matrixgen.status import CSV_COLUMNS
from matrixgen.store import Store

RUBRIC = load_rubric().rubric
HEADER = "id,name,region,sector,contact_name,contact_email\n"
ROSTER = HEADER + (
    "NE-IT,Three Rivers Tech Talent Network,Northeast,IT,Ann Lee,ann@example.org\n"
    "NW-AM,Calumet Lakeshore Manufacturing,Northwest,Manufacturing,Ben Ortiz,ben@example.org\n"
    "CE-LOG,Crossroads Logistics,Central,Logistics,Cat Diaz,cat@example.org\n"
    "NE-HC,Summit City Health Sciences,Northeast,Health care,Hannah Moreau,\n"
)
NAMES = {"NE-IT": "Three Rivers Tech Talent Network", "NW-AM": "Calumet Lakeshore Manufacturing"}


def s_name(pid: str) -> str:
    return NAMES[pid]


ROSTER_FIXED = ROSTER.replace("Hannah Moreau,\n", "Hannah Moreau,hannah@example.org\n")


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("MATRIXGEN_HOME", str(tmp_path / "data"))
    monkeypatch.delenv("MATRIXGEN_SECRET", raising=False)
    monkeypatch.delenv("MATRIXGEN_DB", raising=False)
    for var in ("HOST", "PORT", "SECURITY", "USER", "PASSWORD", "CA_FILE", "THROTTLE"):
        monkeypatch.delenv(f"MATRIXGEN_SMTP_{var}", raising=False)
    for var in ("FROM", "REPLY_TO", "CONTACT", "INSTRUCTIONS", "TEMPLATES"):
        monkeypatch.delenv(f"MATRIXGEN_MAIL_{var}", raising=False)
    monkeypatch.setenv("MATRIXGEN_MAIL_FROM", "Sector Team <sectors@example.gov>")
    monkeypatch.setenv("MATRIXGEN_MAIL_REPLY_TO", "help@example.gov")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def use_server(monkeypatch, server, **extra):
    monkeypatch.setenv("MATRIXGEN_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("MATRIXGEN_SMTP_PORT", str(server.port))
    monkeypatch.setenv("MATRIXGEN_SMTP_SECURITY", extra.pop("security", "none"))
    for key, value in extra.items():
        monkeypatch.setenv(key, value)


def run(*args):
    return CliRunner().invoke(main, ["--help"] if not args else list(args))


def opened(home, roster=ROSTER, *extra):
    (home / "roster.csv").write_text(roster)
    result = run("round", "open", "2026", "--roster", "roster.csv", *extra)
    assert result.exit_code == 0, result.output
    return result


def issued_round(home):
    opened(home, ROSTER, "--due", "March 31, 2027")
    result = run("generate", "--round", "2026", "--out", "blank", "-s")
    assert result.exit_code == 0, result.output
    return result


def store(home) -> Store:
    return Store.open(None, home / "data")


def returned(home, pid: str, blanks: set[str] = frozenset()):
    """Fill the partnership's issued workbook (Met everywhere but ``blanks``) into returned/."""
    [path] = (home / "blank").glob(f"{pid}_*.xlsx")
    answers = {c.id: (None if c.id in blanks else "Met", "") for c in RUBRIC.criteria}
    out = home / "returned" / path.name
    out.parent.mkdir(exist_ok=True)
    out.write_bytes(fill(path.read_bytes(), answers))
    return out


# --- round open, generate --round ----------------------------------------------------------------


def test_round_open__records_roster_and_due__reports_missing_emails(home):
    result = opened(home, ROSTER, "--due", "March 31, 2027")
    assert result.stdout == ("Round 2026 opened: 4 partnerships on the roster (4 added, 0 removed), due March 31, 2027\n"
                             "  no contact email (send will report them): NE-HC\n")
    assert result.stderr == "Created a new store at data/matrixgen.db\n"
    s = store(home)
    assert [p.id for p in s.members("2026")] == ["CE-LOG", "NE-HC", "NE-IT", "NW-AM"]
    assert s.round("2026").due == "March 31, 2027"


def test_round_open__again_with_a_changed_roster__adds_removes_and_keeps_ids(home):
    opened(home, ROSTER, "--due", "March 31, 2027")
    changed = ROSTER_FIXED.replace("CE-LOG,Crossroads Logistics,Central,Logistics,Cat Diaz,cat@example.org\n", "")
    changed += "SW-LOG,Pocket Region Logistics,Southwest,Logistics,Al Brenner,al@example.org\n"
    result = opened(home, changed)
    assert result.output == ("Round 2026 updated: 4 partnerships on the roster (1 added, 1 removed), due March 31, 2027\n"
                             "  no longer in this round: CE-LOG\n")
    s = store(home)
    assert [p.id for p in s.members("2026")] == ["NE-HC", "NE-IT", "NW-AM", "SW-LOG"]
    assert next(p for p in s.members("2026") if p.id == "NE-HC").contact_email == "hannah@example.org"
    # A later round has its own roster; the partnership keeps its id (and history) across rounds.
    (home / "r2.csv").write_text(HEADER + "NE-IT,Three Rivers Tech Talent Network,Northeast,IT,Ann Lee,ann@example.org\n")
    assert run("round", "open", "2027", "--roster", "r2.csv").exit_code == 0
    assert [p.id for p in s.members("2027")] == ["NE-IT"] and len(s.members("2026")) == 4


def test_round_open__bad_roster__every_problem_and_exit_1(home):
    (home / "roster.csv").write_text(HEADER + "NE IT,,x,y,z,not-an-email\n")
    result = run("round", "open", "2026", "--roster", "roster.csv")
    assert result.exit_code == 1
    assert "[MG-ROSTER-003]" in result.output and "[MG-ROSTER-005]" in result.output
    assert store(home).round("2026") is None


def test_generate__round_without_roster__uses_the_stored_roster_and_due(home):
    result = issued_round(home)
    assert result.output == "Wrote 4 workbooks for round 2026 to blank/\n"
    issued = store(home).issued("2026")
    assert sorted(w.partnership_id for w in issued) == ["CE-LOG", "NE-HC", "NE-IT", "NW-AM"]
    for w in issued:
        assert hashlib.sha256(Path(w.path).read_bytes()).hexdigest() == w.sha256


# --- send ------------------------------------------------------------------------------------------


def test_send_blanks__dry_run__eml_per_partnership_nothing_recorded(home):
    issued_round(home)
    result = run("send", "blanks", "--round", "2026", "--dry-run", "-s")
    assert result.exit_code == 1  # NE-HC has no contact email: reported, and the exit code says so
    outbox = home / "data" / "outbox" / "2026"
    assert sorted(f.name for f in outbox.iterdir()) == ["blanks_CE-LOG.eml", "blanks_NE-IT.eml", "blanks_NW-AM.eml"]
    assert "blanks, round 2026: 3 written, 1 failed" in result.output
    assert "error: roster: NE-HC: there is no contact email for Summit City Health Sciences" in result.output
    msg = message_from_bytes((outbox / "blanks_NE-IT.eml").read_bytes(), policy=default_policy)
    assert "Please return it by March 31, 2027." in msg.get_body(("plain",)).get_content()
    assert msg["Subject"] == f"{RUBRIC.title}: your self-assessment workbook for round 2026"
    assert store(home).engine and run("status", "--round", "2026").output.count("failed") == 0


def test_send_blanks__real_smtp__sent_once__missing_email_fixed_then_sent(home, mail_server, monkeypatch):
    server = mail_server()
    use_server(monkeypatch, server)
    issued_round(home)
    first = run("send", "blanks", "--round", "2026", "-s")
    assert first.exit_code == 1
    assert sorted(r.rcpt_tos[0] for r in server.inbox.received) == ["ann@example.org", "ben@example.org",
                                                                     "cat@example.org"]
    again = run("send", "blanks", "--round", "2026", "-s")
    assert again.exit_code == 1 and "3 already sent" in again.output and len(server.inbox.received) == 3
    opened(home, ROSTER_FIXED)  # the office adds the missing address
    fixed = run("send", "blanks", "--round", "2026", "-s")
    assert fixed.exit_code == 0, fixed.output
    assert fixed.output.splitlines()[0].split() == ["sent", "NE-HC", "hannah@example.org"]
    assert [r.rcpt_tos for r in server.inbox.received][-1] == ["hannah@example.org"]
    [attachment] = list(server.inbox.received[-1].message.iter_attachments())
    [path] = (home / "blank").glob("NE-HC_*.xlsx")
    assert attachment.get_content() == path.read_bytes()


def test_send_blanks__refused_recipient__exit_1__rerun_retries_only_it(home, mail_server, monkeypatch):
    server = mail_server()
    use_server(monkeypatch, server)
    opened(home, ROSTER_FIXED)
    run("generate", "--round", "2026", "--out", "blank", "-s")
    server.inbox.refuse_rcpt.add("ben@example.org")
    first = run("send", "blanks", "--round", "2026", "-s")
    assert first.exit_code == 1
    assert "error: NW-AM: the mail server refused the recipient ben@example.org: 550" in first.output
    server.inbox.refuse_rcpt.clear()
    second = run("send", "blanks", "--round", "2026", "-s")
    assert second.exit_code == 0
    assert [line.split()[:2] for line in second.output.splitlines() if line.startswith("  sent")] == [["sent", "NW-AM"]]
    assert len(server.inbox.received) == 4


def test_send__only_named_partnerships_and_limit(home, mail_server, monkeypatch):
    server = mail_server()
    use_server(monkeypatch, server)
    opened(home, ROSTER_FIXED)
    run("generate", "--round", "2026", "--out", "blank", "-s")
    result = run("send", "blanks", "--round", "2026", "--partnership", "NE-IT", "--partnership", "CE-LOG",
                 "--limit", "1", "-s")
    assert result.exit_code == 0
    assert "blanks, round 2026: 1 sent, 1 not attempted" in result.output
    assert len(server.inbox.received) == 1


def test_send__throttle__spaces_the_messages(home, mail_server, monkeypatch):
    import time

    server = mail_server()
    use_server(monkeypatch, server)
    opened(home, ROSTER_FIXED)
    run("generate", "--round", "2026", "--out", "blank", "-s")
    start = time.monotonic()
    assert run("send", "blanks", "--round", "2026", "--throttle", "600", "-s").exit_code == 0  # one per 0.1 s
    assert time.monotonic() - start >= 0.3 and len(server.inbox.received) == 4


def test_send__unknown_partnership__exit_1_nothing_sent(home, mail_server, monkeypatch):
    server = mail_server()
    use_server(monkeypatch, server)
    issued_round(home)
    result = run("send", "blanks", "--round", "2026", "--partnership", "XX-9", "-s")
    assert result.exit_code == 1 and "[MG-SEND-035]" in result.output
    assert server.inbox.received == []


def test_send__unknown_round__exit_2(home):
    opened(home)
    result = run("send", "blanks", "--round", "2031", "--dry-run")
    assert result.exit_code == 2 and "[MG-STORE-006]" in result.output


def test_send__no_store__refused_naming_the_path_and_none_made(home):
    result = run("send", "blanks", "--round", "2026", "--dry-run", "--db", "no-such-folder/x.db")
    assert result.exit_code == 1
    assert result.stderr == (f"error: {home / 'no-such-folder' / 'x.db'}: there is no store at "
                             f"{home / 'no-such-folder' / 'x.db'}; check --db or MATRIXGEN_DB (a new store is made by "
                             "`matrixgen round open`, `generate` or `score`) [MG-STORE-005]\n")
    assert not (home / "no-such-folder").exists()


def test_send__round_missing__usage_error_exit_2(home):
    opened(home)
    result = run("send", "blanks", "--dry-run")
    assert result.exit_code == 2 and "Missing option '--round'" in result.output


def test_send__dot_dot_round__usage_error_and_nothing_written(home):
    opened(home)
    result = run("send", "blanks", "--round", "..", "--dry-run")
    assert result.exit_code == 2
    assert not list((home / "data").glob("*.eml"))


def test_send__missing_settings__every_problem_exit_1(home, monkeypatch):
    monkeypatch.delenv("MATRIXGEN_MAIL_FROM")
    issued_round(home)
    result = run("send", "blanks", "--round", "2026")
    assert result.exit_code == 1
    assert "MATRIXGEN_SMTP_HOST is not set" in result.output and "MATRIXGEN_MAIL_FROM is not set" in result.output
    assert "Nothing was sent" in result.output


def test_send__bad_kind__usage_error_exit_2(home):
    assert run("send", "invoices", "--round", "2026").exit_code == 2


def test_send__starttls_login__password_never_in_any_written_file(home, mail_server, monkeypatch):
    server = mail_server("starttls")
    use_server(monkeypatch, server, security="starttls", MATRIXGEN_SMTP_USER=SMTP_USER,
               MATRIXGEN_SMTP_PASSWORD=SMTP_PASSWORD, MATRIXGEN_SMTP_CA_FILE=server.ca_file)
    opened(home, ROSTER_FIXED)
    run("generate", "--round", "2026", "--out", "blank", "-s")
    assert run("send", "blanks", "--round", "2026", "-s").exit_code == 0
    assert run("send", "blanks", "--round", "2026", "--dry-run", "--resend", "-s").exit_code == 0
    monkeypatch.setenv("MATRIXGEN_SMTP_PASSWORD", SMTP_PASSWORD + "-wrong")
    refused = run("send", "blanks", "--round", "2026", "--resend", "-s")
    assert refused.exit_code == 1 and "[MG-SEND-021]" in refused.output
    assert len(server.inbox.received) == 4
    secret = SMTP_PASSWORD.encode()
    written = [p for p in home.rglob("*") if p.is_file()]
    assert any(p.suffix == ".eml" for p in written) and any(p.name == "matrixgen.db" for p in written)
    assert [p for p in written if secret in p.read_bytes()] == []
    assert SMTP_PASSWORD not in refused.output


# --- the whole round ----------------------------------------------------------------------------------


def test_whole_round__open_generate_send_score_status_remind_report(home, mail_server, monkeypatch):
    server = mail_server()
    use_server(monkeypatch, server)
    opened(home, ROSTER_FIXED, "--due", "March 31, 2027")
    assert run("generate", "--round", "2026", "--out", "blank", "-s").exit_code == 0
    assert run("send", "blanks", "--round", "2026", "--dry-run", "-s").exit_code == 0
    assert server.inbox.received == []
    sent = run("send", "blanks", "--round", "2026", "-s")
    assert sent.exit_code == 0 and "blanks, round 2026: 4 sent" in sent.output

    # Two come back: NE-IT complete, NW-AM with two answers left blank. CE-LOG and NE-HC do not.
    blank_ids = {RUBRIC.criteria[1].id, RUBRIC.criteria[4].id}
    returned(home, "NE-IT")
    returned(home, "NW-AM", blanks=blank_ids)
    scored = run("score", "returned", "--round", "2026", "-s")
    assert scored.exit_code == 1  # one incomplete

    status = run("status", "--round", "2026", "--csv", "status.csv")
    assert status.exit_code == 0
    lines = status.stdout.splitlines()
    assert lines[0] == "Round 2026, due March 31, 2027: 4 partnerships (times UTC)"
    rows = {line.split()[0]: line for line in lines[3:7]}
    assert " scored " in rows["NE-IT"] and " incomplete " in rows["NW-AM"]
    assert rows["CE-LOG"].split()[-5:] == ["-", "not", "returned", "-", "-"]  # returned, status, stage, report
    assert ("4 partnerships: 4 issued, 4 sent, 2 returned (1 scored, 1 incomplete, 0 rejected, 0 in review), "
            "2 not returned, 0 reports sent") in status.output
    assert "Still to come: CE-LOG (not returned), NE-HC (not returned), NW-AM (incomplete)" in status.output
    with open(home / "status.csv", newline="", encoding="utf-8") as fh:
        table = {r["partnership_id"]: r for r in csv.DictReader(fh)}
    assert table["NE-IT"]["status"] == "scored" and table["CE-LOG"]["returned_at"] == ""
    assert table["NE-IT"]["sent_at"].endswith("Z") and table["NE-IT"]["progress"] == "returned"

    reminders = run("send", "reminders", "--round", "2026", "-s")
    assert reminders.exit_code == 0 and "reminders, round 2026: 3 sent" in reminders.output
    to = {r.rcpt_tos[0]: r.message for r in server.inbox.received[4:]}
    assert sorted(to) == ["ben@example.org", "cat@example.org", "hannah@example.org"]  # not ann: she returned it
    ben = to["ben@example.org"].get_body(("plain",)).get_content()
    assert "2 answers need your attention" in ben
    for cid in sorted(blank_ids):
        criterion = RUBRIC.criterion(cid)
        assert f", {cid}: no answer.\r\n  {criterion.text}" in ben
    assert "Assessment!E" in ben
    assert list(to["cat@example.org"].iter_attachments())  # the workbook again
    again = run("send", "reminders", "--round", "2026", "-s")
    assert "3 already sent" in again.output and len(server.inbox.received) == 7

    made = run("report", "--round", "2026", "-s")
    assert made.exit_code == 0, made.output
    reports = run("send", "reports", "--round", "2026", "-s")
    assert reports.exit_code == 0 and "reports, round 2026: 2 sent" in reports.output
    names = {"ann@example.org": "NE-IT", "ben@example.org": "NW-AM"}
    for r in server.inbox.received[7:]:
        [pdf] = list(r.message.iter_attachments())
        text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.get_content())).pages)
        owner = names[r.rcpt_tos[0]]
        assert s_name(owner) in text and all(s_name(other) not in text for other in names.values() if other != owner)

    final = run("status", "--round", "2026")
    assert "2 reports sent" in final.output
    assert final.output.count("failed") == 0


def test_send_reports__a_return_without_a_rendered_report__rendered_now_and_sent(home, mail_server, monkeypatch):
    server = mail_server()
    use_server(monkeypatch, server)
    opened(home, ROSTER_FIXED)
    run("generate", "--round", "2026", "--out", "blank", "-s")
    returned(home, "NE-IT")
    run("score", "returned", "--round", "2026", "-s")
    result = run("send", "reports", "--round", "2026", "-s")
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Rendered 1 report(s) that were missing or out of date into ")
    assert "reports, round 2026: 1 sent" in result.output  # only NE-IT returned: only it is due a report
    [msg] = server.inbox.received
    [pdf] = list(msg.message.iter_attachments())
    assert msg.rcpt_tos == ["ann@example.org"] and pdf.get_content().startswith(b"%PDF-")
    again = run("send", "reports", "--round", "2026", "-s")
    assert "Rendered" not in again.output and "1 already sent" in again.output


def test_status__no_store__refused_naming_the_path(home):
    result = run("status")
    assert result.exit_code == 1 and "there is no store at" in result.stderr and "[MG-STORE-005]" in result.stderr


def test_status__no_rounds__says_how_to_start_exit_1(home):
    run("generate", "--blank")  # a store, but no round
    result = run("status")
    assert result.exit_code == 1 and "round open" in result.output


def test_status__defaults_to_the_newest_open_round_and_says_so(home):
    issued_round(home)
    result = run("status")
    assert result.exit_code == 0 and result.stdout.startswith("Round 2026, due March 31, 2027: 4 partnerships")
    assert result.stderr == "Round 2026 (the newest open round; --round chooses another)\n"


def test_status__unknown_round__usage_error_exit_2(home):
    issued_round(home)
    result = run("status", "--round", "1999")
    assert result.exit_code == 2 and "there is no round '1999' (known: 2026)" in result.stderr


# --- the status table on a terminal, and for other programs ------------------------------------------------

LONG = "Northeast Indiana Regional Advanced Manufacturing Logistics and Health Sciences Workforce Partnership"


def test_status__long_name_on_a_110_column_terminal__names_cut_to_fit(home, monkeypatch):
    opened(home, ROSTER.replace("Three Rivers Tech Talent Network", LONG), "--due", "March 31, 2027")
    assert run("generate", "--round", "2026", "--out", "blank", "-s").exit_code == 0
    monkeypatch.setenv("COLUMNS", "110")
    result = run("status", "--round", "2026")
    assert result.exit_code == 0
    day = datetime.now(timezone.utc).strftime("%Y-%m-%d")
    assert result.output.splitlines()[2:7] == [
        "partnership  name               issued      sent  reminded  returned  status        overall stage  report sent",
        f"CE-LOG       Crossroads Logis…  {day}  -     -         -         not returned  -              -",
        f"NE-HC        Summit City Heal…  {day}  -     -         -         not returned  -              -",
        f"NE-IT        Northeast Indian…  {day}  -     -         -         not returned  -              -",
        f"NW-AM        Calumet Lakeshor…  {day}  -     -         -         not returned  -              -",
    ]


def test_status__json__the_csv_columns_as_objects_values_whole(home):
    opened(home, ROSTER.replace("Three Rivers Tech Talent Network", LONG))
    result = run("status", "--round", "2026", "--json")
    assert result.exit_code == 0
    rows = {r["partnership_id"]: r for r in json.loads(result.output)}
    assert list(rows["NE-IT"]) == ["round", *CSV_COLUMNS]
    assert rows["NE-IT"]["name"] == LONG and rows["NE-IT"]["round"] == "2026" and rows["NE-IT"]["progress"] == "not issued"


def test_status__json_and_csv__only_json_on_stdout_and_the_file_written(home):
    opened(home)
    result = run("status", "--round", "2026", "--json", "--csv", "status.csv")
    assert result.exit_code == 0
    assert len(json.loads(result.stdout)) == 4 and "Wrote status.csv" in result.stderr
    with open(home / "status.csv", newline="", encoding="utf-8") as fh:
        assert len(list(csv.DictReader(fh))) == 4

