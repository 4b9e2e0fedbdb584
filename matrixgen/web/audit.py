"""The audit log: every change made in the web app, with who made it and when."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import insert, select
from sqlalchemy.engine import Engine

from ..store.model import now
from ..store.schema import web_audit


@dataclass(frozen=True)
class Entry:
    pk: int
    at: str
    user_email: str
    action: str
    target: str
    detail: str


def record(engine: Engine, user_email: str, action: str, target: str = "", detail: str = "") -> None:
    with engine.begin() as conn:
        conn.execute(insert(web_audit).values(at=now(), user_email=user_email, action=action, target=target,
                                              detail=detail[:2000]))


def entries(engine: Engine, limit: int = 200) -> list[Entry]:
    """The newest first."""
    with engine.connect() as conn:
        rows = conn.execute(select(web_audit).order_by(web_audit.c.pk.desc()).limit(limit)).all()
    return [Entry(*r) for r in rows]
