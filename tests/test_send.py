from __future__ import annotations

import base64
from email import message_from_bytes
from email.policy import default as default_policy
from email.utils import parseaddr, parsedate_to_datetime
from pathlib import Path

import pytest

from mailserver import SMTP_PASSWORD, SMTP_USER, free_port, mail_server, tls_ca  # noqa: F401 (fixtures)
from matrixgen.generate import Options, generate_workbooks
from matrixgen.roster import Partnership
from matrixgen.rubric import require_rubric
from matrixgen.store import Store
from matrixgen.mail import (
    FAILED, HELD, INCOMPLETE, REJECTED, SCORED, SENDING, SENT, SKIPPED, UNKNOWN, WRITTEN, Attachment, EmailTemplates,
    Missing, OutboxTransport, Planned, Record, ReturnState, Round, Settings, SmtpTransport, SqlSendLog, Throttle,
    load_settings, only, plan_blanks, plan_reminders, plan_reports, send_batch,
)

RUBRIC = require_rubric()
ROUND = Round("2026", due="March 31, 2027", title="Indiana Sector Partnership Stages")
ANN = Partnership("NE-IT", "Three Rivers Tech Talent Network", "Northeast", "IT", "Ann Lee", "ann@example.org")
BEN = Partnership("NW-AM", "Calumet Lakeshore Manufacturing", "Northwest", "Manufacturing", "Ben Ortiz", "ben@example.org")
CAT = Partnership("CE-LOG", "Crossroads Logistics", "Central", "Logistics", "Tomás Rivera", "cat@example.org")
NOBODY = Partnership("NE-HC", "Summit City Health Sciences", "Northeast", "Health care", "Hannah Moreau", "")
ALL = (ANN, BEN, CAT)


@pytest.fixture(scope="module")
def issued(tmp_path_factory):
    out = tmp_path_factory.mktemp("blank")
    return generate_workbooks(RUBRIC, [*ALL, NOBODY], out, Options(round="2026"), b"k" * 32)


def settings_for(server, **kw) -> Settings:
    base = dict(mail_from="Sector Team <sectors@example.gov>", reply_to="help@example.gov", host="127.0.0.1",
                port=server.port, security="none", contact="Sector team, 317-555-0100")
    return Settings(**{**base, **kw})


def run(items, settings, log, **kw):
    transport = kw.pop("transport", None) or SmtpTransport(settings)
    return send_batch(ROUND, items, settings, log, transport, **kw)


def store_log(path) -> SqlSendLog:
    return SqlSendLog(Store.open(path).engine)


@pytest.fixture
def log(tmp_path):
    return store_log(tmp_path / "store.db")


def blanks(issued, *partnerships):
    """The blanks of ``partnerships`` (default: the three with an email), as generate made them."""
    chosen = partnerships or ALL
    return plan_blanks(chosen, {g.partnership.id: Attachment(g.path, g.sha256) for g in issued}, "2026")


# --- blanks over real SMTP -----------------------------------------------------------------------


def test_send_blanks__real_smtp__each_contact_gets_own_workbook_with_headers(mail_server, issued, log):
    server = mail_server()
    result = run(blanks(issued), settings_for(server), log)
    assert result.ok and result.count(SENT) == 3
    by_file = {g.partnership.contact_email: g for g in issued}
    for p in ALL:
        [msg] = server.inbox.to(p.contact_email)
        assert parseaddr(msg["To"]) == (p.contact_name, p.contact_email)
        assert msg["Subject"] == "Indiana Sector Partnership Stages: your self-assessment workbook for round 2026"
        assert msg["From"] == "Sector Team <sectors@example.gov>"
        assert msg["Reply-To"] == "help@example.gov"
        assert msg["Message-ID"].endswith("@example.gov>")
        assert parsedate_to_datetime(msg["Date"]).tzinfo is not None
        assert msg["X-Matrixgen-Partnership"] == p.id
        [part] = list(msg.iter_attachments())
        assert part.get_filename() == by_file[p.contact_email].path.name
        assert part.get_content_type() == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        assert part.get_content() == by_file[p.contact_email].path.read_bytes()
        text = msg.get_body(("plain",)).get_content()
        assert f"Dear {p.contact_name}," in text and "Please return it by March 31, 2027." in text
        assert "Questions: Sector team, 317-555-0100" in text
        assert msg.get_body(("html",)) is not None
    assert {r.mail_from for r in server.inbox.received} == {"sectors@example.gov"}
    records = log.records("2026")
    assert [(r.partnership_id, r.status) for r in records] == [(p.id, SENT) for p in ALL]
    assert {r.message_id for r in records} == {m.message["Message-ID"] for m in server.inbox.received}
    assert all(r.attachment_sha256 == by_file[r.recipient].sha256 for r in records)
    assert all(r.started_at and r.finished_at for r in records)


def test_send_blanks__second_run__sends_nothing(mail_server, issued, log):
    server = mail_server()
    run(blanks(issued), settings_for(server), log)
    again = run(blanks(issued), settings_for(server), log)
    assert again.ok and again.count(SKIPPED) == 3 and again.count(SENT) == 0
    assert len(server.inbox.received) == 3 and len(log.records()) == 3


def test_send_blanks__one_connection_for_the_whole_batch(mail_server, issued, log):
    server = mail_server()
    run(blanks(issued), settings_for(server), log)
    assert len({r.peer for r in server.inbox.received}) == 1


def test_send_blanks__refused_recipient__recorded_failed_others_sent_rerun_retries_only_it(mail_server, issued, log):
    server = mail_server()
    server.inbox.refuse_rcpt.add(BEN.contact_email)
    first = run(blanks(issued), settings_for(server), log)
    assert not first.ok
    assert [(o.partnership_id, o.status) for o in first.outcomes] == [(ANN.id, SENT), (BEN.id, FAILED), (CAT.id, SENT)]
    failed = next(o for o in first.outcomes if o.status == FAILED)
    assert failed.problem.code == "MG-SEND-024" and failed.problem.location == BEN.id
    assert "550" in failed.problem.message
    [record] = [r for r in log.records() if r.status == FAILED]
    assert (record.partnership_id, record.error_code) == (BEN.id, "MG-SEND-024")

    server.inbox.refuse_rcpt.clear()
    second = run(blanks(issued), settings_for(server), log)
    assert second.ok
    assert [(o.partnership_id, o.status) for o in second.outcomes] == [(ANN.id, SKIPPED), (BEN.id, SENT), (CAT.id, SKIPPED)]
    [retried] = server.inbox.to(BEN.contact_email)
    # The retry keeps the failed attempt's Message-ID: if that one arrived after all, it is one message.
    assert retried["Message-ID"] == record.message_id
    assert len(server.inbox.received) == 3


def test_send_blanks__resend__sends_again_with_a_new_message_id(mail_server, issued, log):
    server = mail_server()
    run(blanks(issued, ANN), settings_for(server), log)
    again = run(blanks(issued, ANN), settings_for(server), log, resend=True)
    assert again.count(SENT) == 1
    first, second = server.inbox.to(ANN.contact_email)
    assert first["Message-ID"] != second["Message-ID"]


def test_send_blanks__limit__sends_n_and_holds_the_rest_for_the_next_run(mail_server, issued, log):
    server = mail_server()
    first = run(blanks(issued), settings_for(server), log, limit=2)
    assert [o.status for o in first.outcomes] == [SENT, SENT, HELD]
    assert first.ok
    second = run(blanks(issued), settings_for(server), log, limit=2)
    assert sorted(o.status for o in second.outcomes) == [SENT, SKIPPED, SKIPPED]
    assert len(server.inbox.received) == 3


def test_send_blanks__no_contact_email__reported_and_recorded_failed_others_sent(mail_server, issued, log):
    server = mail_server()
    result = run(blanks(issued, *ALL, NOBODY), settings_for(server), log)
    assert result.count(SENT) == 3 and not result.ok
    [bad] = [o for o in result.outcomes if o.status == FAILED]
    assert (bad.partnership_id, bad.problem.code, bad.problem.location) == (NOBODY.id, "MG-SEND-030", "roster: NE-HC")
    assert [r.partnership_id for r in log.records() if r.status == FAILED] == [NOBODY.id]


def test_send_blanks__workbook_changed_since_issued__failed_not_sent(mail_server, issued, log, tmp_path):
    server = mail_server()
    copy = tmp_path / issued[0].path.name
    copy.write_bytes(issued[0].path.read_bytes() + b"tampered")
    item = Planned("blanks", ANN, Attachment(copy, issued[0].sha256))
    result = run([item], settings_for(server), log)
    [o] = result.outcomes
    assert (o.status, o.problem.code) == (FAILED, "MG-SEND-032")
    assert server.inbox.received == []


def test_send_blanks__workbook_missing__failed_with_located_problem(mail_server, log, tmp_path):
    server = mail_server()
    result = run([Planned("blanks", ANN, Attachment(tmp_path / "gone.xlsx"))], settings_for(server), log)
    [o] = result.outcomes
    assert (o.status, o.problem.code, o.problem.location) == (FAILED, "MG-SEND-031", ANN.id)


def test_send__stopped_mid_send_earlier__unknown_not_resent_unless_resend(mail_server, issued, log):
    server = mail_server()
    # What a crash between "before" and "after" leaves behind.
    log.begin(Record("2026", "blanks", ANN.id, "", ANN.contact_email, message_id="<x@example.gov>"))
    result = run(blanks(issued, ANN), settings_for(server), log)
    [o] = result.outcomes
    assert (o.status, o.problem.code, o.problem.severity.value) == (UNKNOWN, "MG-SEND-034", "warning")
    assert server.inbox.received == []
    forced = run(blanks(issued, ANN), settings_for(server), log, resend=True)
    assert forced.count(SENT) == 1


def test_send__throttled__waits_before_the_message_is_logged_as_sending(mail_server, issued, log):
    server = mail_server()
    at_wait: list[list[str]] = []

    def sleep(_seconds: float) -> None:  # where a Ctrl-C would land: nothing may be marked sending yet
        at_wait.append([r.status for r in log.records()])

    clock = iter(range(0, 1000, 1)).__next__
    settings = settings_for(server)
    transport = SmtpTransport(settings, Throttle(1, clock=lambda: float(clock()), sleep=sleep))
    result = run(blanks(issued, ANN, BEN), settings, log, transport=transport)
    assert result.count(SENT) == 2 and at_wait == [["sent"]]


def test_send__the_record_is_written_before_the_message_goes_out(mail_server, issued, log):
    server = mail_server()
    seen: list[str] = []

    class Watching(SmtpTransport):
        def send(self, msg, sender, recipient, name):
            seen.append(log.records()[-1].status)
            return super().send(msg, sender, recipient, name)

    settings = settings_for(server)
    run(blanks(issued, ANN), settings, log, transport=Watching(settings))
    assert seen == [SENDING] and log.records()[-1].status == SENT


# --- server and account problems -------------------------------------------------------------------


def test_send__starttls_with_login__arrives_and_certificate_is_verified(mail_server, issued, log):
    server = mail_server("starttls")
    settings = settings_for(server, security="starttls", user=SMTP_USER, password=SMTP_PASSWORD,
                            ca_file=Path(server.ca_file))
    result = run(blanks(issued), settings, log)
    assert result.ok and len(server.inbox.received) == 3
    assert server.inbox.logins == [SMTP_USER.encode()]  # one login for the batch


def test_send__starttls_untrusted_certificate__cannot_connect(mail_server, issued, log):
    server = mail_server("starttls")
    settings = settings_for(server, security="starttls", user=SMTP_USER, password=SMTP_PASSWORD)  # no CA file
    result = run(blanks(issued), settings, log)
    assert [p.code for p in result.problems] == ["MG-SEND-020"]
    assert "certificate" in result.problems[0].message
    assert log.records() == [] and server.inbox.received == []


# aiosmtpd does not count implicit TLS as TLS for its AUTH check, so the fixture turns that off.
@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_send__ssl_with_login__arrives(mail_server, issued, log):
    server = mail_server("ssl")
    settings = settings_for(server, security="ssl", user=SMTP_USER, password=SMTP_PASSWORD,
                            ca_file=Path(server.ca_file))
    assert run(blanks(issued), settings, log).ok and len(server.inbox.received) == 3


def test_send__wrong_password__one_login_error_nothing_recorded(mail_server, issued, log):
    server = mail_server("starttls")
    settings = settings_for(server, security="starttls", user=SMTP_USER, password="wrong",
                            ca_file=Path(server.ca_file))
    result = run(blanks(issued), settings, log)
    assert [(p.code, p.location) for p in result.problems] == [("MG-SEND-021", f"127.0.0.1:{server.port}")]
    assert "535" in result.problems[0].message
    assert [o.status for o in result.outcomes] == [HELD] * 3
    assert log.records() == []


def test_send__server_offers_only_login_mechanism__ascii_password_works(mail_server, issued, log):
    server = mail_server("starttls", auth_exclude_mechanism=["PLAIN"])
    server.inbox.password = "plain-ascii-secret"
    settings = settings_for(server, security="starttls", user=SMTP_USER, password="plain-ascii-secret",
                            ca_file=Path(server.ca_file))
    assert run(blanks(issued), settings, log).ok and len(server.inbox.received) == 3


def test_send__server_offers_only_login_mechanism__non_ascii_password_explained(mail_server, issued, log):
    server = mail_server("starttls", auth_exclude_mechanism=["PLAIN"])
    settings = settings_for(server, security="starttls", user=SMTP_USER, password=SMTP_PASSWORD,
                            ca_file=Path(server.ca_file))
    result = run(blanks(issued), settings, log)
    assert [p.code for p in result.problems] == ["MG-SEND-021"]
    assert "AUTH PLAIN" in result.problems[0].message


def test_send__server_wants_login_none_configured__MG_SEND_026(mail_server, issued, log):
    server = mail_server("starttls")
    settings = settings_for(server, security="starttls", ca_file=Path(server.ca_file))
    result = run(blanks(issued), settings, log)
    assert [o.status for o in result.outcomes] == [FAILED, HELD, HELD]
    assert result.outcomes[0].problem.code == "MG-SEND-026"
    assert [p.code for p in result.problems] == ["MG-SEND-027"]


def test_send__starttls_not_offered__MG_SEND_022(mail_server, issued, log):
    server = mail_server()
    result = run(blanks(issued), settings_for(server, security="starttls"), log)
    assert [p.code for p in result.problems] == ["MG-SEND-022"]


def test_send__nothing_listening__MG_SEND_020(issued, log):
    settings = Settings(mail_from="sectors@example.gov", host="127.0.0.1", port=free_port(), security="none")
    result = run(blanks(issued), settings, log)
    assert [p.code for p in result.problems] == ["MG-SEND-020"]
    assert log.records() == []


def test_send__sender_refused__batch_stops_after_the_first(mail_server, issued, log):
    server = mail_server()
    server.inbox.refuse_sender.add("sectors@example.gov")
    result = run(blanks(issued), settings_for(server), log)
    assert [o.status for o in result.outcomes] == [FAILED, HELD, HELD]
    assert result.outcomes[0].problem.code == "MG-SEND-023"
    assert [p.code for p in result.problems] == ["MG-SEND-027"]
    # The held ones were never begun: the next run sends all three.
    server.inbox.refuse_sender.clear()
    assert run(blanks(issued), settings_for(server), log).count(SENT) == 3


def test_send__password_never_written_to_any_file(mail_server, issued, tmp_path):
    log = store_log(tmp_path / "data" / "matrixgen.db")
    good = mail_server("starttls")
    settings = settings_for(good, security="starttls", user=SMTP_USER, password=SMTP_PASSWORD,
                            ca_file=Path(good.ca_file))
    assert run(blanks(issued), settings, log).ok
    bad = mail_server("starttls")
    bad.inbox.refuse_rcpt.add(ANN.contact_email)
    run(blanks(issued), replace_port(settings, bad), log, resend=True)
    wrong = replace_port(settings, bad)
    run(blanks(issued), Settings(**{**wrong.__dict__, "password": SMTP_PASSWORD + "x"}), log, resend=True)
    outbox = OutboxTransport(tmp_path / "data" / "outbox" / "2026", "blanks")
    send_batch(ROUND, blanks(issued), settings, log, outbox, dry_run=True, resend=True)
    secrets = [SMTP_PASSWORD.encode(), base64.b64encode(SMTP_PASSWORD.encode()),
               base64.b64encode(f"\0{SMTP_USER}\0{SMTP_PASSWORD}".encode())]
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert len(written) >= 4
    for path in written:
        data = path.read_bytes()
        assert not any(s in data for s in secrets), path
    assert SMTP_PASSWORD not in repr(settings)


def replace_port(settings: Settings, server) -> Settings:
    return Settings(**{**settings.__dict__, "port": server.port})


# --- dry run ------------------------------------------------------------------------------------------


def test_dry_run__eml_files_parse_and_nothing_is_recorded(issued, log, tmp_path):
    folder = tmp_path / "outbox" / "2026"
    settings = Settings(mail_from="Sector Team <sectors@example.gov>", reply_to="help@example.gov")
    result = send_batch(ROUND, blanks(issued, *ALL, NOBODY), settings, log, OutboxTransport(folder, "blanks"), dry_run=True)
    assert result.count(WRITTEN) == 3 and result.count(FAILED) == 1  # NE-HC has no contact email
    assert log.records() == []
    files = sorted(folder.glob("*.eml"))
    assert [f.name for f in files] == ["blanks_CE-LOG.eml", "blanks_NE-IT.eml", "blanks_NW-AM.eml"]
    by_id = {g.partnership.id: g for g in issued}
    for f in files:
        msg = message_from_bytes(f.read_bytes(), policy=default_policy)
        pid = msg["X-Matrixgen-Partnership"]
        assert parseaddr(msg["To"])[1] == by_id[pid].partnership.contact_email
        [part] = list(msg.iter_attachments())
        assert part.get_content() == by_id[pid].path.read_bytes()
        assert msg["Message-ID"] and msg["Date"] and msg["Reply-To"] == "help@example.gov"


def test_dry_run__again__replaces_the_earlier_files_of_that_kind(issued, log, tmp_path):
    folder = tmp_path / "outbox"
    settings = Settings(mail_from="sectors@example.gov")
    send_batch(ROUND, blanks(issued), settings, log, OutboxTransport(folder, "blanks"), dry_run=True)
    send_batch(ROUND, blanks(issued, ANN), settings, log, OutboxTransport(folder, "blanks"), dry_run=True)
    assert [f.name for f in folder.glob("*.eml")] == ["blanks_NE-IT.eml"]


def test_dry_run__skips_what_was_already_sent(mail_server, issued, log, tmp_path):
    server = mail_server()
    run(blanks(issued, ANN), settings_for(server), log)
    result = send_batch(ROUND, blanks(issued), settings_for(server), log,
                        OutboxTransport(tmp_path / "o", "blanks"), dry_run=True)
    assert sorted(o.status for o in result.outcomes) == [SKIPPED, WRITTEN, WRITTEN]


# --- reminders and reports -----------------------------------------------------------------------------


def test_reminders__only_to_partnerships_without_a_scored_return(mail_server, issued, log):
    server = mail_server()
    returns = {
        ANN.id: ReturnState(SCORED),
        BEN.id: ReturnState(INCOMPLETE, missing=(Missing("Assessment!E5", "EE-2", "Employers identify shared needs"),
                                                 Missing("Assessment!E9", "SP-1", "A shared plan exists",
                                                         "not an answer", "Mett"))),
    }
    workbooks = {g.partnership.id: Attachment(g.path, g.sha256) for g in issued}
    result = run(plan_reminders(ALL, returns, workbooks), settings_for(server), log)
    assert result.ok and {o.partnership_id for o in result.outcomes} == {BEN.id, CAT.id}
    assert server.inbox.to(ANN.contact_email) == []
    [ben] = server.inbox.to(BEN.contact_email)
    text = ben.get_body(("plain",)).get_content()
    assert "- Assessment!E5, EE-2: no answer.\r\n  Employers identify shared needs" in text
    assert '- Assessment!E9, SP-1: "Mett" is not one of the answers.\r\n  A shared plan exists' in text
    assert list(ben.iter_attachments()) == []  # they have their own filled-in file
    assert ben["Subject"].startswith("Action needed:")
    [cat] = server.inbox.to(CAT.contact_email)
    assert cat["Subject"].startswith("Reminder:")
    [again] = list(cat.iter_attachments())
    assert again.get_content() == workbooks[CAT.id].path.read_bytes()


def test_reminders__same_state_not_sent_twice__a_changed_state_is(mail_server, log):
    server = mail_server()
    first = {BEN.id: ReturnState(INCOMPLETE, missing=(Missing("Assessment!E5", "EE-2"),))}
    run(plan_reminders([BEN], first), settings_for(server), log)
    assert run(plan_reminders([BEN], first), settings_for(server), log).count(SKIPPED) == 1
    changed = {BEN.id: ReturnState(INCOMPLETE, missing=(Missing("Assessment!E7", "EE-4"),))}
    assert run(plan_reminders([BEN], changed), settings_for(server), log).count(SENT) == 1
    rejected = {BEN.id: ReturnState(REJECTED, problems=("the file is password-protected; remove the password",))}
    assert run(plan_reminders([BEN], rejected), settings_for(server), log).count(SENT) == 1
    body = server.inbox.to(BEN.contact_email)[-1].get_body(("plain",)).get_content()
    assert "- the file is password-protected; remove the password" in body


def test_reports__each_goes_only_to_its_own_partnership(mail_server, log, tmp_path):
    server = mail_server()
    reports = {}
    for p in ALL:
        pdf = tmp_path / f"{p.id}.pdf"
        pdf.write_bytes(b"%PDF-1.7 report of " + p.id.encode())
        reports[p.id] = Attachment(pdf)
    shared = Partnership("SW-LOG", "Pocket Region Logistics", contact_name="Ann Lee", contact_email=ANN.contact_email)
    result = run(plan_reports([*ALL, shared], reports, "2026"), settings_for(server), log)
    assert result.count(SENT) == 3
    [missing] = [o for o in result.outcomes if o.status == FAILED]
    assert (missing.partnership_id, missing.problem.code) == ("SW-LOG", "MG-SEND-036")
    for r in server.inbox.received:
        msg = r.message
        [pdf] = list(msg.iter_attachments())
        owner = pdf.get_content().rsplit(b" ", 1)[1].decode()
        assert r.rcpt_tos == [next(p.contact_email for p in ALL if p.id == owner)]
        assert msg["X-Matrixgen-Partnership"] == owner and pdf.get_content_type() == "application/pdf"


def test_reports__a_new_report_is_sent__the_same_one_is_not(mail_server, log, tmp_path):
    server = mail_server()
    pdf = tmp_path / "r.pdf"
    pdf.write_bytes(b"%PDF first")
    run(plan_reports([ANN], {ANN.id: Attachment(pdf)}, "2026"), settings_for(server), log)
    assert run(plan_reports([ANN], {ANN.id: Attachment(pdf)}, "2026"), settings_for(server), log).count(SKIPPED) == 1
    pdf.write_bytes(b"%PDF rescored")
    assert run(plan_reports([ANN], {ANN.id: Attachment(pdf)}, "2026"), settings_for(server), log).count(SENT) == 1


def test_plan_blanks__no_workbook_for_a_partnership__located_problem():
    [item] = plan_blanks([ANN], {}, "2026")
    assert (item.problem.code, item.problem.location) == ("MG-SEND-037", "round 2026: NE-IT")


def test_only__keeps_named_partnerships__unknown_id_is_a_problem(issued):
    kept, problems = only(blanks(issued), ["NW-AM", "NW-AM", "XX-1"], "2026")
    assert [p.partnership.id for p in kept] == ["NW-AM"]
    assert [(p.code, p.location) for p in problems] == [("MG-SEND-035", "--partnership")]


# --- templates -------------------------------------------------------------------------------------------


def test_templates__office_folder_overrides_one_file_and_keeps_the_rest(issued, log, tmp_path):
    office = tmp_path / "office"
    office.mkdir()
    (office / "blanks.subject.txt").write_text("Round {{ round }} workbook for {{ partnership.id }}\n")
    settings = Settings(mail_from="sectors@example.gov", templates=office)
    send_batch(ROUND, blanks(issued, ANN), settings, log, OutboxTransport(tmp_path / "o", "blanks"), dry_run=True)
    msg = message_from_bytes((tmp_path / "o" / "blanks_NE-IT.eml").read_bytes(), policy=default_policy)
    assert msg["Subject"] == "Round 2026 workbook for NE-IT"
    assert "Attached is the self-assessment workbook" in msg.get_body(("plain",)).get_content()


def test_templates__empty_html_in_office_folder__text_only(issued, log, tmp_path):
    office = tmp_path / "office"
    office.mkdir()
    (office / "blanks.html").write_text("")
    settings = Settings(mail_from="sectors@example.gov", templates=office)
    send_batch(ROUND, blanks(issued, ANN), settings, log, OutboxTransport(tmp_path / "o", "blanks"), dry_run=True)
    msg = message_from_bytes((tmp_path / "o" / "blanks_NE-IT.eml").read_bytes(), policy=default_policy)
    assert msg.get_body(("html",)) is None and msg.get_body(("plain",)) is not None


def test_templates__undefined_variable__located_error_and_nothing_sent(mail_server, issued, log, tmp_path):
    server = mail_server()
    office = tmp_path / "office"
    office.mkdir()
    (office / "blanks.txt").write_text("Hello\n{{ partnership.nickname }}\n")
    result = run(blanks(issued), settings_for(server, templates=office), log)
    assert [(p.code, p.location) for p in result.problems] == [("MG-SEND-033", "blanks.txt line 2")]
    assert server.inbox.received == [] and log.records() == []


def test_templates__syntax_error__located_at_its_line(issued, log, tmp_path):
    office = tmp_path / "office"
    office.mkdir()
    (office / "reports.subject.txt").write_text("Report {% if %}\n")
    pdf = tmp_path / "r.pdf"
    pdf.write_bytes(b"%PDF")
    result = send_batch(ROUND, plan_reports([ANN], {ANN.id: Attachment(pdf)}, "2026"),
                        Settings(mail_from="s@example.gov", templates=office), log,
                        OutboxTransport(tmp_path / "o", "reports"), dry_run=True)
    assert [(p.code, p.location) for p in result.problems] == [("MG-SEND-033", "reports.subject.txt line 1")]


def test_templates__html_is_autoescaped_text_is_not(tmp_path):
    odd = Partnership("X-1", "Tech & <Talent>", contact_name="Ann", contact_email="ann@example.org")
    item = Planned("blanks", odd, Attachment(tmp_path / "x.xlsx"))
    from matrixgen.mail import template_context
    rendered = EmailTemplates().render("blanks", template_context(ROUND, item, Settings(mail_from="s@example.gov")))
    assert "Tech & <Talent>" in rendered.text
    assert "Tech &amp; &lt;Talent&gt;" in rendered.html and "<Talent>" not in rendered.html


def test_templates__every_default_renders_for_every_state():
    from matrixgen.mail import template_context
    templates = EmailTemplates()
    settings = Settings(mail_from="sectors@example.gov")
    for item in [*plan_reminders([ANN, BEN, CAT], {BEN.id: ReturnState(INCOMPLETE), CAT.id: ReturnState(REJECTED)}),
                 Planned("blanks", ANN), Planned("reports", ANN)]:
        r = templates.render(item.kind, template_context(ROUND, item, settings))
        assert r.subject and "\n" not in r.subject and r.text.startswith(f"Dear {item.partnership.contact_name},")
        assert "{{" not in r.text and r.html.startswith("<!DOCTYPE html>")


# --- settings ----------------------------------------------------------------------------------------------

ENV = {"MATRIXGEN_SMTP_HOST": "smtp.example.gov", "MATRIXGEN_MAIL_FROM": "Sector Team <sectors@example.gov>"}


def codes(result):
    return [(p.code, p.location) for p in result.problems]


def test_settings__environment_only__defaults_to_starttls_587(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = load_settings(env=ENV)
    assert result.valid and result.problems == ()
    s = result.settings
    assert (s.host, s.port, s.security, s.sender, s.sender_name) == (
        "smtp.example.gov", 587, "starttls", "sectors@example.gov", "Sector Team")


def test_settings__file__read_from_the_mail_table_and_env_wins(tmp_path):
    f = tmp_path / "matrixgen.toml"
    (tmp_path / "office-mail").mkdir()
    f.write_text('[mail]\nsmtp_host = "file.example.gov"\nsmtp_security = "ssl"\nmail_from = "a@example.gov"\n'
                 'mail_templates = "office-mail"\nsmtp_throttle = 30\n')
    s = load_settings(f, env={"MATRIXGEN_SMTP_HOST": "env.example.gov"}).settings
    assert (s.host, s.port, s.security, s.mail_from, s.throttle) == ("env.example.gov", 465, "ssl", "a@example.gov", 30)
    assert s.templates == tmp_path / "office-mail"


def test_settings__password_in_the_file__refused(tmp_path):
    f = tmp_path / "matrixgen.toml"
    f.write_text('[mail]\nsmtp_password = "hunter2"\n')
    result = load_settings(f, env=ENV)
    assert not result.valid and codes(result) == [("MG-SEND-005", "matrixgen.toml: mail.smtp_password")]


def test_settings__missing_host_and_from__every_problem_reported(tmp_path):
    result = load_settings(tmp_path / "none.toml", env={})
    assert ("MG-SEND-008", "none.toml") in codes(result)
    assert [c for c, _ in codes(result) if c == "MG-SEND-001"] == ["MG-SEND-001", "MG-SEND-001"]


def test_settings__dry_run_needs_no_server(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert load_settings(env={"MATRIXGEN_MAIL_FROM": "a@example.gov"}, smtp=False).valid


@pytest.mark.parametrize("var,value,code", [
    ("MATRIXGEN_SMTP_PORT", "smtp", "MG-SEND-003"),
    ("MATRIXGEN_SMTP_PORT", "70000", "MG-SEND-003"),
    ("MATRIXGEN_SMTP_SECURITY", "tls", "MG-SEND-002"),
    ("MATRIXGEN_MAIL_REPLY_TO", "not an address", "MG-SEND-004"),
    ("MATRIXGEN_SMTP_THROTTLE", "-1", "MG-SEND-009"),
    ("MATRIXGEN_SMTP_USER", "office", "MG-SEND-006"),
    ("MATRIXGEN_SMTP_CA_FILE", "/nonexistent/ca.pem", "MG-SEND-012"),
    ("MATRIXGEN_MAIL_TEMPLATES", "/nonexistent/folder", "MG-SEND-011"),
])
def test_settings__bad_value__located_at_its_variable(tmp_path, monkeypatch, var, value, code):
    monkeypatch.chdir(tmp_path)
    result = load_settings(env={**ENV, var: value})
    assert not result.valid and codes(result) == [(code, PASSWORD_OR(var, code))]


def PASSWORD_OR(var, code):
    return "MATRIXGEN_SMTP_PASSWORD" if code == "MG-SEND-006" else var


def test_settings__login_without_encryption__warned(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    env = {**ENV, "MATRIXGEN_SMTP_USER": "u", "MATRIXGEN_SMTP_PASSWORD": "p", "MATRIXGEN_SMTP_SECURITY": "none"}
    result = load_settings(env=env)
    assert result.valid and codes(result) == [("MG-SEND-010", "MATRIXGEN_SMTP_SECURITY")]
    assert result.settings.port == 25


def test_settings__unknown_key__warned_not_fatal(tmp_path):
    f = tmp_path / "matrixgen.toml"
    f.write_text('[mail]\nsmtp_hots = "x"\n')
    result = load_settings(f, env=ENV)
    assert result.valid and codes(result) == [("MG-SEND-007", "matrixgen.toml: mail.smtp_hots")]


# --- throttle ------------------------------------------------------------------------------------------------


def test_throttle__spaces_messages_evenly():
    now = [100.0]
    slept: list[float] = []

    def sleep(seconds):
        slept.append(seconds)
        now[0] += seconds

    t = Throttle(30, clock=lambda: now[0], sleep=sleep)  # one every 2 s
    t.wait()
    now[0] += 0.5
    t.wait()
    now[0] += 3
    t.wait()
    assert slept == [1.5]


def test_throttle__real_smtp_batch_takes_at_least_the_intervals(mail_server, issued, log):
    import time
    server = mail_server()
    start = time.monotonic()
    run(blanks(issued), settings_for(server, throttle=600), log)  # one every 0.1 s
    assert time.monotonic() - start >= 0.2 and len(server.inbox.received) == 3
