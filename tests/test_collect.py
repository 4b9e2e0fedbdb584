"""Collecting returns from a real Dovecot mailbox into the store, with receipts to a real SMTP server."""

from __future__ import annotations

import io
import mailbox as mailboxes
import zipfile
from email import message_from_bytes, policy

import pytest

from conftest import ALPHA, BETA, CROWD, KEY, RUBRIC, all_answers, upto
from imapserver import append, imap_server, mailbox, message, start_own  # noqa: F401  (fixtures)
from mailserver import mail_server, tls_ca  # noqa: F401  (fixtures)
from matrixgen.mail import Settings, SmtpTransport, SqlSendLog
from matrixgen.mail.collect import Receipts, collect
from matrixgen.mail.imap import KEYWORD, ImapSource
from matrixgen.mail.inbox import Inbox
from matrixgen.mail.settings import load_imap_settings
from matrixgen.mail.sources import ExportedMail
from matrixgen.simulate import fill
from matrixgen.status import round_status
from matrixgen.store import Store

ROSTER = (ALPHA, BETA, *CROWD)


@pytest.fixture
def store(tmp_path):
    s = Store.open(tmp_path / "store.db", tmp_path)
    s.open_round("2026", ROSTER, due="March 31, 2027")
    yield s
    s.close()


@pytest.fixture
def smtp(mail_server):
    return mail_server()


def office(smtp) -> Settings:
    return Settings(mail_from="Sector Team <sectors@example.org>", host="127.0.0.1", port=smtp.port, security="none")


def run(source, store, tmp_path, smtp=None, **options):
    receipts = Receipts(office(smtp), SmtpTransport(office(smtp))) if smtp is not None else None
    options.setdefault("workers", 0)
    return collect(source, store, RUBRIC, KEY, tmp_path, receipts=receipts, **options)


def imap(imap_server, security: str = "none", **extra):
    source = ImapSource(load_imap_settings(env=imap_server.env(security, **extra)).settings)
    notes = source.open()
    return source, notes


def collect_imap(imap_server, store, tmp_path, smtp=None, **options):
    source, notes = imap(imap_server)
    try:
        result = run(source, store, tmp_path, smtp, **options)
    finally:
        source.close()
    result.notes[:0] = notes
    return result


@pytest.fixture(scope="module")
def returns(crowd, issued):
    """Filled workbooks: ALPHA's and BETA's, and each of CROWD's, up to a stage that varies."""
    stages = ("exploring", "emerging", "operational")
    return {"alpha": fill(issued["alpha"], all_answers()), "beta": fill(issued["beta"], upto("emerging")),
            **{p.id: fill(data, upto(stages[i % 3])) for i, (p, data) in enumerate(zip(CROWD, crowd))}}


def folder_uids(client, folder: str) -> list[int]:
    client.select_folder(folder)
    return client.search("ALL")


# --- a round by email -----------------------------------------------------------------------------


def test_collect__a_whole_round__stored_answered_and_moved(imap_server, mailbox, store, smtp, returns, tmp_path):
    append(mailbox, [message(f"{p.contact_name} <{p.contact_email}>", [(f"{p.id}_workbook.xlsx", returns[p.id])])
                     for p in CROWD])
    result = collect_imap(imap_server, store, tmp_path, smtp)
    assert result.ok and result.counts() == {"scored": len(CROWD)} and result.moved == len(CROWD)
    status = round_status(store, "2026")
    assert {r.partnership_id for r in status.rows if r.status == "scored"} == {p.id for p in CROWD}
    assert sorted(r.rcpt_tos[0] for r in smtp.inbox.received) == sorted(p.contact_email for p in CROWD)
    assert folder_uids(mailbox, "INBOX") == [] and len(folder_uids(mailbox, "matrixgen/processed")) == len(CROWD)
    first = next(r.message for r in smtp.inbox.received if r.rcpt_tos == [CROWD[0].contact_email])
    assert first["In-Reply-To"] and first["Auto-Submitted"] == "auto-replied"
    assert "Overall stage: Exploring" in first.get_body(("plain",)).get_content()
    records = Inbox(store.engine).messages()
    assert all(r.uidvalidity and r.uid and r.message_id and len(r.sha256) == 64 and r.moved_at for r in records)
    assert all((tmp_path / "archive" / "mail" / f"{r.sha256}.eml").exists() for r in records)


def test_collect__run_again__no_new_receipts_and_nothing_new_stored(imap_server, mailbox, store, smtp, returns, tmp_path):
    append(mailbox, [message(ALPHA.contact_email, [("NE-IT.xlsx", returns["alpha"])])])
    collect_imap(imap_server, store, tmp_path, smtp)
    # Staff put the processed message back into the inbox: it is recognised, and only moved again.
    mailbox.select_folder("matrixgen/processed")
    mailbox.move(mailbox.search("ALL"), "INBOX")
    again = collect_imap(imap_server, store, tmp_path, smtp)
    assert [m.outcome for m in again.messages] == ["done before"]
    assert len(smtp.inbox.received) == 1 and len(store.submissions("2026")) == 1
    assert len(Inbox(store.engine).messages()) == 1 and folder_uids(mailbox, "INBOX") == []


def test_collect__incomplete_and_rejected__each_problem_at_its_cell(imap_server, mailbox, store, smtp, issued, tmp_path):
    answers = all_answers()
    answers["EE-2"] = ("Mett", "")
    del answers["OC-3"]
    incomplete = fill(issued["alpha"], answers)
    append(mailbox, [message(ALPHA.contact_email, [("NE-IT.xlsx", incomplete)]),
                     message(BETA.contact_email, [("WC-AG.pdf", b"%PDF-1.7\n%%EOF\n")])])
    result = collect_imap(imap_server, store, tmp_path, smtp)
    assert [m.outcome for m in result.messages] == ["incomplete", "rejected"]
    text = {r.rcpt_tos[0]: r.message.get_body(("plain",)).get_content() for r in smtp.inbox.received}
    assert "Assessment!E" in text[ALPHA.contact_email] and "'Mett' is not an answer for EE-2" in text[ALPHA.contact_email]
    assert "this is a PDF" in text[BETA.contact_email]
    assert round_status(store, "2026").returns["WC-AG"].status == "rejected"  # attributed to its sender


def test_collect__from_another_partnerships_contact__waits_in_review(imap_server, mailbox, store, smtp, returns, tmp_path):
    append(mailbox, [message(BETA.contact_email, [("NE-IT.xlsx", returns["alpha"])])])
    result = collect_imap(imap_server, store, tmp_path, smtp)
    assert [m.outcome for m in result.messages] == ["review"]
    item = store.review_items("2026")[0]
    assert item.reason_code == "MG-REVIEW-003" and item.message.sender == BETA.contact_email
    body = smtp.inbox.received[0].message.get_body(("plain",)).get_content()
    assert "We will check it and get back to you" in body and "Overall stage" not in body and ALPHA.name not in body


def test_collect__unknown_sender__waits_in_review(imap_server, mailbox, store, smtp, returns, tmp_path):
    append(mailbox, [message("someone@elsewhere.example", [("NE-IT.xlsx", returns["alpha"])])])
    collect_imap(imap_server, store, tmp_path, smtp)
    item = store.review_items("2026")[0]
    assert (item.reason_code, item.suggested_partnership.partnership_id) == ("MG-REVIEW-010", "NE-IT")
    assert round_status(store, "2026").returns["NE-IT"].status == "in review"


def test_collect__no_attachment__review_with_its_text_and_the_partnership_still_owes(imap_server, mailbox, store, smtp,
                                                                                      tmp_path):
    append(mailbox, [message(ALPHA.contact_email, text="We will send it next week.", subject="Question")])
    collect_imap(imap_server, store, tmp_path, smtp)
    item = store.review_items("2026")[0]
    assert item.reason_code == "MG-REVIEW-011" and item.submission is None
    assert item.message.text == "We will send it next week." and item.suggested_partnership.partnership_id == "NE-IT"
    assert item.file == f"email from {ALPHA.contact_email}"
    assert round_status(store, "2026").returns["NE-IT"].status == "not returned"
    assert "no workbook attached" in smtp.inbox.received[0].message.get_body(("plain",)).get_content()
    store.decide(item.pk, "reject", by="staff", reason="answered by phone")
    assert store.review_items("2026") == []


def test_collect__forwarded_workbook__scored_for_the_forwarding_contact(imap_server, mailbox, store, smtp, returns,
                                                                       tmp_path):
    inner = message("colleague@three-rivers.example", [("NE-IT.xlsx", returns["alpha"])])
    outer = message(ALPHA.contact_email, subject="Fwd: workbook")
    outer.add_attachment(inner)
    append(mailbox, [outer])
    result = collect_imap(imap_server, store, tmp_path, smtp)
    assert [m.outcome for m in result.messages] == ["scored"]
    assert round_status(store, "2026").returns["NE-IT"].status == "scored"


def test_collect__zip_of_workbooks__each_scored(imap_server, mailbox, store, smtp, returns, tmp_path):
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("P-01_workbook.xlsx", returns["P-01"])
        z.writestr("notes/readme.txt", "hello")
    append(mailbox, [message(CROWD[0].contact_email, [("returns.zip", out.getvalue())])])
    result = collect_imap(imap_server, store, tmp_path, smtp)
    assert result.messages[0].files == (("returns.zip/P-01_workbook.xlsx", "scored"), ("returns.zip/readme.txt", "rejected"))


# --- machines -------------------------------------------------------------------------------------------


def test_collect__auto_replies_and_lists__recorded_never_answered(imap_server, mailbox, store, smtp, tmp_path):
    append(mailbox, [message(ALPHA.contact_email, subject="Out of Office: Your workbook", headers={"Auto-Submitted": "auto-replied"}),
                     message(ALPHA.contact_email, subject="Automatic reply: Your workbook"),
                     message("news@lists.example.org", headers={"List-Id": "<news.lists.example.org>"})])
    result = collect_imap(imap_server, store, tmp_path, smtp)
    assert [m.outcome for m in result.messages] == ["ignored"] * 3 and smtp.inbox.received == []
    assert folder_uids(mailbox, "INBOX") == []


def test_collect__dsn_for_one_of_our_messages__recorded_as_bounced(imap_server, mailbox, store, smtp, tmp_path):
    from test_incoming import dsn
    from matrixgen.mail import Record, SENT

    log = SqlSendLog(store.engine)
    sent = log.finish(log.begin(Record("2026", "blanks", "NE-IT", "", ALPHA.contact_email, message_id="<ours-1@example.org>")),
                      SENT)
    append(mailbox, [dsn("<ours-1@example.org>", ALPHA.contact_email).as_bytes(),
                     dsn("<not-ours@example.org>", "x@example.org").as_bytes()])
    result = collect_imap(imap_server, store, tmp_path, smtp)
    assert [m.outcome for m in result.messages] == ["bounce", "ignored"] and smtp.inbox.received == []
    record = log.last("2026", "blanks", "NE-IT", "")
    assert (record.id, record.status, record.error_code) == (sent.id, "bounced", "MG-MAIL-062")
    status = round_status(store, "2026")
    row = next(r for r in status.rows if r.partnership_id == "NE-IT")
    assert row.bouncing == ALPHA.contact_email and "550 5.1.1" in row.bounce_reason
    from matrixgen.cli.rounds import format_status

    assert (f"Contact address bouncing (correct contact_email in the roster, then `matrixgen round open` it again): "
            f"NE-IT {ALPHA.contact_email}") in format_status(status).splitlines()
    # Not sent to the bouncing address again, until the roster says another one.
    from matrixgen.mail import FAILED, OutboxTransport, Planned, Round, send_batch

    again = send_batch(Round("2026"), [Planned("blanks", ALPHA)], office(smtp), log,
                       OutboxTransport(tmp_path / "outbox", "blanks"))
    assert [(o.status, o.problem.code) for o in again.outcomes] == [(FAILED, "MG-MAIL-067")]


# --- hostile mail, through the whole path ---------------------------------------------------------------


def test_collect__hostile_messages__each_refused_with_its_reason_and_the_next_goes_on(imap_server, mailbox, store, smtp,
                                                                                    returns, tmp_path):
    from matrixgen.mail.incoming import MailLimits

    deep = message(ALPHA.contact_email, [("NE-IT.xlsx", returns["alpha"])])
    for _ in range(7):
        outer = message(ALPHA.contact_email)
        outer.add_attachment(deep)
        deep = outer
    big = message(BETA.contact_email, [("WC-AG.xlsx", returns["beta"] + bytes(500_000))])
    append(mailbox, [big, message(ALPHA.contact_email, [(f"{i}.xlsx", b"x") for i in range(25)]), deep,
                     b"X-Pad: " + b"a" * 300_000 + b"\r\n" + message(ALPHA.contact_email).as_bytes(),
                     message(CROWD[0].contact_email, [("../../P-01.xlsx", returns["P-01"])]),
                     message(CROWD[1].contact_email, [("P-02.xlsx", returns["P-02"])])])
    result = collect_imap(imap_server, store, tmp_path, smtp, limits=MailLimits(max_bytes=400_000))
    assert [(m.outcome, m.reason[:20]) for m in result.messages][-1] == ("scored", "")
    codes = [r.reason_code for r in Inbox(store.engine).messages()]
    assert codes == ["MG-MAIL-040", "MG-MAIL-041", "MG-MAIL-042", "MG-MAIL-043", "MG-MAIL-046", ""]
    # Each sender is told why; but a header too big to read hides who sent it, so that one goes unanswered.
    assert len(smtp.inbox.received) == 5
    assert folder_uids(mailbox, "INBOX") == []


# --- once and only once ---------------------------------------------------------------------------------


def test_collect__uidvalidity_changes__messages_recognised_by_message_id(imap_server, mailbox, store, smtp, returns,
                                                                         tmp_path):
    first, second = (message(ALPHA.contact_email, [("NE-IT.xlsx", returns["alpha"])]),
                     message(BETA.contact_email, [("WC-AG.xlsx", returns["beta"])]))
    mailbox.create_folder("Returns")
    append(mailbox, [first], "Returns")
    source, _ = imap(imap_server, MATRIXGEN_IMAP_FOLDER="Returns")
    run(source, store, tmp_path, smtp)
    source.close()
    # The server renumbers the folder (a migration, a restore): the first message is back, under a new UIDVALIDITY.
    mailbox.delete_folder("Returns")
    mailbox.create_folder("Returns")
    append(mailbox, [first, second], "Returns")
    source, _ = imap(imap_server, MATRIXGEN_IMAP_FOLDER="Returns")
    result = run(source, store, tmp_path, smtp)
    source.close()
    assert [n.code for n in result.notes] == ["MG-MAIL-026"]
    assert [m.outcome for m in result.messages] == ["done before", "scored"]
    assert len(smtp.inbox.received) == 2 and len(store.submissions("2026")) == 2


def test_collect__server_without_move__flagged_and_not_taken_again(store, smtp, returns, tmp_path):
    caps = ("IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE SORT THREAD=REFERENCES MULTIAPPEND UNSELECT CHILDREN "
            "NAMESPACE UIDPLUS LIST-EXTENDED I18NLEVEL=1 CONDSTORE QRESYNC ESEARCH SEARCHRES WITHIN LIST-STATUS LITERAL+")
    server, stop = start_own(MATRIXGEN_CI_DOVECOT_CAPABILITY=caps)
    if server is None:
        pytest.skip(f"no Dovecot to start: {stop}")
    try:
        client = server.client()
        append(client, [message(ALPHA.contact_email, [("NE-IT.xlsx", returns["alpha"])])])
        source, notes = imap(server)
        assert not source.can_move and [n.code for n in notes] == ["MG-MAIL-027"]
        run(source, store, tmp_path, smtp)
        again = run(source, store, tmp_path, smtp)
        source.close()
        client.select_folder("INBOX")
        flags = client.get_flags(client.search("ALL"))
        assert again.messages == [] and all({b"\\Seen", KEYWORD.encode()} <= set(f) for f in flags.values())
        assert len(smtp.inbox.received) == 1
        client.logout()
    finally:
        stop()


def test_collect__over_limit__the_rest_waits_for_the_next_run(imap_server, mailbox, store, smtp, returns, tmp_path):
    append(mailbox, [message(p.contact_email, [(f"{p.id}.xlsx", returns[p.id])]) for p in CROWD[:5]])
    first = collect_imap(imap_server, store, tmp_path, smtp, limit=2)
    assert (len(first.messages), first.held) == (2, 3)
    second = collect_imap(imap_server, store, tmp_path, smtp)
    assert len(second.messages) == 3 and len(smtp.inbox.received) == 5


def test_collect__dry_run__nothing_stored_answered_or_moved(imap_server, mailbox, store, smtp, returns, tmp_path):
    append(mailbox, [message(ALPHA.contact_email, [("NE-IT.xlsx", returns["alpha"])]),
                     message(ALPHA.contact_email, headers={"Auto-Submitted": "auto-replied"})])
    result = collect_imap(imap_server, store, tmp_path, None, dry_run=True)
    assert [m.outcome for m in result.messages] == ["would score", "would ignore"]
    assert Inbox(store.engine).messages() == [] and store.submissions() == [] and len(folder_uids(mailbox, "INBOX")) == 2
    mailbox.select_folder("INBOX")
    assert all(b"\\Seen" not in f for f in mailbox.get_flags(mailbox.search("ALL")).values())


def test_collect__tls_with_the_office_ca__works(imap_server, mailbox, store, returns, tmp_path):
    append(mailbox, [message(ALPHA.contact_email, [("NE-IT.xlsx", returns["alpha"])])])
    source, _ = imap(imap_server, "ssl")
    result = run(source, store, tmp_path)
    source.close()
    assert [m.outcome for m in result.messages] == ["scored"]


# --- exported mail --------------------------------------------------------------------------------------


def exported(returns):
    return [message(ALPHA.contact_email, [("NE-IT.xlsx", returns["alpha"])]),
            message(BETA.contact_email, [("WC-AG.xlsx", returns["beta"])]),
            message(ALPHA.contact_email, headers={"Auto-Submitted": "auto-replied"})]


@pytest.mark.parametrize("kind", ["mbox", "maildir", "eml"])
def test_collect__exported_mail__same_path_and_a_rerun_does_nothing(kind, store, smtp, returns, tmp_path):
    messages = exported(returns)
    path = tmp_path / f"export.{kind}"
    if kind == "mbox":
        box = mailboxes.mbox(path)
        for m in messages:
            box.add(m.as_bytes())
        box.close()
    elif kind == "maildir":
        box = mailboxes.Maildir(path)
        for m in messages:
            box.add(m.as_bytes())
    else:
        path.mkdir()
        for i, m in enumerate(messages):
            (path / f"{i}.eml").write_bytes(m.as_bytes())
    first = run(_opened(ExportedMail(path)), store, tmp_path, smtp)
    assert [m.outcome for m in first.messages] == ["scored", "scored", "ignored"]
    again = run(_opened(ExportedMail(path)), store, tmp_path, smtp)
    assert [m.outcome for m in again.messages] == ["done before"] * 3
    assert len(smtp.inbox.received) == 2 and len(store.submissions("2026")) == 2


def _opened(source):
    source.open()
    return source


def test_collect__receipt_threads_under_the_message(imap_server, mailbox, store, smtp, returns, tmp_path):
    sent = message(ALPHA.contact_email, [("NE-IT.xlsx", returns["alpha"])], subject="RE: Re: Your workbook")
    append(mailbox, [sent])
    collect_imap(imap_server, store, tmp_path, smtp)
    receipt = message_from_bytes(smtp.inbox.received[0].data, policy=policy.default)
    assert receipt["In-Reply-To"] == sent["Message-ID"] and receipt["Subject"] == "Re: Your workbook"
    assert receipt["To"] == ALPHA.contact_email
