"""The demo's mailbox: a round's simulated returns as the office's mailbox would hold them,
exported as an mbox file, then collected from it as `matrixgen collect --from` does.

Each partnership's roster contact sends its file (a partnership with no contact on the roster
sends from an address the office does not know); the odd ones real mailboxes hold come too: one
contact forwards a colleague's message with the workbook, and one contact's out-of-office answers
the blank the office sent. Receipts are written to the round's outbox, not sent.
"""

from __future__ import annotations

import mailbox
from datetime import datetime, timezone
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Sequence

from .files import private_dir
from .mail import OutboxTransport, Settings, outbox_folder
from .mail.collect import CollectResult, Receipts, collect
from .mail.sources import ExportedMail
from .roster import Partnership
from .rubric import Rubric
from .simulate import Returned
from .store import Store

XLSX = ("application", "vnd.openxmlformats-officedocument.spreadsheetml.sheet")
OFFICE = "sectors@example.org"
FORWARDS = {"CE-LOG": "logistics.analyst@crossroads.example"}  # whose contact forwards a colleague's email
OUT_OF_OFFICE = ("EC-AM",)  # whose contact's out-of-office answers the blanks email


def returns_as_mbox(returned: Sequence[Returned], partnerships: Sequence[Partnership], label: str,
                    path: Path) -> Path:
    """Write the round's returns as an mbox file, each message dated when its file arrived."""
    contacts = {p.id: p for p in partnerships}
    private_dir(path.parent)
    box = mailbox.mbox(path, create=True)
    try:
        for r in sorted(returned, key=lambda r: r.path.stat().st_mtime):
            p = contacts[r.partnership_id]
            when = datetime.fromtimestamp(r.path.stat().st_mtime, timezone.utc)
            sender = f"{p.contact_name} <{p.contact_email}>" if p.contact_email else \
                f"{p.name} <{p.id.lower()}-convener@partners.example>"
            data = r.path.read_bytes()
            if r.partnership_id in FORWARDS:
                inner = _message(f"Colleague <{FORWARDS[r.partnership_id]}>", p.contact_email or OFFICE,
                                 f"Self-assessment {label}, filled in", when, "Here it is, filled in.", r.path.name, data)
                msg = _message(sender, OFFICE, f"Fwd: Self-assessment {label}, filled in", when,
                               "Forwarding our workbook, which my colleague filled in.")
                msg.add_attachment(inner)
            else:
                msg = _message(sender, OFFICE, f"Self-assessment {label}: {p.name}", when,
                               "Please find our workbook attached.", r.path.name, data)
            box.add(msg.as_bytes())
        for pid in OUT_OF_OFFICE:
            p = contacts[pid]
            when = datetime(int(label[:4]), 1, 16, 8, 0, tzinfo=timezone.utc)
            msg = _message(f"{p.contact_name} <{p.contact_email}>", OFFICE,
                           f"Automatic reply: Your self-assessment workbook, round {label}", when,
                           "I am out of the office until Monday and will reply when I return.")
            msg["Auto-Submitted"] = "auto-replied"
            box.add(msg.as_bytes())
        box.flush()
    finally:
        box.close()
    path.chmod(0o600)
    return path


def _message(sender: str, to: str, subject: str, when: datetime, text: str, name: str = "",
             data: bytes = b"") -> EmailMessage:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, to, subject
    msg["Date"] = format_datetime(when)
    msg["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2].rstrip(">"))
    msg.set_content(text)
    if data:
        msg.add_attachment(data, maintype=XLSX[0], subtype=XLSX[1], filename=name)
    return msg


def collect_round(path: Path, store: Store, rubric: Rubric, key: bytes, out: Path, settings: Settings) -> CollectResult:
    """Collect the exported mailbox into the store; receipts go to the outbox as .eml files."""
    source = ExportedMail(path)
    source.open()
    try:
        transport = OutboxTransport(outbox_folder(out, path.parent.name), "receipts")
        return collect(source, store, rubric, key, out, receipts=Receipts(settings, transport, write_only=True),
                       workers=0)
    finally:
        source.close()


def mail_step(label: str, collected: CollectResult, mbox: Path, out: Path) -> tuple[str, str]:
    counts = ", ".join(f"{n} {outcome}" for outcome, n in collected.counts().items())
    receipts = sum(1 for m in collected.messages if m.receipt == "written")
    return (f"round {label}: collected {len(collected.messages)} messages from the mailbox ({counts}); "
            f"{receipts} receipts written to the outbox", str(mbox))
