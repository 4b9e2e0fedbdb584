"""Email out (and, with collect, in): blank workbooks, reminders and reports, and the log of it.

The pipeline for one batch:

1. **plan** (``plan.py``): what the office has (issued workbooks, rendered reports, who returned
   what) becomes ``Planned`` messages. The recipient is always the partnership's own roster
   contact: a planned message has no other address to go to, so one partnership's report cannot
   reach another's contact.
2. **render** (``templates.py``): every subject and body from the Jinja2 templates in
   ``templates/email/`` (an office folder overrides them file by file) before anything is sent,
   so a template mistake stops the batch with nothing half-sent.
3. **send** (``batch.py``): a log record (*sending*) before each message and its update (*sent* /
   *failed*) after (``log.py``). A re-run skips what was sent, retries what failed, and leaves
   alone a message whose run stopped mid-send (it may have gone out). ``transport.py`` talks SMTP
   over one connection per batch, or writes ``.eml`` files to the outbox instead (``--dry-run``).

Settings (``settings.py``) come from the environment and ``matrixgen.toml``; the SMTP password is
only ever read from the environment, is hidden from ``Settings``' repr, and is scrubbed from
server replies before they are kept.
"""

from __future__ import annotations

from .batch import HELD, SKIPPED, UNKNOWN, WRITTEN, Outcome, SendResult, send_batch
from .compose import ComposeProblem, compose, new_message_id
from .log import BOUNCED, FAILED, SENDING, SENT, Record, SendLog, SqlSendLog, utc_now
from .plan import (
    INCOMPLETE, NOT_RETURNED, REJECTED, SCORED, Attachment, Missing, Planned, ReceivedFile, Reply, ReturnState,
    issued_workbooks, only,
    plan_blanks, plan_from_store, plan_reminders, plan_reports, return_states,
)
from .settings import ENV, PASSWORD_ENV, SETTINGS_FILE, Settings, SettingsResult, load_settings
from .templates import TEMPLATES, EmailTemplates, Rendered, Round, TemplateProblem, template_context
from .transport import OutboxTransport, SendFailure, SmtpTransport, Throttle, Transport, outbox_folder

KINDS = ("blanks", "reports", "reminders")  # what `send` sends; `collect` sends "receipts"

__all__ = [
    "BOUNCED", "ENV", "FAILED", "HELD", "INCOMPLETE", "KINDS", "NOT_RETURNED", "PASSWORD_ENV", "REJECTED", "SCORED", "SENDING",
    "SENT", "SETTINGS_FILE", "SKIPPED", "TEMPLATES", "UNKNOWN", "WRITTEN", "Attachment", "ComposeProblem",
    "EmailTemplates", "Missing", "Outcome", "OutboxTransport", "Planned", "ReceivedFile", "Record", "Rendered", "Reply", "ReturnState", "Round",
    "SendFailure", "SendLog", "SendResult", "Settings", "SettingsResult", "SmtpTransport", "SqlSendLog", "TemplateProblem",
    "Throttle", "Transport", "compose", "issued_workbooks", "load_settings", "new_message_id", "only", "outbox_folder",
    "plan_blanks", "plan_from_store", "plan_reminders", "plan_reports", "return_states", "send_batch",
    "template_context", "utc_now",
]
