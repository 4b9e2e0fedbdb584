"""The review queue: returns that need a person, and every decision taken on them.

A return goes to review when matrixgen cannot tell, or should not decide alone, whose it is or
which round it belongs to (see match.py). While an item waits, its file is stored but is nobody's
current submission: status shows the partnership as *in review*, reminders and its report wait.

Decisions, each recorded with who and when, and each reversible by ``undo``:

- **assign** to a partnership (and round): the file becomes that partnership's current submission;
- **accept** as matrixgen read it: the same, with the suggested partnership and round;
- **reject** with a reason: the file counts for no one, and the reason goes into the partnership's
  next reminder.
"""

from __future__ import annotations

import json
from typing import Sequence

from sqlalchemy import and_, func, insert, or_, select, update
from sqlalchemy.engine import Connection, Engine

from ..errors import problem
from .model import (
    ACCEPTED, ASSIGNED, REJECTED, WAITING, Decision, MessageInfo, PartnershipInfo, ReviewItem, ReviewReason, StoreError,
    now,
)
from .schema import mail_messages, partnerships, review_decisions, review_items, rounds, submissions

ACTIONS = ("assign", "accept", "reject")
STATE_OF = {"assign": ASSIGNED, "accept": ACCEPTED, "reject": REJECTED}


class ReviewMixin:
    engine: Engine

    def review_items(self, round_label: str | None = None, *, waiting_only: bool = True,
                     pks: Sequence[int] | None = None) -> list[ReviewItem]:
        """Review items in the order they arrived; ``round_label`` keeps those of one round (the round
        they arrived in, were suggested for or decided into)."""
        query = select(review_items).order_by(review_items.c.received_at, review_items.c.pk)
        if waiting_only:
            query = query.where(review_items.c.state == WAITING)
        if round_label is not None:
            query = query.where(or_(review_items.c.round_label == round_label,
                                    review_items.c.suggested_round == round_label,
                                    review_items.c.decided_round == round_label))
        if pks is not None:
            query = query.where(review_items.c.pk.in_(list(pks)))
        with self.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
            people = _partnerships(conn, {r[c] for r in rows for c in ("suggested_partnership_pk",
                                                                        "decided_partnership_pk") if r[c]})
        subs = {s.pk: s for s in self._submissions(submissions.c.pk.in_([r["submission_pk"] for r in rows
                                                                           if r["submission_pk"]]))} if rows else {}
        messages = _messages(self.engine, {r["message_pk"] for r in rows if r["message_pk"]})
        return [_item(r, subs, people, messages) for r in rows]

    def add_message_review(self, message_pk: int, reason: ReviewReason, round_label: str | None,
                           received_at: str) -> int:
        """A message with nothing to score (no workbook attached) waits for a person, with its text."""
        with self.engine.begin() as conn:
            found = conn.execute(select(review_items.c.pk).where(review_items.c.message_pk == message_pk)).scalar()
            if found is not None:  # added by a run that died before it recorded the message as processed
                return found
            pk = _partnership_pk(conn, reason.suggested_partnership) if reason.suggested_partnership else None
            known = round_label and conn.execute(select(rounds.c.label).where(rounds.c.label == round_label)).first()
            return conn.execute(insert(review_items).values(
                submission_pk=None, message_pk=message_pk, round_label=round_label if known else None,
                reason_code=reason.code, reason=reason.reason, suggested_partnership_pk=pk,
                suggested_round=round_label if known else None, received_at=received_at, created_at=now(),
                state=WAITING)).inserted_primary_key[0]

    def review_item(self, pk: int) -> ReviewItem:
        found = self.review_items(waiting_only=False, pks=[pk])
        if not found:
            raise StoreError(problem("MG-REVIEW-020", "ITEM", value=pk))
        return found[0]

    def waiting_count(self, round_label: str | None = None) -> int:
        query = select(func.count()).select_from(review_items).where(review_items.c.state == WAITING)
        if round_label is not None:
            query = query.where(or_(review_items.c.round_label == round_label,
                                    review_items.c.suggested_round == round_label))
        with self.engine.connect() as conn:
            return int(conn.execute(query).scalar() or 0)

    def decisions(self, item_pk: int | None = None) -> list[Decision]:
        query = select(review_decisions).order_by(review_decisions.c.pk)
        if item_pk is not None:
            query = query.where(review_decisions.c.item_pk == item_pk)
        with self.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        return [Decision(r["pk"], r["item_pk"], r["action"], r["partnership_id"], r["round_label"], r["reason"],
                         r["decided_by"], r["decided_at"]) for r in rows]

    def decide(self, item_pk: int, action: str, *, by: str, partnership_id: str | None = None,
               round_label: str | None = None, reason: str = "") -> ReviewItem:
        """Assign, accept or reject a waiting item (see the module's docstring); returns it as decided."""
        assert action in ACTIONS
        item = self.review_item(item_pk)
        if not item.waiting:
            raise StoreError(problem("MG-REVIEW-021", f"item {item_pk}", value=item_pk, state=item.state))
        sub = item.submission
        if action == "accept":
            who = item.suggested_partnership or (sub.partnership if sub else None)
            if who is None or not who.partnership_id:
                raise StoreError(problem("MG-REVIEW-023", f"item {item_pk}", value=item_pk))
            partnership_id = who.partnership_id
        if action == "reject":
            if not reason.strip():
                raise StoreError(problem("MG-REVIEW-024", "--reason"))
            partnership_id = partnership_id or (item.partnership.partnership_id if item.partnership else None)
        round_label = round_label or item.suggested_round or item.round_label or (sub.round_label if sub else None)
        with self.engine.begin() as conn:
            pk = _partnership_pk(conn, partnership_id) if partnership_id else None
            if action != "reject":
                if pk is None:
                    raise StoreError(problem("MG-REVIEW-025", "--partnership", value=partnership_id or ""))
                if not round_label or conn.execute(select(rounds.c.label).where(rounds.c.label == round_label)).first() is None:
                    known = ", ".join(conn.execute(select(rounds.c.label).order_by(rounds.c.seq)).scalars()) or "none"
                    raise StoreError(problem("MG-REVIEW-026", "--round", value=round_label or "", known=known))
            before: dict = {}
            if sub is not None and action != "reject":
                before = _attribute(conn, sub.pk, pk, round_label, counts=sub.status != "rejected",
                                    reason=f"{action}ed from review item {item_pk} by {by}")
            at = now()
            conn.execute(update(review_items).where(review_items.c.pk == item_pk).values(
                state=STATE_OF[action], decided_partnership_pk=pk, decided_round=round_label,
                decision_reason=reason.strip(), decided_by=by, decided_at=at))
            conn.execute(insert(review_decisions).values(
                item_pk=item_pk, action=action, partnership_id=partnership_id, round_label=round_label,
                reason=reason.strip(), decided_by=by, decided_at=at, before=json.dumps(before)))
        return self.review_item(item_pk)

    def undo(self, item_pk: int, *, by: str) -> ReviewItem:
        """Reverse the item's last decision: its file goes back to where it was, and the item waits again."""
        item = self.review_item(item_pk)
        if item.waiting:
            raise StoreError(problem("MG-REVIEW-022", f"item {item_pk}", value=item_pk))
        with self.engine.begin() as conn:
            last = conn.execute(select(review_decisions).where(and_(
                review_decisions.c.item_pk == item_pk, review_decisions.c.action != "undo"))
                .order_by(review_decisions.c.pk.desc())).mappings().first()
            before = json.loads(last["before"]) if last else {}
            if before:
                _restore(conn, before)
            conn.execute(update(review_items).where(review_items.c.pk == item_pk).values(
                state=WAITING, decided_partnership_pk=None, decided_round=None, decision_reason="", decided_by="",
                decided_at=""))
            conn.execute(insert(review_decisions).values(
                item_pk=item_pk, action="undo", partnership_id=last["partnership_id"] if last else None,
                round_label=last["round_label"] if last else None, reason="", decided_by=by, decided_at=now(),
                before="{}"))
        return self.review_item(item_pk)


def _partnership_pk(conn: Connection, partnership_id: str) -> int | None:
    return conn.execute(select(partnerships.c.pk).where(partnerships.c.partnership_id == partnership_id)).scalar()


def _attribute(conn: Connection, sub_pk: int, partnership_pk: int, round_label: str, *, counts: bool,
               reason: str) -> dict:
    """Link a submission to a partnership and round, and (``counts``) make it the current one;
    returns what undoing it must restore."""
    cols = (submissions.c.pk, submissions.c.partnership_pk, submissions.c.round_label, submissions.c.is_current,
            submissions.c.current_reason)
    old = conn.execute(select(*cols).where(submissions.c.pk == sub_pk)).mappings().one()
    replaced = []
    if counts:
        for row in conn.execute(select(*cols).where(and_(
                submissions.c.partnership_pk == partnership_pk, submissions.c.round_label == round_label,
                submissions.c.is_current.is_(True), submissions.c.pk != sub_pk))).mappings():
            replaced.append(dict(row))
            conn.execute(update(submissions).where(submissions.c.pk == row["pk"]).values(
                is_current=False, current_reason=f"replaced by a decision in review ({reason})"))
    conn.execute(update(submissions).where(submissions.c.pk == sub_pk).values(
        partnership_pk=partnership_pk, round_label=round_label, is_current=counts,
        current_reason=reason if counts else "rejected"))
    return {"submission": dict(old), "replaced": replaced}


def _restore(conn: Connection, before: dict) -> None:
    old = before["submission"]
    conn.execute(update(submissions).where(submissions.c.pk == old["pk"]).values(
        partnership_pk=old["partnership_pk"], round_label=old["round_label"], is_current=old["is_current"],
        current_reason=old["current_reason"]))
    for row in before.get("replaced", []):
        # Only if nothing else became current for that partnership and round since.
        taken = conn.execute(select(submissions.c.pk).where(and_(
            submissions.c.partnership_pk == row["partnership_pk"], submissions.c.round_label == row["round_label"],
            submissions.c.is_current.is_(True)))).first()
        if taken is None:
            conn.execute(update(submissions).where(submissions.c.pk == row["pk"]).values(
                is_current=True, current_reason=row["current_reason"]))


def _partnerships(conn: Connection, pks: set[int]) -> dict[int, PartnershipInfo]:
    if not pks:
        return {}
    rows = conn.execute(select(*partnerships.c).where(partnerships.c.pk.in_(pks))).all()
    return {r.pk: PartnershipInfo(r.pk, r.partnership_id, r.name, r.region, r.sector, r.contact_name,
                                  r.contact_email, bool(r.verified)) for r in rows}


def _messages(engine: Engine, pks: set[int]) -> dict[int, MessageInfo]:
    if not pks:
        return {}
    t = mail_messages.c
    with engine.connect() as conn:
        rows = conn.execute(select(t.pk, t.sender, t.subject, t.sent_at, t.body_text).where(t.pk.in_(pks))).all()
    return {r.pk: MessageInfo(r.pk, r.sender, r.subject, r.sent_at, r.body_text) for r in rows}


def _item(r, subs: dict, people: dict[int, PartnershipInfo], messages: dict[int, MessageInfo]) -> ReviewItem:
    return ReviewItem(
        message=messages.get(r["message_pk"]),
        pk=r["pk"], submission=subs.get(r["submission_pk"]), round_label=r["round_label"],
        reason_code=r["reason_code"], reason=r["reason"],
        suggested_partnership=people.get(r["suggested_partnership_pk"]), suggested_round=r["suggested_round"],
        received_at=r["received_at"], created_at=r["created_at"], state=r["state"],
        decided_partnership=people.get(r["decided_partnership_pk"]), decided_round=r["decided_round"],
        decision_reason=r["decision_reason"], decided_by=r["decided_by"], decided_at=r["decided_at"],
    )
