"""The record of mail collected: the store's ``mail_messages`` and ``mail_attachments`` tables.

Each message is recorded as *received* (with its UIDVALIDITY and UID, Message-ID, sender and the
sha256 of its raw bytes) before anything is done with it, then as *processed* with what came of it
and of each attachment, then as moved. Every write is its own transaction, so a killed run
leaves each message at one of these steps, and the next run takes it from there.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Sequence

from sqlalchemy import Engine, and_, insert, select, tuple_, update

from ..store import now
from ..store.schema import mail_attachments, mail_messages, review_items

RECEIVED, PROCESSED = "received", "processed"
# What came of a message, as a whole.
SCORED, INCOMPLETE, REJECTED, REVIEW, DUPLICATE = "scored", "incomplete", "rejected", "review", "duplicate"
REFUSED, IGNORED, BOUNCE = "refused", "ignored", "bounce"


@dataclass(frozen=True)
class AttachmentRecord:
    seq: int
    file_name: str
    shown: str
    sha256: str = ""
    size: int = 0
    status: str = ""  # scored | incomplete | rejected | review | duplicate | refused | skipped
    submission_pk: int | None = None
    reason_code: str = ""
    reason: str = ""


@dataclass(frozen=True)
class MessageRecord:
    pk: int
    mailbox: str
    uidvalidity: int | None
    uid: int | None
    message_id: str
    sha256: str
    size: int
    sender: str
    sender_name: str
    sent_at: str
    received_at: str
    subject: str
    body_text: str
    archive_path: str
    kind: str
    state: str
    outcome: str
    reason_code: str
    reason: str
    round_label: str | None
    partnership_id: str | None
    answer: bool
    collected_at: str
    moved_at: str
    attachments: tuple[AttachmentRecord, ...] = field(default=())

    @property
    def processed(self) -> bool:
        return self.state == PROCESSED


_ATTACHMENT_COLUMNS = [c.name for c in mail_attachments.columns if c.name != "message_pk"]


class Inbox:
    def __init__(self, engine: Engine):
        self.engine = engine

    # --- finding what was collected before -----------------------------------------------------

    def by_uid(self, mailbox: str, uidvalidity: int, uids: Sequence[int]) -> dict[int, MessageRecord]:
        t = mail_messages.c
        found: dict[int, MessageRecord] = {}
        for part in _chunks(list(uids), 500):
            found.update((r.uid, r) for r in self._select(and_(t.mailbox == mailbox, t.uidvalidity == uidvalidity,
                                                              t.uid.in_(part))))
        return found

    def by_identity(self, keys: Iterable[tuple[str, str, str]]) -> dict[tuple[str, str, str], MessageRecord]:
        """Messages recorded before, wherever they were read: by (Message-ID, sender), or by the raw
        message's sha256 when it has no Message-ID. ``keys`` are (message_id, sender, sha256)."""
        keys = list(keys)
        with_id = [(m, s) for m, s, _ in keys if m]
        shas = [h for m, _, h in keys if not m]
        t = mail_messages.c
        found: dict[tuple[str, str, str], MessageRecord] = {}
        rows: list[MessageRecord] = []
        for part in _chunks(with_id, 400):
            rows += self._select(tuple_(t.message_id, t.sender).in_(part))
        for part in _chunks(shas, 400):
            rows += self._select(and_(t.message_id == "", t.sha256.in_(part)))
        by_id = {(r.message_id, r.sender): r for r in rows if r.message_id}
        by_sha = {r.sha256: r for r in rows if not r.message_id}
        for m, s, h in keys:
            hit = by_id.get((m, s)) if m else by_sha.get(h)
            if hit is not None:
                found[(m, s, h)] = hit
        return found

    def last_uidvalidity(self, mailbox: str) -> int | None:
        t = mail_messages.c
        with self.engine.connect() as conn:
            return conn.execute(select(t.uidvalidity).where(and_(t.mailbox == mailbox, t.uidvalidity.is_not(None)))
                                .order_by(t.pk.desc()).limit(1)).scalar()

    def messages(self, pks: Sequence[int] | None = None) -> list[MessageRecord]:
        return self._select(mail_messages.c.pk.in_(list(pks)) if pks is not None else None)

    def _select(self, where) -> list[MessageRecord]:
        query = select(mail_messages).order_by(mail_messages.c.pk)
        if where is not None:
            query = query.where(where)
        with self.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
            pks = [r["pk"] for r in rows]
            files: dict[int, list[AttachmentRecord]] = {}
            for part in _chunks(pks, 500):
                for a in conn.execute(select(mail_attachments).where(mail_attachments.c.message_pk.in_(part))
                                      .order_by(mail_attachments.c.message_pk, mail_attachments.c.seq)).mappings():
                    files.setdefault(a["message_pk"], []).append(
                        AttachmentRecord(**{c: a[c] for c in _ATTACHMENT_COLUMNS}))
        return [MessageRecord(**r, attachments=tuple(files.get(r["pk"], ()))) for r in rows]

    # --- recording --------------------------------------------------------------------------------

    def add(self, rows: Sequence[dict]) -> list[int]:
        """Record messages as received (one transaction): their pks, in order."""
        pks = []
        with self.engine.begin() as conn:
            for row in rows:
                values = {"state": RECEIVED, "collected_at": now(), **row}
                pks.append(conn.execute(insert(mail_messages).values(values)).inserted_primary_key[0])
        return pks

    def set_uid(self, pk: int, mailbox: str, uidvalidity: int | None, uid: int | None) -> None:
        """A message recognised by its Message-ID under a new UID (the server renumbered it)."""
        with self.engine.begin() as conn:
            conn.execute(update(mail_messages).where(mail_messages.c.pk == pk).values(
                mailbox=mailbox, uidvalidity=uidvalidity, uid=uid))

    def processed(self, results: Sequence[tuple[int, dict, Sequence[AttachmentRecord]]]) -> None:
        """Record what came of messages and their attachments (one transaction): (pk, values, files)."""
        with self.engine.begin() as conn:
            for pk, values, files in results:
                conn.execute(update(mail_messages).where(mail_messages.c.pk == pk).values(state=PROCESSED, **values))
                conn.execute(mail_attachments.delete().where(mail_attachments.c.message_pk == pk))
                if files:
                    conn.execute(insert(mail_attachments), [
                        {"message_pk": pk, **{c: getattr(f, c) for c in _ATTACHMENT_COLUMNS}} for f in files])
                    reviewed = [f.submission_pk for f in files if f.status == REVIEW and f.submission_pk]
                    if reviewed:  # the person deciding sees the message the file came with
                        conn.execute(update(review_items).where(review_items.c.submission_pk.in_(reviewed))
                                     .values(message_pk=pk))

    def moved(self, pks: Sequence[int]) -> None:
        if not pks:
            return
        with self.engine.begin() as conn:
            for part in _chunks(list(pks), 500):
                conn.execute(update(mail_messages).where(and_(mail_messages.c.pk.in_(part),
                                                              mail_messages.c.moved_at == "")).values(moved_at=now()))


def _chunks(items: list, size: int):
    for i in range(0, len(items), size):
        yield items[i:i + size]
