"""The send log: a record of every message before and after it is sent, in the store's
``sent_messages`` table, so a message is never sent twice or lost."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import Callable, Protocol

from sqlalchemy import Engine, insert, select, update

from ..errors import Problem
from ..store import sent_messages

SENDING, SENT, FAILED = "sending", "sent", "failed"
BOUNCED = "bounced"  # sent, then reported undeliverable by a delivery-status notification (collect)


@dataclass(frozen=True)
class Record:
    """One attempt to send one message. Written as *sending* before, updated to *sent* or
    *failed* after; a record still *sending* means the run stopped mid-send.
    """

    round: str
    kind: str
    partnership_id: str
    ref: str
    recipient: str
    subject: str = ""
    attachment_name: str = ""
    attachment_sha256: str = ""
    message_id: str = ""
    status: str = SENDING
    error_code: str = ""
    error: str = ""
    started_at: str = ""
    finished_at: str = ""
    id: int | None = None


class SendLog(Protocol):
    """Where records live: the store's database, or a file of its own."""

    def last(self, round: str, kind: str, partnership_id: str, ref: str) -> Record | None: ...

    def begin(self, record: Record) -> Record: ...

    def finish(self, record: Record, status: str, found: Problem | None = None) -> Record: ...

    def records(self, round: str | None = None) -> list[Record]: ...


_COLUMNS = [c.name for c in sent_messages.columns if c.name != "id"]


def utc_now() -> datetime:
    return datetime.now(timezone.utc).replace(microsecond=0)


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class SqlSendLog:
    """The send log as the store's ``sent_messages`` table. Each write is its own transaction,
    committed before the message goes out and again after it went, so a crash loses nothing
    that was sent.
    """

    def __init__(self, engine: Engine, clock: Callable[[], datetime] = utc_now):
        self.engine = engine
        self.clock = clock

    def last(self, round: str, kind: str, partnership_id: str, ref: str) -> Record | None:
        t = sent_messages.c
        query = (select(sent_messages).where(t.round == round, t.kind == kind, t.partnership_id == partnership_id,
                                        t.ref == ref).order_by(t.id.desc()).limit(1))
        with self.engine.connect() as conn:
            row = conn.execute(query).mappings().first()
        return Record(**row) if row else None

    def begin(self, record: Record) -> Record:
        record = replace(record, status=SENDING, started_at=_iso(self.clock()), finished_at="")
        with self.engine.begin() as conn:
            new_id = conn.execute(insert(sent_messages).values({c: getattr(record, c) for c in _COLUMNS})).inserted_primary_key[0]
        return replace(record, id=new_id)

    def finish(self, record: Record, status: str, found: Problem | None = None) -> Record:
        record = replace(record, status=status, error_code=found.code if found else "",
                         error=str(found) if found else "", finished_at=_iso(self.clock()))
        with self.engine.begin() as conn:
            conn.execute(update(sent_messages).where(sent_messages.c.id == record.id).values(
                status=record.status, error_code=record.error_code, error=record.error,
                finished_at=record.finished_at))
        return record

    def bounced(self, message_id: str, recipient: str, found: Problem) -> Record | None:
        """Record a delivery failure reported for a message that was sent: the message with this
        Message-ID (to ``recipient``, when the report names one) becomes *bounced*, with the reason."""
        t = sent_messages.c
        query = select(sent_messages).where(t.message_id == message_id, t.status.in_((SENT, BOUNCED))).order_by(t.id.desc())
        with self.engine.begin() as conn:
            rows = [Record(**row) for row in conn.execute(query).mappings()]
            hit = next((r for r in rows if not recipient or r.recipient.casefold() == recipient.casefold()), None)
            if hit is None:
                return None
            conn.execute(update(sent_messages).where(t.id == hit.id).values(
                status=BOUNCED, error_code=found.code, error=str(found)))
        return replace(hit, status=BOUNCED, error_code=found.code, error=str(found))

    def records(self, round: str | None = None) -> list[Record]:
        query = select(sent_messages).order_by(sent_messages.c.id)
        if round is not None:
            query = query.where(sent_messages.c.round == round)
        with self.engine.connect() as conn:
            return [Record(**row) for row in conn.execute(query).mappings()]
