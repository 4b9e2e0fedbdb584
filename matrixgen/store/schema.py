"""Every table of the store, as the code uses it today (SQLAlchemy Core).

The schema's history is in ``migrations/versions``: each change is an Alembic migration, and a
test checks that the migrations, run from an empty database, arrive at exactly these tables.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, Float, ForeignKey, Index, Integer, MetaData, String, Table, Text

metadata = MetaData()

meta = Table(
    "matrixgen_meta", metadata,
    Column("key", String(40), primary_key=True),
    Column("value", Text, nullable=False),
)
rubric_versions = Table(
    "rubric_versions", metadata,
    Column("hash", String(64), primary_key=True),  # Rubric.content_hash
    Column("rubric_id", String(40), nullable=False),
    Column("version", String(80), nullable=False),
    Column("title", Text, nullable=False),
    Column("canonical_json", Text, nullable=False),  # rebuilds the Rubric: rubric_from_canonical
    Column("recorded_at", String(20), nullable=False),
)
partnerships = Table(
    "partnerships", metadata,
    Column("pk", Integer, primary_key=True, autoincrement=True),
    # The office's id; NULL for a partnership known only by the name typed on a generic blank.
    Column("partnership_id", String(40), unique=True),
    Column("name", Text, nullable=False),
    Column("name_key", Text, nullable=False),  # folded name, to find typed names again
    Column("region", Text, nullable=False, default=""),
    Column("sector", Text, nullable=False, default=""),
    Column("contact_name", Text, nullable=False, default=""),
    Column("contact_email", Text, nullable=False, default=""),
    Column("verified", Boolean, nullable=False),  # issued by the office (signed), not just typed
)
rounds = Table(
    "rounds", metadata,
    Column("label", String(40), primary_key=True),
    Column("created_at", String(20), nullable=False),  # when it was opened
    Column("rubric_hash", String(64), ForeignKey("rubric_versions.hash")),
    Column("due", Text, nullable=False, default=""),  # return-by date, as the office writes it (v2)
    # Rounds are ordered by when they were opened; two opened in the same second keep their order (0003).
    Column("seq", Integer, nullable=False, default=0),
    Column("state", String(10), nullable=False, default="open"),  # open | closed (0003)
    Column("closed_at", String(20), nullable=False, default=""),  # (0003)
)
roster = Table(
    "roster", metadata,
    Column("round_label", String(40), ForeignKey("rounds.label"), primary_key=True),
    Column("partnership_pk", Integer, ForeignKey("partnerships.pk"), primary_key=True),
)
issued = Table(
    "issued_workbooks", metadata,
    Column("sha256", String(64), primary_key=True),
    Column("round_label", String(40), ForeignKey("rounds.label")),  # NULL: a blank issued outside any round (0003)
    Column("partnership_pk", Integer, ForeignKey("partnerships.pk")),  # NULL: a generic blank
    Column("rubric_hash", String(64), ForeignKey("rubric_versions.hash"), nullable=False),
    Column("file_name", Text, nullable=False),
    Column("generated_at", String(20), nullable=False),
    Column("path", Text, nullable=False, default=""),  # where generate wrote it, to send it (v2)
)
submissions = Table(
    "submissions", metadata,
    Column("pk", Integer, primary_key=True, autoincrement=True),
    Column("file_name", Text, nullable=False),
    Column("sha256", String(64), nullable=False, unique=True),
    Column("size", Integer, nullable=False),
    Column("received_at", String(20), nullable=False),  # the file's time in the inbox folder
    Column("scored_at", String(20), nullable=False),
    Column("status", String(12), nullable=False),  # scored | incomplete | rejected
    Column("kind", String(12), nullable=False),  # read.Kind
    Column("identity_source", Text, nullable=False),
    Column("verified", Boolean, nullable=False),
    Column("partnership_pk", Integer, ForeignKey("partnerships.pk")),
    Column("round_label", String(40), ForeignKey("rounds.label")),
    Column("rubric_hash", String(64), ForeignKey("rubric_versions.hash")),
    Column("archive_path", Text, nullable=False),
    Column("is_current", Boolean, nullable=False),
    Column("current_reason", Text, nullable=False),
    Column("respondent_name", Text, nullable=False, default=""),
    Column("respondent_role", Text, nullable=False, default=""),
    Column("respondent_email", Text, nullable=False, default=""),
    Column("completed_on", Text, nullable=False, default=""),
    Column("overall_stage", String(40)),  # NULL: not yet at a stage (or not scored)
    Column("points", Float),
    Column("possible", Float),
    # Who the file says it is from, as written on it: the signed id, or the name typed on a generic
    # blank. Kept apart from partnership_pk, which is who the office attributes it to (0003).
    Column("claimed_id", Text, nullable=False, default=""),
    Column("claimed_name", Text, nullable=False, default=""),
    Index("ix_submissions_partnership_round", "partnership_pk", "round_label"),
)
answers = Table(
    "answers", metadata,
    Column("submission_pk", Integer, ForeignKey("submissions.pk"), primary_key=True),
    Column("criterion_id", String(40), primary_key=True),
    Column("raw", Text, nullable=False),  # as typed
    Column("answer", Text),  # the scale label it means; NULL when blank or off the scale
    Column("points", Float),
    Column("met", Boolean, nullable=False),
    Column("evidence", Text, nullable=False),
    Column("cell", Text, nullable=False),
)
scores = Table(
    "scores", metadata,
    Column("submission_pk", Integer, ForeignKey("submissions.pk"), primary_key=True),
    Column("dimension_id", String(40), primary_key=True),  # '' = overall
    Column("stage_id", String(40)),
    Column("next_stage_id", String(40)),
    Column("next_steps", Text, nullable=False),  # JSON list of criterion ids
    Column("points", Float, nullable=False),
    Column("possible", Float, nullable=False),
)
problems = Table(
    "problems", metadata,
    Column("submission_pk", Integer, ForeignKey("submissions.pk"), primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("code", String(20), nullable=False),
    Column("severity", String(10), nullable=False),
    Column("location", Text, nullable=False),
    Column("message", Text, nullable=False),
)

# Reports as rendered: the latest per round and partnership is the one `send reports` attaches (v2).
reports = Table(
    "reports", metadata,
    Column("pk", Integer, primary_key=True, autoincrement=True),
    Column("round_label", String(40), nullable=False),
    Column("partnership_id", String(40), nullable=False),
    Column("path", Text, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("rendered_at", String(20), nullable=False),
    Index("ix_reports_round_partnership", "round_label", "partnership_id"),
)
# Every message mail/batch.py sent or tried to (v2). A log: no foreign keys, so that it can always
# record what happened, and ids rather than pks, so that it reads on its own in an audit.
sent_messages = Table(
    "sent_messages", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("round", String(40), nullable=False),
    Column("kind", String(16), nullable=False),  # blanks | reminders | reports
    Column("partnership_id", String(40), nullable=False),
    Column("ref", String(80), nullable=False),  # what distinguishes this message from an earlier one of its kind
    Column("recipient", Text, nullable=False),
    Column("subject", Text, nullable=False),
    Column("attachment_name", Text, nullable=False),
    Column("attachment_sha256", String(64), nullable=False),
    Column("message_id", Text, nullable=False),
    Column("status", String(16), nullable=False),  # sending | sent | failed
    Column("error_code", String(16), nullable=False),
    Column("error", Text, nullable=False),
    Column("started_at", String(20), nullable=False),
    Column("finished_at", String(20), nullable=False),
    Index("ix_sent_messages_message", "round", "kind", "partnership_id", "ref"),
)

# Returns that need a person: matched to no partnership or round, or failing a cross-check (0003).
# An item is decided by assigning, accepting or rejecting it; every decision is kept in
# review_decisions with who and when, and can be undone.
review_items = Table(
    "review_items", metadata,
    Column("pk", Integer, primary_key=True, autoincrement=True),
    Column("submission_pk", Integer, ForeignKey("submissions.pk")),  # NULL: nothing scored (e.g. a message)
    Column("round_label", String(40)),  # the round it arrived in, when known
    Column("reason_code", String(20), nullable=False),
    Column("reason", Text, nullable=False),
    Column("suggested_partnership_pk", Integer, ForeignKey("partnerships.pk")),
    Column("suggested_round", String(40)),
    Column("received_at", String(20), nullable=False),
    Column("created_at", String(20), nullable=False),
    Column("state", String(12), nullable=False),  # waiting | assigned | accepted | rejected
    Column("decided_partnership_pk", Integer, ForeignKey("partnerships.pk")),
    Column("decided_round", String(40)),
    Column("decision_reason", Text, nullable=False, default=""),
    Column("decided_by", Text, nullable=False, default=""),
    Column("decided_at", String(20), nullable=False, default=""),
    Column("message_pk", Integer, ForeignKey("mail_messages.pk")),  # a message with no file to score (0005)
    Index("ix_review_items_state", "state"),
)
review_decisions = Table(
    "review_decisions", metadata,
    Column("pk", Integer, primary_key=True, autoincrement=True),
    Column("item_pk", Integer, ForeignKey("review_items.pk"), nullable=False),
    Column("action", String(10), nullable=False),  # assign | accept | reject | undo
    Column("partnership_id", String(40)),
    Column("round_label", String(40)),
    Column("reason", Text, nullable=False, default=""),
    Column("decided_by", Text, nullable=False),
    Column("decided_at", String(20), nullable=False),
    # What undoing this decision restores (JSON): the submission's links and the current flags it changed.
    Column("before", Text, nullable=False, default="{}"),
)

# The staff web app (0004). People are named by email in the audit log and on jobs, not by a
# foreign key: removing a user keeps the record of what they did.
web_users = Table(
    "web_users", metadata,
    Column("pk", Integer, primary_key=True, autoincrement=True),
    Column("email", String(254), nullable=False, unique=True),  # folded to lower case
    Column("role", String(10), nullable=False),  # staff | viewer
    Column("password_hash", Text, nullable=False),  # argon2id, with its parameters and salt
    Column("created_at", String(20), nullable=False),
)
web_sessions = Table(
    "web_sessions", metadata,
    # sha256 of the random token in the signed cookie: a copy of the store cannot sign anyone in.
    Column("token_hash", String(64), primary_key=True),
    Column("user_pk", Integer, ForeignKey("web_users.pk"), nullable=False),
    Column("created_at", String(20), nullable=False),
    Column("expires_at", String(20), nullable=False),
    Column("address", Text, nullable=False, default=""),
    Index("ix_web_sessions_user", "user_pk"),
)
# Every sign-in attempt, for the rate limit per account and per address.
web_signins = Table(
    "web_signins", metadata,
    Column("pk", Integer, primary_key=True, autoincrement=True),
    Column("at", String(20), nullable=False),
    Column("email", Text, nullable=False),
    Column("address", Text, nullable=False),
    Column("ok", Boolean, nullable=False),
    Index("ix_web_signins_at", "at"),
)
# Every change made in the web app: who, what, when.
web_audit = Table(
    "web_audit", metadata,
    Column("pk", Integer, primary_key=True, autoincrement=True),
    Column("at", String(20), nullable=False),
    Column("user_email", Text, nullable=False),
    Column("action", String(40), nullable=False),
    Column("target", Text, nullable=False, default=""),
    Column("detail", Text, nullable=False, default=""),
)
# Long work started from the web app, with its progress, so that it survives the page closing.
web_jobs = Table(
    "web_jobs", metadata,
    Column("pk", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(20), nullable=False),  # upload | issue | send-blanks | ... | reports
    Column("round_label", String(40)),
    Column("started_by", Text, nullable=False),
    Column("started_at", String(20), nullable=False),
    Column("finished_at", String(20), nullable=False, default=""),
    Column("state", String(12), nullable=False),  # running | done | failed | interrupted
    Column("done", Integer, nullable=False, default=0),
    Column("total", Integer, nullable=False, default=0),
    Column("message", Text, nullable=False, default=""),
    Column("result", Text, nullable=False, default="{}"),  # JSON: what the job's page shows when it is done
)
# Mail in (0005): every message collected, once. A message is known by its mailbox, UIDVALIDITY and
# UID, else by its Message-ID (and sender), else by the sha256 of its raw bytes; it is recorded
# before anything is done with it and again after each step, so a killed run picks up where it was.
mail_messages = Table(
    "mail_messages", metadata,
    Column("pk", Integer, primary_key=True, autoincrement=True),
    Column("mailbox", Text, nullable=False),  # imap://user@host:port/FOLDER, or the exported file or folder
    Column("uidvalidity", BigInteger),  # IMAP only; unsigned 32-bit, hence BigInteger
    Column("uid", BigInteger),
    Column("message_id", Text, nullable=False, default=""),
    Column("sha256", String(64), nullable=False),  # of the raw message, archived as <data>/archive/mail/<sha256>.eml
    Column("size", Integer, nullable=False),
    Column("sender", Text, nullable=False, default=""),  # the From address, '' when there is not exactly one
    Column("sender_name", Text, nullable=False, default=""),
    Column("sent_at", String(20), nullable=False, default=""),  # its Date header, UTC
    Column("received_at", String(20), nullable=False),  # when the office's server received it
    Column("subject", Text, nullable=False, default=""),
    Column("body_text", Text, nullable=False, default=""),  # its text, for the review queue
    Column("archive_path", Text, nullable=False, default=""),
    Column("kind", String(16), nullable=False),  # person | auto-forward | auto-reply | list | report | own
    Column("state", String(12), nullable=False),  # received | processed
    Column("outcome", String(12), nullable=False, default=""),  # scored | incomplete | rejected | review | refused | ignored | bounce
    Column("reason_code", String(20), nullable=False, default=""),
    Column("reason", Text, nullable=False, default=""),
    Column("round_label", String(40)),  # the round it was matched to, which its receipt is logged under
    Column("partnership_id", String(40)),
    Column("answer", Boolean, nullable=False, default=False),  # a receipt is due to the sender
    Column("collected_at", String(20), nullable=False),
    Column("moved_at", String(20), nullable=False, default=""),  # moved to the done folder (or flagged)
    Index("ix_mail_messages_uid", "mailbox", "uidvalidity", "uid"),
    Index("ix_mail_messages_message_id", "message_id"),
    Index("ix_mail_messages_sha256", "sha256"),
)
mail_attachments = Table(
    "mail_attachments", metadata,
    Column("message_pk", Integer, ForeignKey("mail_messages.pk"), primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("file_name", Text, nullable=False),  # as the sender named it
    Column("shown", Text, nullable=False),  # as it was scored and stored: mail-<message pk>/<safe name>
    Column("sha256", String(64), nullable=False, default=""),
    Column("size", Integer, nullable=False, default=0),
    Column("status", String(12), nullable=False, default=""),  # as batch.Outcome, or refused | skipped
    Column("submission_pk", Integer, ForeignKey("submissions.pk")),
    Column("reason_code", String(20), nullable=False, default=""),
    Column("reason", Text, nullable=False, default=""),
)
