"""Mail in: every message collected from the office mailbox (or an exported one), its attachments,
and the review items that are a message rather than a file.

New tables and one new column only, after the web app's 0004."""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None
summary = "collected email: each message once (by UIDVALIDITY and UID, else Message-ID), its attachments and what came of them"


def upgrade() -> None:
    op.create_table(
        "mail_messages",
        sa.Column("pk", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("mailbox", sa.Text, nullable=False),
        sa.Column("uidvalidity", sa.BigInteger),
        sa.Column("uid", sa.BigInteger),
        sa.Column("message_id", sa.Text, nullable=False, server_default=""),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("sender", sa.Text, nullable=False, server_default=""),
        sa.Column("sender_name", sa.Text, nullable=False, server_default=""),
        sa.Column("sent_at", sa.String(20), nullable=False, server_default=""),
        sa.Column("received_at", sa.String(20), nullable=False),
        sa.Column("subject", sa.Text, nullable=False, server_default=""),
        sa.Column("body_text", sa.Text, nullable=False, server_default=""),
        sa.Column("archive_path", sa.Text, nullable=False, server_default=""),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("state", sa.String(12), nullable=False),
        sa.Column("outcome", sa.String(12), nullable=False, server_default=""),
        sa.Column("reason_code", sa.String(20), nullable=False, server_default=""),
        sa.Column("reason", sa.Text, nullable=False, server_default=""),
        sa.Column("round_label", sa.String(40)),
        sa.Column("partnership_id", sa.String(40)),
        sa.Column("answer", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("collected_at", sa.String(20), nullable=False),
        sa.Column("moved_at", sa.String(20), nullable=False, server_default=""),
    )
    op.create_index("ix_mail_messages_uid", "mail_messages", ["mailbox", "uidvalidity", "uid"])
    op.create_index("ix_mail_messages_message_id", "mail_messages", ["message_id"])
    op.create_index("ix_mail_messages_sha256", "mail_messages", ["sha256"])
    op.create_table(
        "mail_attachments",
        sa.Column("message_pk", sa.Integer, sa.ForeignKey("mail_messages.pk"), primary_key=True),
        sa.Column("seq", sa.Integer, primary_key=True),
        sa.Column("file_name", sa.Text, nullable=False),
        sa.Column("shown", sa.Text, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False, server_default=""),
        sa.Column("size", sa.Integer, nullable=False, server_default="0"),
        sa.Column("status", sa.String(12), nullable=False, server_default=""),
        sa.Column("submission_pk", sa.Integer, sa.ForeignKey("submissions.pk")),
        sa.Column("reason_code", sa.String(20), nullable=False, server_default=""),
        sa.Column("reason", sa.Text, nullable=False, server_default=""),
    )
    # Batch mode: SQLite cannot add a column with a foreign key in place, so the table is copied.
    with op.batch_alter_table("review_items") as batch:
        batch.add_column(sa.Column("message_pk", sa.Integer))
        batch.create_foreign_key("fk_review_items_message_pk", "mail_messages", ["message_pk"], ["pk"])
