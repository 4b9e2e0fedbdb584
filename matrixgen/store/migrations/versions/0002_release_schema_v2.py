"""Schema version 2: round due dates, where issued workbooks were written, rendered reports, the send log."""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None
summary = "round due dates, rendered reports and the email log"


def upgrade() -> None:
    op.add_column("rounds", sa.Column("due", sa.Text, nullable=False, server_default=""))
    op.add_column("issued_workbooks", sa.Column("path", sa.Text, nullable=False, server_default=""))
    op.create_table(
        "reports",
        sa.Column("pk", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("round_label", sa.String(40), nullable=False),
        sa.Column("partnership_id", sa.String(40), nullable=False),
        sa.Column("path", sa.Text, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("rendered_at", sa.String(20), nullable=False),
    )
    op.create_index("ix_reports_round_partnership", "reports", ["round_label", "partnership_id"])
    op.create_table(
        "sent_messages",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("round", sa.String(40), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("partnership_id", sa.String(40), nullable=False),
        sa.Column("ref", sa.String(80), nullable=False),
        sa.Column("recipient", sa.Text, nullable=False),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("attachment_name", sa.Text, nullable=False),
        sa.Column("attachment_sha256", sa.String(64), nullable=False),
        sa.Column("message_id", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("error_code", sa.String(16), nullable=False),
        sa.Column("error", sa.Text, nullable=False),
        sa.Column("started_at", sa.String(20), nullable=False),
        sa.Column("finished_at", sa.String(20), nullable=False),
    )
    op.create_index("ix_sent_messages_message", "sent_messages", ["round", "kind", "partnership_id", "ref"])
