"""Reading one raw email: who sent it, what kind of message it is, its files; hostile mail refused."""

from __future__ import annotations

import base64
import io
import zipfile
from email.message import EmailMessage

import pytest

from conftest import all_answers, bad_file
from imapserver import message
from matrixgen.mail.incoming import (
    AUTO_FORWARD, AUTO_REPLY, LIST, OWN, PERSON, REPORT, MailLimits, parse,
)
from matrixgen.simulate import fill

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@pytest.fixture(scope="module")
def workbook(issued):
    return fill(issued["alpha"], all_answers())


def raw_with_part(headers: str, body: bytes) -> bytes:
    return (b"From: Ann <ann@example.org>\r\nTo: sectors@example.org\r\nSubject: ours\r\nMessage-ID: <m1@example.org>\r\n"
            b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\n"
            b"Content-Type: text/plain\r\n\r\nattached\r\n--b\r\n" + headers.encode() + b"\r\n\r\n" + body
            + b"\r\n--b--\r\n")


def test_parse__a_return__sender_subject_and_the_workbook(workbook):
    found = parse(message("Ann Example <Ann@Example.org>", [("NE-IT_Three-Rivers.xlsx", workbook)]).as_bytes())
    assert (found.kind, found.sender, found.sender_name, found.subject) == (PERSON, "Ann@Example.org", "Ann Example",
                                                                             "Our workbook")
    assert [(a.name, a.data, a.problem) for a in found.attachments] == [("NE-IT_Three-Rivers.xlsx", workbook, None)]
    assert found.answered and found.scored and found.sent_at == "2026-03-02T09:00:00Z"


def test_parse__rfc2231_and_rfc2047_names__decoded(workbook):
    body = base64.b64encode(workbook)
    rfc2231 = raw_with_part(f"Content-Type: {XLSX_TYPE}\r\nContent-Transfer-Encoding: base64\r\n"
                            "Content-Disposition: attachment; filename*=UTF-8''%C3%9Cbersicht%20NE-IT.xlsx", body)
    rfc2047 = raw_with_part(f"Content-Type: {XLSX_TYPE}\r\nContent-Transfer-Encoding: base64\r\n"
                            "Content-Disposition: attachment; filename=\"=?UTF-8?B?w5xiZXJzaWNodCBORS1JVC54bHN4?=\"", body)
    assert [a.name for a in parse(rfc2231).attachments] == ["Übersicht NE-IT.xlsx"]
    assert [a.name for a in parse(rfc2047).attachments] == ["Übersicht NE-IT.xlsx"]
    assert parse(rfc2047).attachments[0].data == workbook


def test_parse__forwarded_message__its_workbook_is_taken(workbook):
    inner = message("colleague@example.com", [("NE-IT.xlsx", workbook)])
    outer = message("Ann <ann@example.org>", subject="Fwd: our workbook")
    outer.add_attachment(inner)
    found = parse(outer.as_bytes())
    assert found.sender == "ann@example.org" and [a.name for a in found.attachments] == ["NE-IT.xlsx"]


def test_parse__zip_of_workbooks__each_file_taken(workbook, issued):
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("returns/NE-IT.xlsx", workbook)
        z.writestr("returns/WC-AG.xlsx", issued["beta"])
        z.writestr("__MACOSX/returns/._NE-IT.xlsx", b"x")
    found = parse(message("ann@example.org", [("returns.zip", out.getvalue())]).as_bytes())
    assert [(a.name, a.problem) for a in found.attachments] == [("returns.zip/NE-IT.xlsx", None),
                                                                 ("returns.zip/WC-AG.xlsx", None)]


def test_parse__signature_and_logo__not_files(workbook):
    msg = message("ann@example.org", [("NE-IT.xlsx", workbook)])
    msg.add_attachment(b"\x89PNG....", maintype="image", subtype="png", disposition="inline", cid="<logo@x>")
    msg.add_attachment(b"0\x82...", maintype="application", subtype="pkcs7-signature", filename="smime.p7s")
    assert [a.name for a in parse(msg.as_bytes()).attachments] == ["NE-IT.xlsx"]


@pytest.mark.parametrize("headers, kind", [
    ({"Auto-Submitted": "auto-replied"}, AUTO_REPLY),
    ({"X-Autoreply": "yes"}, AUTO_REPLY),
    ({"Precedence": "bulk"}, AUTO_REPLY),
    ({"List-Id": "<partners.lists.example.org>"}, LIST),
    ({"Auto-Submitted": "auto-forwarded"}, AUTO_FORWARD),
    ({"Auto-Submitted": "no"}, PERSON),
])
def test_parse__machine_headers__never_answered(headers, kind):
    found = parse(message("ann@example.org", headers=headers).as_bytes())
    assert found.kind == kind and found.answered is (kind == PERSON)


def test_parse__out_of_office_subject__an_auto_reply():
    found = parse(message("ann@example.org", subject="Automatic reply: Your workbook").as_bytes())
    assert (found.kind, found.answered) == (AUTO_REPLY, False)


def test_parse__from_our_own_address__never_answered():
    found = parse(message("Sector Team <sectors@example.org>").as_bytes(), own=["sectors@example.org"])
    assert (found.kind, found.answered) == (OWN, False)


def test_parse__delivery_status_report__the_failed_message_and_recipient():
    found = parse(dsn("<ours-1@example.org>", "gone@example.org").as_bytes())
    assert found.kind == REPORT and not found.answered
    assert [(b.message_id, b.recipient, b.status) for b in found.bounces] == [
        ("<ours-1@example.org>", "gone@example.org", "5.1.1")]
    assert "User unknown" in found.bounces[0].diagnostic


def dsn(original_id: str, recipient: str) -> EmailMessage:
    """A delivery-status notification as Postfix writes one (RFC 3464)."""
    raw = (
        "From: MAILER-DAEMON@mx.example.org (Mail Delivery System)\r\nTo: sectors@example.org\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\nMessage-ID: <dsn-1@mx.example.org>\r\n"
        "Auto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n"
        "Content-Type: multipart/report; report-type=delivery-status; boundary=\"r\"\r\n\r\n"
        "--r\r\nContent-Type: text/plain\r\n\r\nI'm sorry to have to inform you that your message could not be delivered.\r\n"
        "--r\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.org\r\n\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\nOriginal-Recipient: rfc822;{recipient}\r\nAction: failed\r\n"
        "Status: 5.1.1\r\nDiagnostic-Code: smtp; 550 5.1.1 <gone@example.org>: User unknown\r\n\r\n"
        "--r\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"From: sectors@example.org\r\nTo: {recipient}\r\nSubject: Your workbook\r\nMessage-ID: {original_id}\r\n\r\n"
        "--r--\r\n")
    from email import message_from_bytes, policy

    return message_from_bytes(raw.encode(), policy=policy.default)


# --- hostile and broken mail: refused with a reason, never a crash ------------------------------------


def test_parse__over_the_size_limit__refused(workbook):
    found = parse(message("ann@example.org", [("NE-IT.xlsx", workbook)]).as_bytes(), limits=MailLimits(max_bytes=10_000))
    assert found.refused.code == "MG-MAIL-040" and found.attachments == () and found.sender == "ann@example.org"


def test_parse__too_many_attachments__refused(workbook):
    found = parse(message("ann@example.org", [(f"{i}.xlsx", b"x") for i in range(21)]).as_bytes())
    assert found.refused.code == "MG-MAIL-041"


def test_parse__nesting_too_deep__refused(workbook):
    msg = message("ann@example.org", [("NE-IT.xlsx", workbook)])
    for _ in range(8):
        outer = message("ann@example.org")
        outer.add_attachment(msg)
        msg = outer
    assert parse(msg.as_bytes()).refused.code == "MG-MAIL-042"


def test_parse__thousands_of_nested_multiparts__refused_not_crashed():
    head = b"From: ann@example.org\r\nSubject: deep\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b0\"\r\n\r\n"
    body = b"".join(b"--b%d\r\nContent-Type: multipart/mixed; boundary=\"b%d\"\r\n\r\n" % (i, i + 1) for i in range(3000))
    found = parse(head + body)
    assert found.refused is not None and found.refused.code in ("MG-MAIL-042", "MG-MAIL-047")


def test_parse__huge_header__refused():
    raw = message("ann@example.org").as_bytes()
    raw = b"X-Padding: " + b"a" * 300_000 + b"\r\n" + raw
    found = parse(raw)
    assert found.refused.code == "MG-MAIL-043"


def test_parse__broken_base64__that_file_refused(workbook):
    raw = raw_with_part(f"Content-Type: {XLSX_TYPE}\r\nContent-Transfer-Encoding: base64\r\n"
                        "Content-Disposition: attachment; filename=\"NE-IT.xlsx\"", b"UEsDBBQ!!!!*&^%$AAAA=A=")
    found = parse(raw)
    assert found.refused is None and [(a.name, a.problem.code) for a in found.attachments] == [("NE-IT.xlsx", "MG-MAIL-044")]


def test_parse__zip_bomb_in_a_zip__refused_unopened():
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("big.xlsx", bytes(200 * 1024 * 1024))  # 200 MB of zeros: ~200 KB deflated
    found = parse(message("ann@example.org", [("returns.zip", out.getvalue())]).as_bytes())
    assert [(a.name, a.problem.code) for a in found.attachments] == [("returns.zip", "MG-MAIL-045")]


def test_parse__zip_bomb_posing_as_a_workbook__left_to_read_py(issued):
    name, data, code = bad_file("zip_bomb", issued)
    found = parse(message("ann@example.org", [(name, data)]).as_bytes())
    assert [(a.name, a.problem) for a in found.attachments] == [(name, None)]  # read.py refuses it: MG-READ-013


@pytest.mark.parametrize("name", ["../../etc/passwd.xlsx", "..\\..\\boot.ini", "/etc/cron.d/x.xlsx", "C:evil.xlsx"])
def test_parse__name_that_escapes_its_folder__refused(name, workbook):
    found = parse(message("ann@example.org", [(name, workbook)]).as_bytes())
    assert [a.problem.code for a in found.attachments] == ["MG-MAIL-046"]


def test_parse__zip_member_that_escapes__refused(workbook):
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("../../evil.xlsx", workbook)
        z.writestr("NE-IT.xlsx", workbook)
    found = parse(message("ann@example.org", [("returns.zip", out.getvalue())]).as_bytes())
    assert [(a.name, a.problem.code if a.problem else None) for a in found.attachments] == [
        ("returns.zip/../../evil.xlsx", "MG-MAIL-046"), ("returns.zip/NE-IT.xlsx", None)]


def test_parse__garbage__refused_or_read_never_raises():
    for raw in (b"", b"\x00" * 100, b"From: \r\n\r\n", b"Content-Type: multipart/mixed\r\n\r\n--\r\n", b"\xff\xfe" * 50):
        found = parse(raw)
        assert found.kind in (PERSON, AUTO_REPLY) and found.answered is False
