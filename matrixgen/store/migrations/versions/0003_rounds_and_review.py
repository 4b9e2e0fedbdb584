"""Rounds that open and close, in the order they were opened; the review queue; who a file claims to be from.

Returns that the earlier releases stored with no round, or under a partnership known only by a
name typed on a generic blank, become review items: a person decides where they belong, instead
of a stray round or an invented partnership taking them.
"""

from datetime import datetime, timezone

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None
summary = ("rounds can be closed and are ordered by when they were opened (every existing round stays open); "
           "a review queue for returns that need a person")


def upgrade() -> None:
    now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    op.add_column("rounds", sa.Column("seq", sa.Integer, nullable=False, server_default="0"))
    op.add_column("rounds", sa.Column("state", sa.String(10), nullable=False, server_default="open"))
    op.add_column("rounds", sa.Column("closed_at", sa.String(20), nullable=False, server_default=""))
    op.add_column("submissions", sa.Column("claimed_id", sa.Text, nullable=False, server_default=""))
    op.add_column("submissions", sa.Column("claimed_name", sa.Text, nullable=False, server_default=""))
    with op.batch_alter_table("issued_workbooks") as batch:
        batch.alter_column("round_label", existing_type=sa.String(40), nullable=True)
    op.create_table(
        "review_items",
        sa.Column("pk", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("submission_pk", sa.Integer, sa.ForeignKey("submissions.pk")),
        sa.Column("round_label", sa.String(40)),
        sa.Column("reason_code", sa.String(20), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("suggested_partnership_pk", sa.Integer, sa.ForeignKey("partnerships.pk")),
        sa.Column("suggested_round", sa.String(40)),
        sa.Column("received_at", sa.String(20), nullable=False),
        sa.Column("created_at", sa.String(20), nullable=False),
        sa.Column("state", sa.String(12), nullable=False),
        sa.Column("decided_partnership_pk", sa.Integer, sa.ForeignKey("partnerships.pk")),
        sa.Column("decided_round", sa.String(40)),
        sa.Column("decision_reason", sa.Text, nullable=False, server_default=""),
        sa.Column("decided_by", sa.Text, nullable=False, server_default=""),
        sa.Column("decided_at", sa.String(20), nullable=False, server_default=""),
    )
    op.create_index("ix_review_items_state", "review_items", ["state"])
    op.create_table(
        "review_decisions",
        sa.Column("pk", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("item_pk", sa.Integer, sa.ForeignKey("review_items.pk"), nullable=False),
        sa.Column("action", sa.String(10), nullable=False),
        sa.Column("partnership_id", sa.String(40)),
        sa.Column("round_label", sa.String(40)),
        sa.Column("reason", sa.Text, nullable=False, server_default=""),
        sa.Column("decided_by", sa.Text, nullable=False),
        sa.Column("decided_at", sa.String(20), nullable=False),
        sa.Column("before", sa.Text, nullable=False, server_default="{}"),
    )

    conn = op.get_bind()
    rounds = sa.table("rounds", sa.column("label"), sa.column("created_at"), sa.column("seq"))
    for seq, (label,) in enumerate(conn.execute(sa.select(rounds.c.label).order_by(rounds.c.created_at, rounds.c.label)), 1):
        conn.execute(sa.update(rounds).where(rounds.c.label == label).values(seq=seq))

    partnerships = sa.table("partnerships", sa.column("pk"), sa.column("partnership_id"), sa.column("name"),
                            sa.column("verified"))
    subs = sa.table("submissions", sa.column("pk"), sa.column("partnership_pk"), sa.column("round_label"),
                    sa.column("status"), sa.column("is_current"), sa.column("current_reason"), sa.column("received_at"),
                    sa.column("claimed_id"), sa.column("claimed_name"), sa.column("verified"))
    owner = {pk: (pid, name) for pk, pid, name in conn.execute(
        sa.select(partnerships.c.pk, partnerships.c.partnership_id, partnerships.c.name))}
    items = sa.table("review_items", *(sa.column(c) for c in (
        "submission_pk", "round_label", "reason_code", "reason", "suggested_partnership_pk", "suggested_round",
        "received_at", "created_at", "state")))
    for row in conn.execute(sa.select(subs)).mappings().all():
        pid, name = owner.get(row["partnership_pk"], (None, ""))
        values = {"claimed_id": (pid or "") if row["verified"] else "", "claimed_name": name or ""}
        typed_only = row["partnership_pk"] is not None and not pid
        no_round = not row["round_label"]
        if typed_only:  # the earlier releases made up a partnership for a typed name: nobody is attributed now
            values["partnership_pk"] = None
        if no_round:
            values["round_label"] = None
        if row["status"] != "rejected" and (typed_only or no_round):
            if typed_only:
                code = "MG-REVIEW-002"
                reason = (f"a generic workbook: the name typed on it, {name!r}, was not matched to a roster "
                          f"partnership (stored before the review queue existed); assign it to the right one, or reject it")
            else:
                code = "MG-REVIEW-009"
                reason = ("stored with no round before rounds were required; assign it to its partnership and round, "
                          "or reject it")
            conn.execute(sa.insert(items).values(
                submission_pk=row["pk"], round_label=row["round_label"] or None, reason_code=code, reason=reason,
                suggested_partnership_pk=None if typed_only else row["partnership_pk"], suggested_round=None,
                received_at=row["received_at"], created_at=now, state="waiting"))
            values.update(is_current=False, current_reason="waiting for review")
        conn.execute(sa.update(subs).where(subs.c.pk == row["pk"]).values(**values))

    # The '' round stood for "no round"; what pointed at it points at nothing now.
    issued = sa.table("issued_workbooks", sa.column("round_label"))
    conn.execute(sa.update(issued).where(issued.c.round_label == "").values(round_label=None))
    roster = sa.table("roster", sa.column("round_label"))
    conn.execute(sa.delete(roster).where(roster.c.round_label == ""))
    conn.execute(sa.delete(rounds).where(rounds.c.label == ""))
