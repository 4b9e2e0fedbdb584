"""The schema of the first release (schema version 1)."""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None
summary = "the store's first tables"


def upgrade() -> None:
    op.create_table(
        "matrixgen_meta",
        sa.Column("key", sa.String(40), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )
    op.create_table(
        "rubric_versions",
        sa.Column("hash", sa.String(64), primary_key=True),
        sa.Column("rubric_id", sa.String(40), nullable=False),
        sa.Column("version", sa.String(80), nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("canonical_json", sa.Text, nullable=False),
        sa.Column("recorded_at", sa.String(20), nullable=False),
    )
    op.create_table(
        "partnerships",
        sa.Column("pk", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("partnership_id", sa.String(40), unique=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("name_key", sa.Text, nullable=False),
        sa.Column("region", sa.Text, nullable=False),
        sa.Column("sector", sa.Text, nullable=False),
        sa.Column("contact_name", sa.Text, nullable=False),
        sa.Column("contact_email", sa.Text, nullable=False),
        sa.Column("verified", sa.Boolean, nullable=False),
    )
    op.create_table(
        "rounds",
        sa.Column("label", sa.String(40), primary_key=True),
        sa.Column("created_at", sa.String(20), nullable=False),
        sa.Column("rubric_hash", sa.String(64), sa.ForeignKey("rubric_versions.hash")),
    )
    op.create_table(
        "roster",
        sa.Column("round_label", sa.String(40), sa.ForeignKey("rounds.label"), primary_key=True),
        sa.Column("partnership_pk", sa.Integer, sa.ForeignKey("partnerships.pk"), primary_key=True),
    )
    op.create_table(
        "issued_workbooks",
        sa.Column("sha256", sa.String(64), primary_key=True),
        sa.Column("round_label", sa.String(40), sa.ForeignKey("rounds.label"), nullable=False),
        sa.Column("partnership_pk", sa.Integer, sa.ForeignKey("partnerships.pk")),
        sa.Column("rubric_hash", sa.String(64), sa.ForeignKey("rubric_versions.hash"), nullable=False),
        sa.Column("file_name", sa.Text, nullable=False),
        sa.Column("generated_at", sa.String(20), nullable=False),
    )
    op.create_table(
        "submissions",
        sa.Column("pk", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("file_name", sa.Text, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False, unique=True),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("received_at", sa.String(20), nullable=False),
        sa.Column("scored_at", sa.String(20), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("kind", sa.String(12), nullable=False),
        sa.Column("identity_source", sa.Text, nullable=False),
        sa.Column("verified", sa.Boolean, nullable=False),
        sa.Column("partnership_pk", sa.Integer, sa.ForeignKey("partnerships.pk")),
        sa.Column("round_label", sa.String(40), sa.ForeignKey("rounds.label")),
        sa.Column("rubric_hash", sa.String(64), sa.ForeignKey("rubric_versions.hash")),
        sa.Column("archive_path", sa.Text, nullable=False),
        sa.Column("is_current", sa.Boolean, nullable=False),
        sa.Column("current_reason", sa.Text, nullable=False),
        sa.Column("respondent_name", sa.Text, nullable=False),
        sa.Column("respondent_role", sa.Text, nullable=False),
        sa.Column("respondent_email", sa.Text, nullable=False),
        sa.Column("completed_on", sa.Text, nullable=False),
        sa.Column("overall_stage", sa.String(40)),
        sa.Column("points", sa.Float),
        sa.Column("possible", sa.Float),
    )
    op.create_index("ix_submissions_partnership_round", "submissions", ["partnership_pk", "round_label"])
    op.create_table(
        "answers",
        sa.Column("submission_pk", sa.Integer, sa.ForeignKey("submissions.pk"), primary_key=True),
        sa.Column("criterion_id", sa.String(40), primary_key=True),
        sa.Column("raw", sa.Text, nullable=False),
        sa.Column("answer", sa.Text),
        sa.Column("points", sa.Float),
        sa.Column("met", sa.Boolean, nullable=False),
        sa.Column("evidence", sa.Text, nullable=False),
        sa.Column("cell", sa.Text, nullable=False),
    )
    op.create_table(
        "scores",
        sa.Column("submission_pk", sa.Integer, sa.ForeignKey("submissions.pk"), primary_key=True),
        sa.Column("dimension_id", sa.String(40), primary_key=True),
        sa.Column("stage_id", sa.String(40)),
        sa.Column("next_stage_id", sa.String(40)),
        sa.Column("next_steps", sa.Text, nullable=False),
        sa.Column("points", sa.Float, nullable=False),
        sa.Column("possible", sa.Float, nullable=False),
    )
    op.create_table(
        "problems",
        sa.Column("submission_pk", sa.Integer, sa.ForeignKey("submissions.pk"), primary_key=True),
        sa.Column("seq", sa.Integer, primary_key=True),
        sa.Column("code", sa.String(20), nullable=False),
        sa.Column("severity", sa.String(10), nullable=False),
        sa.Column("location", sa.Text, nullable=False),
        sa.Column("message", sa.Text, nullable=False),
    )
