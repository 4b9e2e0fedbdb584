"""One email message from a planned item and its rendered text, with its attachment checked."""

from __future__ import annotations

import hashlib
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import format_datetime, make_msgid

from ..errors import Problem, problem
from .plan import Planned
from .settings import Settings
from .templates import Rendered, Round

MIME = {".xlsx": ("application", "vnd.openxmlformats-officedocument.spreadsheetml.sheet"), ".pdf": ("application", "pdf")}
ATTACHMENT_FIX = {
    "blanks": "generate the workbooks again, then send again",
    "reports": "render the report again with matrixgen report",
    "reminders": "generate the workbooks again",
}


class ComposeProblem(Exception):
    def __init__(self, found: Problem):
        super().__init__(str(found))
        self.problem = found


def compose(item: Planned, rendered: Rendered, settings: Settings, rnd: Round, message_id: str,
            now: datetime) -> tuple[EmailMessage, str]:
    """The message and the sha256 of its attachment ("" without one). The attachment is read
    here, once, and must still be the file that was recorded.
    """
    msg = EmailMessage(policy=SMTP_POLICY)
    msg["From"] = settings.mail_from
    msg["To"] = Address(item.partnership.contact_name, addr_spec=item.recipient)
    if settings.reply_to:
        msg["Reply-To"] = settings.reply_to
    msg["Subject"] = rendered.subject
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = message_id
    # So that staff can filter the Sent folder and replies by partnership.
    msg["X-Matrixgen-Round"] = rnd.label
    msg["X-Matrixgen-Kind"] = item.kind
    msg["X-Matrixgen-Partnership"] = item.partnership.id
    if item.reply is not None:
        if item.reply.message_id:
            msg["In-Reply-To"] = item.reply.message_id
            msg["References"] = item.reply.references or item.reply.message_id
        # An automatic answer (RFC 3834): the sender's auto-responder must not answer it back.
        msg["Auto-Submitted"] = "auto-replied"
        msg["X-Auto-Response-Suppress"] = "All"
    msg.set_content(rendered.text)
    if rendered.html is not None:
        msg.add_alternative(rendered.html, subtype="html")
    sha = ""
    if item.attachment is not None:
        path = item.attachment.path
        fix = ATTACHMENT_FIX[item.kind]
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ComposeProblem(problem("MG-SEND-031", f"{item.partnership.id}", path=path,
                                         reason=exc.strerror or str(exc), fix=fix)) from exc
        sha = hashlib.sha256(data).hexdigest()
        if item.attachment.sha256 and sha != item.attachment.sha256:
            raise ComposeProblem(problem("MG-SEND-032", f"{item.partnership.id}", path=path, found=sha,
                                         expected=item.attachment.sha256, fix=fix))
        maintype, subtype = MIME.get(path.suffix.lower(), ("application", "octet-stream"))
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=path.name)
    return msg, sha


def new_message_id(settings: Settings, item: Planned) -> str:
    # Short enough that the header is never folded: some mail tools match folded ids badly.
    # The partnership and kind travel in the X-Matrixgen-* headers instead.
    domain = settings.sender.rpartition("@")[2] or "matrixgen.invalid"
    return make_msgid(domain=domain)
