"""The store: rubric versions, rounds and rosters, issued workbooks, every submission with its
answers, scores and problems, the review queue, rendered reports and the email log. SQLAlchemy
Core; a SQLite file by default, any SQLAlchemy URL (e.g. PostgreSQL) otherwise.

Other modules read it through the small API below, which returns plain dataclasses:

    store = Store.open("output/matrixgen.db")      # or a URL; upgrades the schema (create=False: must exist)
    store.rounds() / store.newest_open_round()     # RoundInfo list, newest first / the default round
    store.roster("2026") / store.not_returned("2026")
    store.issued("2026")                           # which workbook (sha256) went to whom
    store.results("2026")                          # current submissions with answers, scores, problems
    store.submissions(round_label="2026")          # every submission, current or not
    store.history("NE-IT")                         # one partnership across rounds
    store.review_items("2026")                     # returns waiting for a person; store.decide / store.undo
    store.rubric(content_hash)                     # rebuild the exact rubric version a file used

The tables are in ``schema.py`` and their history in ``migrations/``; ``upgrade.py`` brings an
older store up to date when it is opened. Writes happen in one transaction per call.
"""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import create_engine, event, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from ..errors import problem
from ..files import FILE_MODE, private_dir
from .model import (
    ACCEPTED, ASSIGNED, CLOSED, OPEN, REJECTED, WAITING, AnswerInfo, Decision, IssuedInfo, NewSubmission,
    MessageInfo, PartnershipInfo, ReportInfo, ReviewItem, ReviewReason, RosterChange, RoundInfo, ScoreInfo, StoreError,
    SubmissionDetail, SubmissionInfo, now,
)
from .review import ReviewMixin
from .rounds import RoundsMixin, check_label
from .schema import meta, metadata, sent_messages
from .submissions import SubmissionsMixin
from .upgrade import HEAD, Upgrade, prepare

DB_ENV = "MATRIXGEN_DB"
DEFAULT_DB = "matrixgen.db"  # inside the data folder
SCHEMA_VERSION = int(HEAD)
BUSY_TIMEOUT_MS = 15_000  # a CLI command and the web app share one SQLite file: wait, don't fail

__all__ = [
    "ACCEPTED", "ASSIGNED", "CLOSED", "OPEN", "REJECTED", "WAITING", "AnswerInfo", "Decision", "IssuedInfo",
    "MessageInfo", "NewSubmission", "PartnershipInfo", "ReportInfo", "ReviewItem", "ReviewReason", "RosterChange", "RoundInfo",
    "SCHEMA_VERSION", "ScoreInfo", "Store", "StoreError", "SubmissionDetail", "SubmissionInfo", "Upgrade",
    "check_label", "metadata", "now", "sent_messages", "store_url",
]


def store_url(target: str | Path | None, data_dir: str | Path = "output") -> str:
    """A SQLAlchemy URL from ``--db``/MATRIXGEN_DB (a path or a URL), default <data>/matrixgen.db."""
    target = target or os.environ.get(DB_ENV) or Path(data_dir) / DEFAULT_DB
    found = str(target)
    if "://" in found:
        return found
    return f"sqlite:///{Path(found).expanduser().resolve()}"


def _sqlite_file(url: str) -> Path | None:
    return Path(url[len("sqlite:///"):]) if url.startswith("sqlite:///") else None


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    # WAL + NORMAL: a commit per file stays cheap and a killed run never corrupts the file; WAL also
    # lets readers (the web app, `status`) go on while a command writes.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cursor.close()


class Store(RoundsMixin, SubmissionsMixin, ReviewMixin):
    def __init__(self, engine: Engine, url: str, upgrade: Upgrade | None = None):
        self.engine = engine
        self.url = url
        self.upgrade = upgrade or Upgrade(from_revision=HEAD)

    @property
    def shown(self) -> str:
        """The URL or path, never with a password."""
        return _shown(self.url)

    @classmethod
    def open(cls, target: str | Path | None = None, data_dir: str | Path = "output", *,
             create: bool = True) -> "Store":
        """Open the store at a path or SQLAlchemy URL and bring its schema up to date.

        ``create=False`` (commands that only read) refuses a store that does not exist instead of
        making an empty one: a mistyped ``--db`` must not answer "nothing stored". A new SQLite
        file is created 0600 in a 0700 folder; ``store.upgrade`` says what opening it did."""
        url = store_url(target, data_dir)
        shown = _shown(url)
        path = _sqlite_file(url)
        if path is not None and not path.exists():
            if not create:
                raise StoreError(problem("MG-STORE-005", str(path), url=str(path)))
            private_dir(path.parent)
            # SQLite gives its -wal and -shm files the database file's mode: private from the start.
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
            os.chmod(path, FILE_MODE)
        try:
            engine = create_engine(url)
            if engine.dialect.name == "sqlite":
                event.listen(engine, "connect", _sqlite_pragmas)
            upgrade = prepare(engine, shown, create)
        except SQLAlchemyError as exc:
            raise StoreError(problem("MG-STORE-004", shown, url=shown, reason=str(exc).splitlines()[0])) from None
        if path is not None and upgrade.upgraded:
            _make_private(path)  # releases before 0.2 created the store with the umask's mode
        return cls(engine, url, upgrade)

    def close(self) -> None:
        self.engine.dispose()

    def schema_version(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(meta.c.value).where(meta.c.key == "schema_version")).scalar_one())


def _make_private(path: Path) -> None:
    for found in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        try:
            if found.stat().st_uid == os.getuid():
                os.chmod(found, FILE_MODE)
        except OSError:
            continue


def _shown(url: str) -> str:
    return url.split("@")[-1] if "@" in url else url
