"""The store: rubric versions, rounds and rosters, issued workbooks, every submission with its
answers, scores and problems. SQLAlchemy Core; a SQLite file by default, any SQLAlchemy URL
(e.g. PostgreSQL) otherwise.

Other modules read it through the small API below, which returns plain dataclasses:

    store = Store.open("output/matrixgen.db")      # or a URL; creates/migrates the schema
    store.rounds() / store.latest_round()          # RoundInfo list / newest label
    store.roster("2026") / store.not_returned("2026")
    store.issued("2026")                           # which workbook (sha256) went to whom
    store.results("2026")                          # current submissions with answers, scores, problems
    store.submissions(round_label="2026")          # every submission, current or not
    store.history("NE-IT")                         # one partnership across rounds
    store.rubric(content_hash)                     # rebuild the exact rubric version a file used

Writes happen in one transaction per call: ``add_submissions`` stores whole files only, so a run
that is killed leaves every file either fully stored or not at all, and a re-run completes it.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import lru_cache
from itertools import chain
from pathlib import Path
from typing import Iterable, Iterator, Sequence

from sqlalchemy import (
    Boolean, Column, Float, ForeignKey, Index, Integer, MetaData, String, Table, Text, and_, bindparam, create_engine,
    delete, event, func, insert, select, text, update,
)
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from .errors import Problem, Severity, problem
from .identity import Identity
from .roster import Partnership
from .rubric import Rubric, normalise_answer_text, rubric_from_canonical
from .score import DimensionScore

SCHEMA_VERSION = 2
DB_ENV = "MATRIXGEN_DB"
DEFAULT_DB = "matrixgen.db"  # inside the data folder

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
    Column("label", String(40), primary_key=True),  # '' for files that carry no round
    Column("created_at", String(20), nullable=False),
    Column("rubric_hash", String(64), ForeignKey("rubric_versions.hash")),
    Column("due", Text, nullable=False, default=""),  # return-by date, as the office writes it (v2)
)
roster = Table(
    "roster", metadata,
    Column("round_label", String(40), ForeignKey("rounds.label"), primary_key=True),
    Column("partnership_pk", Integer, ForeignKey("partnerships.pk"), primary_key=True),
)
issued = Table(
    "issued_workbooks", metadata,
    Column("sha256", String(64), primary_key=True),
    Column("round_label", String(40), ForeignKey("rounds.label"), nullable=False),
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
# Every message send.py sent or tried to (v2). A log: no foreign keys, so that it can always
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


def _v1_to_v2(conn: Connection) -> None:
    """Round due dates, where issued workbooks were written, rendered reports, the send log."""
    conn.execute(text("ALTER TABLE rounds ADD COLUMN due TEXT NOT NULL DEFAULT ''"))
    conn.execute(text("ALTER TABLE issued_workbooks ADD COLUMN path TEXT NOT NULL DEFAULT ''"))
    reports.create(conn, checkfirst=True)
    sent_messages.create(conn, checkfirst=True)


# Schema migrations: MIGRATIONS[n] takes a connection from version n to n + 1.
MIGRATIONS: dict[int, object] = {1: _v1_to_v2}


# --- what the API returns ----------------------------------------------------------------------


@dataclass(frozen=True)
class PartnershipInfo:
    pk: int
    partnership_id: str | None  # None: known only by a typed name (unverified)
    name: str
    region: str
    sector: str
    contact_name: str
    contact_email: str
    verified: bool


@dataclass(frozen=True)
class RoundInfo:
    label: str
    created_at: str
    rubric_hash: str | None
    roster_size: int
    submissions: int
    returned: int  # partnerships with a current (not rejected) submission
    due: str = ""


@dataclass(frozen=True)
class IssuedInfo:
    sha256: str
    round_label: str
    partnership_id: str | None
    partnership_name: str
    rubric_hash: str
    file_name: str
    generated_at: str
    path: str = ""  # where generate wrote it ('' for workbooks issued before schema v2)


@dataclass(frozen=True)
class ReportInfo:
    round_label: str
    partnership_id: str
    path: str
    sha256: str
    rendered_at: str


@dataclass(frozen=True)
class RosterChange:
    added: tuple[str, ...]
    removed: tuple[str, ...]
    kept: tuple[str, ...]


@dataclass(frozen=True)
class AnswerInfo:
    criterion_id: str
    raw: str
    answer: str | None
    points: float | None
    met: bool
    evidence: str
    cell: str


# A stored score is a DimensionScore; the overall one has dimension id ''.
ScoreInfo = DimensionScore


@dataclass(frozen=True)
class SubmissionInfo:
    pk: int
    file_name: str
    sha256: str
    size: int
    received_at: str
    scored_at: str
    status: str
    kind: str
    identity_source: str
    verified: bool
    partnership: PartnershipInfo | None
    round_label: str | None
    rubric_hash: str | None
    archive_path: str
    current: bool
    current_reason: str
    respondent_name: str
    respondent_role: str
    respondent_email: str
    completed_on: str
    overall_stage: str | None
    points: float | None
    possible: float | None

    @property
    def progress(self) -> float | None:
        return None if self.points is None or not self.possible else self.points / self.possible


@dataclass(frozen=True)
class SubmissionDetail:
    info: SubmissionInfo
    answers: tuple[AnswerInfo, ...]
    scores: tuple[ScoreInfo, ...]  # overall ('' dimension) first, then the rubric's dimensions
    problems: tuple[Problem, ...]

    def score(self, dimension_id: str = "") -> ScoreInfo | None:
        return next((s for s in self.scores if s.dimension_id == dimension_id), None)


@dataclass
class NewSubmission:
    """One file to store, as the batch assembled it (see batch.py)."""

    file_name: str
    sha256: str
    size: int
    received_at: str
    status: str
    kind: str
    archive_path: str
    identity: Identity | None = None
    verified: bool = False
    identity_source: str = ""
    rubric_hash: str | None = None
    round_label: str | None = None
    respondent: dict[str, str] = field(default_factory=dict)
    answers: list[AnswerInfo] = field(default_factory=list)
    scores: list[ScoreInfo] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


class StoreError(Exception):
    def __init__(self, found: Problem):
        self.problem = found
        super().__init__(str(found))


# --- opening -------------------------------------------------------------------------------------


def now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def store_url(target: str | Path | None, data_dir: str | Path = "output") -> str:
    """A SQLAlchemy URL from ``--db``/MATRIXGEN_DB (a path or a URL), default <data>/matrixgen.db."""
    target = target or os.environ.get(DB_ENV) or Path(data_dir) / DEFAULT_DB
    text = str(target)
    if "://" in text:
        return text
    path = Path(text).expanduser().resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    # WAL + NORMAL: a commit per file stays cheap and a killed run never corrupts the file.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


class Store:
    def __init__(self, engine: Engine, url: str):
        self.engine = engine
        self.url = url

    @classmethod
    def open(cls, target: str | Path | None = None, data_dir: str | Path = "output") -> "Store":
        """Open (creating or migrating the schema) the store at a path or SQLAlchemy URL."""
        url = store_url(target, data_dir)
        shown = url.split("@")[-1] if "@" in url else url  # never echo a password
        try:
            engine = create_engine(url)
            if engine.dialect.name == "sqlite":
                event.listen(engine, "connect", _sqlite_pragmas)
            store = cls(engine, url)
            store._migrate(shown)
        except SQLAlchemyError as exc:
            raise StoreError(problem("MG-STORE-004", shown, url=shown, reason=str(exc).splitlines()[0]))
        return store

    def close(self) -> None:
        self.engine.dispose()

    def _migrate(self, shown: str) -> None:
        with self.engine.begin() as conn:
            metadata.create_all(conn)
            row = conn.execute(select(meta.c.value).where(meta.c.key == "schema_version")).first()
            version = int(row[0]) if row else 0
            if version == 0:
                conn.execute(insert(meta).values(key="schema_version", value=str(SCHEMA_VERSION)))
                return
            if version > SCHEMA_VERSION:
                raise StoreError(problem("MG-STORE-003", shown, url=shown, found=version, expected=SCHEMA_VERSION))
            while version < SCHEMA_VERSION:
                MIGRATIONS[version](conn)  # type: ignore[operator]
                version += 1
            conn.execute(update(meta).where(meta.c.key == "schema_version").values(value=str(version)))

    def schema_version(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(meta.c.value).where(meta.c.key == "schema_version")).scalar_one())

    # --- rubric versions ---

    def record_rubric(self, rubric: Rubric) -> None:
        with self.engine.begin() as conn:
            _ensure_rubric(conn, rubric)

    def rubric(self, content_hash: str) -> Rubric | None:
        with self.engine.connect() as conn:
            text = conn.execute(select(rubric_versions.c.canonical_json)
                                .where(rubric_versions.c.hash == content_hash)).scalar()
        return rubric_from_canonical(text) if text else None

    def rubrics(self) -> dict[str, Rubric]:
        """Every rubric version the office has used, by content hash."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(rubric_versions.c.hash, rubric_versions.c.canonical_json)).all()
        return {h: rubric_from_canonical(text) for h, text in rows}

    # --- rounds, rosters, issued workbooks ---

    def record_issue(self, round_label: str, rubric: Rubric, issued_files: Iterable) -> None:
        """Record a ``generate`` run: the rubric version, the round, its roster and which workbook
        (by sha256) went to which partnership. ``issued_files`` are ``generate.Generated``."""
        with self.engine.begin() as conn:
            _ensure_rubric(conn, rubric)
            _ensure_round(conn, round_label, rubric.content_hash)
            conn.execute(update(rounds).where(and_(rounds.c.label == round_label, rounds.c.rubric_hash.is_(None)))
                         .values(rubric_hash=rubric.content_hash))
            for made in issued_files:
                pk = None
                if made.partnership is not None:
                    p = made.partnership
                    pk = _ensure_partnership(conn, p.id, p.name, p.region, p.sector, p.contact_name, p.contact_email,
                                             from_roster=True)
                    exists = conn.execute(select(roster.c.partnership_pk).where(and_(
                        roster.c.round_label == round_label, roster.c.partnership_pk == pk))).first()
                    if exists is None:
                        conn.execute(insert(roster).values(round_label=round_label, partnership_pk=pk))
                values = dict(round_label=round_label, partnership_pk=pk, rubric_hash=rubric.content_hash,
                              file_name=Path(made.path).name, generated_at=made.identity.generated_at,
                              path=str(Path(made.path).resolve()))
                if conn.execute(select(issued.c.sha256).where(issued.c.sha256 == made.sha256)).first():
                    conn.execute(update(issued).where(issued.c.sha256 == made.sha256).values(**values))
                else:
                    conn.execute(insert(issued).values(sha256=made.sha256, **values))

    def rounds(self) -> list[RoundInfo]:
        """Every round, newest first."""
        with self.engine.connect() as conn:
            size = select(func.count()).select_from(roster).where(roster.c.round_label == rounds.c.label).scalar_subquery()
            subs = select(func.count()).select_from(submissions).where(
                submissions.c.round_label == rounds.c.label).scalar_subquery()
            returned = select(func.count()).select_from(submissions).where(and_(
                submissions.c.round_label == rounds.c.label, submissions.c.is_current.is_(True))).scalar_subquery()
            rows = conn.execute(select(rounds.c.label, rounds.c.created_at, rounds.c.rubric_hash, size, subs, returned,
                                       rounds.c.due)
                                .order_by(rounds.c.created_at.desc(), rounds.c.label.desc())).all()
        return [RoundInfo(*row) for row in rows]

    def latest_round(self) -> str | None:
        found = self.rounds()
        return found[0].label if found else None

    def roster(self, round_label: str) -> list[PartnershipInfo]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(*partnerships.c).join(roster, roster.c.partnership_pk == partnerships.c.pk)
                                .where(roster.c.round_label == round_label)
                                .order_by(partnerships.c.partnership_id)).all()
        return [_partnership(r) for r in rows]

    def not_returned(self, round_label: str) -> list[PartnershipInfo]:
        """Roster partnerships of the round with no current submission (rejected ones count as not returned)."""
        returned = {s.partnership.pk for s in self.submissions(round_label, current_only=True) if s.partnership}
        return [p for p in self.roster(round_label) if p.pk not in returned]

    def issued(self, round_label: str | None = None) -> list[IssuedInfo]:
        with self.engine.connect() as conn:
            query = (select(issued.c.sha256, issued.c.round_label, partnerships.c.partnership_id, partnerships.c.name,
                            issued.c.rubric_hash, issued.c.file_name, issued.c.generated_at, issued.c.path)
                     .select_from(issued.outerjoin(partnerships, partnerships.c.pk == issued.c.partnership_pk))
                     .order_by(issued.c.round_label, issued.c.file_name))
            if round_label is not None:
                query = query.where(issued.c.round_label == round_label)
            rows = conn.execute(query).all()
        return [IssuedInfo(r[0], r[1], r[2], r[3] or "", r[4], r[5], r[6], r[7]) for r in rows]

    def partnership(self, partnership_id: str) -> PartnershipInfo | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(*partnerships.c).where(partnerships.c.partnership_id == partnership_id)).first()
        return _partnership(row) if row else None

    # --- rounds the office opens, rendered reports ---

    def open_round(self, round_label: str, members: Iterable, due: str | None = None) -> RosterChange:
        """Record a round and make ``members`` (roster.Partnership) exactly its roster: the ids stay
        the partnerships' across rounds, their details are updated, and a partnership left out is
        no longer in this round (its history is kept). ``due=None`` keeps the round's due date."""
        members = list(members)
        with self.engine.begin() as conn:
            _ensure_round(conn, round_label)
            if due is not None:
                conn.execute(update(rounds).where(rounds.c.label == round_label).values(due=due))
            before = {r.partnership_id: r.pk for r in conn.execute(
                select(partnerships.c.partnership_id, partnerships.c.pk)
                .join(roster, roster.c.partnership_pk == partnerships.c.pk).where(roster.c.round_label == round_label))}
            wanted = {}
            for p in members:
                wanted[p.id] = _ensure_partnership(conn, p.id, p.name, p.region, p.sector, p.contact_name,
                                                   p.contact_email, from_roster=True)
            for pid, pk in wanted.items():
                if pid not in before:
                    conn.execute(insert(roster).values(round_label=round_label, partnership_pk=pk))
            gone = [pid for pid in before if pid not in wanted]
            if gone:
                conn.execute(delete(roster).where(and_(roster.c.round_label == round_label,
                                                       roster.c.partnership_pk.in_([before[g] for g in gone]))))
        return RosterChange(tuple(sorted(p for p in wanted if p not in before)), tuple(sorted(gone)),
                            tuple(sorted(p for p in wanted if p in before)))

    def members(self, round_label: str) -> tuple[Partnership, ...]:
        """The round's roster as roster rows (partnerships with an office id): what generate
        issues workbooks to and send writes to."""
        return tuple(Partnership(p.partnership_id, p.name, p.region, p.sector, p.contact_name, p.contact_email)
                     for p in self.roster(round_label) if p.partnership_id)

    def round(self, round_label: str) -> RoundInfo | None:
        return next((r for r in self.rounds() if r.label == round_label), None)

    def record_report(self, round_label: str, partnership_id: str, path: str | Path, sha256: str) -> None:
        """A report PDF as rendered: the newest one per round and partnership is the one sent."""
        with self.engine.begin() as conn:
            conn.execute(insert(reports).values(round_label=round_label, partnership_id=partnership_id,
                                                path=str(Path(path).resolve()), sha256=sha256, rendered_at=now()))

    def reports(self, round_label: str) -> dict[str, ReportInfo]:
        """The latest rendered report of each partnership in a round, by partnership id."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(reports).where(reports.c.round_label == round_label)
                                .order_by(reports.c.pk)).mappings().all()
        return {r["partnership_id"]: ReportInfo(r["round_label"], r["partnership_id"], r["path"], r["sha256"],
                                                r["rendered_at"]) for r in rows}

    # --- submissions ---

    def find(self, sha256: str) -> SubmissionInfo | None:
        """The submission stored for these exact bytes, if any."""
        return self.find_many([sha256]).get(sha256)

    def find_many(self, sha256s: Sequence[str]) -> dict[str, SubmissionInfo]:
        found: dict[str, SubmissionInfo] = {}
        for chunk in _chunks(list(sha256s), 500):
            found.update((s.sha256, s) for s in self._submissions(submissions.c.sha256.in_(chunk)))
        return found

    def submissions(self, round_label: str | None = None, *, current_only: bool = False,
                    partnership_id: str | None = None) -> list[SubmissionInfo]:
        """Submissions in the order received; filter by round, current ones, or a partnership."""
        where = []
        if round_label is not None:
            where.append(submissions.c.round_label == round_label)
        if current_only:
            where.append(submissions.c.is_current.is_(True))
        if partnership_id is not None:
            where.append(partnerships.c.partnership_id == partnership_id)
        return self._submissions(and_(*where) if where else None)

    def history(self, partnership_id: str) -> list[SubmissionInfo]:
        """One partnership's submissions across every round, oldest round first."""
        found = self.submissions(partnership_id=partnership_id)
        created = {r.label: r.created_at for r in self.rounds()}
        return sorted(found, key=lambda s: (created.get(s.round_label or "", ""), s.round_label or "", s.received_at))

    def submission(self, pk: int) -> SubmissionDetail | None:
        found = self.details([pk])
        return found[0] if found else None

    def details(self, pks: Sequence[int]) -> list[SubmissionDetail]:
        """Submissions by pk, with answers, scores and problems."""
        infos: list[SubmissionInfo] = []
        for chunk in _chunks(list(pks), 500):
            infos += self._submissions(submissions.c.pk.in_(chunk))
        return self._details(infos)

    def results(self, round_label: str) -> list[SubmissionDetail]:
        """The current submission of each partnership in a round, with answers, scores and problems."""
        return self._details(self.submissions(round_label, current_only=True))

    def _submissions(self, where) -> list[SubmissionInfo]:
        query = (select(*submissions.c, *[c.label(f"p_{c.name}") for c in partnerships.c])
                 .select_from(submissions.outerjoin(partnerships, partnerships.c.pk == submissions.c.partnership_pk))
                 .order_by(submissions.c.received_at, submissions.c.pk))
        if where is not None:
            query = query.where(where)
        with self.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        return [_submission(r) for r in rows]

    def _details(self, infos: Sequence[SubmissionInfo]) -> list[SubmissionDetail]:
        if not infos:
            return []
        pks = [s.pk for s in infos]
        by_answers: dict[int, list[AnswerInfo]] = {pk: [] for pk in pks}
        by_scores: dict[int, list[ScoreInfo]] = {pk: [] for pk in pks}
        by_problems: dict[int, list[Problem]] = {pk: [] for pk in pks}
        with self.engine.connect() as conn:
            for chunk in _chunks(pks, 500):
                for r in conn.execute(select(answers).where(answers.c.submission_pk.in_(chunk))):
                    by_answers[r.submission_pk].append(AnswerInfo(r.criterion_id, r.raw, r.answer, r.points, r.met,
                                                                  r.evidence, r.cell))
                for r in conn.execute(select(scores).where(scores.c.submission_pk.in_(chunk))):
                    by_scores[r.submission_pk].append(ScoreInfo(r.dimension_id, r.stage_id, r.next_stage_id,
                                                                tuple(json.loads(r.next_steps)), r.points, r.possible))
                for r in conn.execute(select(problems).where(problems.c.submission_pk.in_(chunk)).order_by(problems.c.seq)):
                    by_problems[r.submission_pk].append(Problem(r.code, Severity(r.severity), r.location, r.message))
        rubrics = {h: self.rubric(h) for h in {s.rubric_hash for s in infos if s.rubric_hash}}
        out = []
        for s in infos:
            rubric = rubrics.get(s.rubric_hash) if s.rubric_hash else None
            out.append(SubmissionDetail(s, tuple(_in_rubric_order(by_answers[s.pk], rubric)),
                                        tuple(_scores_in_order(by_scores[s.pk], rubric)), tuple(by_problems[s.pk])))
        return out

    def add_submissions(self, new: Sequence[NewSubmission]) -> list[tuple[SubmissionInfo, list[Problem]]]:
        """Store whole files in one transaction; returns each stored row and the notes added
        (e.g. which earlier file it replaced as current)."""
        if not new:
            return []
        with self.engine.begin() as conn:
            pks_notes = _add_all(conn, new)
        stored = {s.pk: s for s in self._submissions(submissions.c.pk.in_([pk for pk, _ in pks_notes]))} if new else {}
        return [(stored[pk], notes) for pk, notes in pks_notes]


# --- writing, inside one transaction --------------------------------------------------------------


def _ensure_rubric(conn: Connection, rubric: Rubric) -> None:
    if conn.execute(select(rubric_versions.c.hash).where(rubric_versions.c.hash == rubric.content_hash)).first():
        return
    conn.execute(insert(rubric_versions).values(
        hash=rubric.content_hash, rubric_id=rubric.id, version=rubric.version, title=rubric.title,
        canonical_json=rubric.canonical_json(), recorded_at=now()))


def _ensure_round(conn: Connection, label: str, rubric_hash: str | None = None) -> None:
    if conn.execute(select(rounds.c.label).where(rounds.c.label == label)).first() is None:
        conn.execute(insert(rounds).values(label=label, created_at=now(), rubric_hash=rubric_hash))


def _ensure_partnership(conn: Connection, partnership_id: str | None, name: str, region: str = "", sector: str = "",
                        contact_name: str = "", contact_email: str = "", *, from_roster: bool = False) -> int:
    """The partnership's pk: by the office's id, or for a typed name by the folded name.

    Only a roster (``from_roster``) updates an existing partnership's details: a returned
    workbook carries the details as they were when it was issued."""
    key = normalise_answer_text(name)
    if partnership_id:
        row = conn.execute(select(partnerships.c.pk, partnerships.c.contact_name, partnerships.c.contact_email)
                           .where(partnerships.c.partnership_id == partnership_id)).first()
    else:
        row = conn.execute(select(partnerships.c.pk, partnerships.c.contact_name, partnerships.c.contact_email)
                           .where(and_(partnerships.c.partnership_id.is_(None), partnerships.c.name_key == key))).first()
    values = dict(name=name, name_key=key, region=region, sector=sector)
    if row is None:
        result = conn.execute(insert(partnerships).values(
            partnership_id=partnership_id or None, contact_name=contact_name, contact_email=contact_email,
            verified=bool(partnership_id), **values))
        return int(result.inserted_primary_key[0])
    if from_roster:  # the office's latest details win; a roster never blanks a contact
        conn.execute(update(partnerships).where(partnerships.c.pk == row.pk).values(
            contact_name=contact_name or row.contact_name, contact_email=contact_email or row.contact_email, **values))
    return int(row.pk)


def _add_all(conn: Connection, new: Sequence[NewSubmission]) -> list[tuple[int, list[Problem]]]:
    """Insert whole files in bulk (a handful of statements per call, not per row)."""
    labels = {n.round_label for n in new if n.round_label is not None}
    known = set(conn.execute(select(rounds.c.label).where(rounds.c.label.in_(labels))).scalars())
    if labels - known:
        conn.execute(insert(rounds), [dict(label=label, created_at=now(), rubric_hash=None) for label in sorted(labels - known)])

    owners = [_owner(n) for n in new]
    pks = _partnership_pks(conn, [o for o in owners if o is not None])
    owner_pk = [pks[o[:2]] if o is not None else None for o in owners]

    # The current submission of each (partnership, round): stored ones first, then this call's in order.
    involved = {pk for pk in owner_pk if pk is not None}
    current: dict[tuple[int, str | None], dict] = {}
    if involved:
        for row in conn.execute(select(submissions.c.pk, submissions.c.partnership_pk, submissions.c.round_label,
                                       submissions.c.file_name, submissions.c.received_at)
                                .where(and_(submissions.c.partnership_pk.in_(involved), submissions.c.is_current.is_(True)))):
            current[(row.partnership_pk, row.round_label)] = dict(pk=row.pk, file_name=row.file_name,
                                                                   received_at=row.received_at, row=None)
    rows, notes_all, replaced = [], [], []
    stored_at = now()  # the transaction's time, for every file in it
    for n, pk_partnership in zip(new, owner_pk):
        notes: list[Problem] = []
        is_current, reason = False, "rejected" if n.status == "rejected" else "not identified: no partnership name"
        if n.status != "rejected" and pk_partnership is not None:
            key = (pk_partnership, n.round_label)
            earlier = current.get(key)
            if earlier is None:
                is_current, reason = True, "the first file received for this partnership and round"
            elif n.received_at >= earlier["received_at"]:
                is_current = True
                reason = f"received after {earlier['file_name']} ({earlier['received_at']}), which it replaces"
                old_reason = f"replaced by {n.file_name}, received later ({n.received_at})"
                if earlier["row"] is not None:  # stored earlier in this same call
                    earlier["row"].update(is_current=False, current_reason=old_reason)
                else:
                    replaced.append(dict(b_pk=earlier["pk"], b_reason=old_reason))
                ident = n.identity
                who = (ident.partnership_id or ident.partnership_name) if ident else "?"
                notes.append(problem("MG-STORE-002", n.file_name, file=earlier["file_name"], when=earlier["received_at"],
                                     partnership=who, round=n.round_label or "(none)"))
            else:
                reason = f"received before {earlier['file_name']} ({earlier['received_at']}), which stays current"
        overall = next((sc for sc in n.scores if sc.dimension_id == ""), None)
        r = n.respondent
        row = dict(
            file_name=n.file_name, sha256=n.sha256, size=n.size, received_at=n.received_at, scored_at=stored_at,
            status=n.status, kind=n.kind, identity_source=n.identity_source, verified=n.verified,
            partnership_pk=pk_partnership, round_label=n.round_label, rubric_hash=n.rubric_hash,
            archive_path=n.archive_path, is_current=is_current, current_reason=reason,
            respondent_name=r.get("respondent_name", ""), respondent_role=r.get("respondent_role", ""),
            respondent_email=r.get("respondent_email", ""), completed_on=r.get("completed_on", ""),
            overall_stage=overall.stage_id if overall else None,
            points=overall.points if overall else None, possible=overall.possible if overall else None,
        )
        if is_current:
            current[(pk_partnership, n.round_label)] = dict(pk=None, file_name=n.file_name, received_at=n.received_at, row=row)
        rows.append(row)
        notes_all.append(notes)

    if replaced:
        conn.execute(update(submissions).where(submissions.c.pk == bindparam("b_pk"))
                     .values(is_current=False, current_reason=bindparam("b_reason")), replaced)
    # In bulk, then each pk found again by its sha256 (unique): RETURNING is not on every backend,
    # and an INSERT per file cost more than everything else stored with it.
    columns = list(rows[0]) if rows else []
    _bulk_insert(conn, submissions, columns, [tuple(row.values()) for row in rows])
    pk_of: dict[str, int] = {}
    for chunk in _chunks([row["sha256"] for row in rows], 500):
        pk_of.update(conn.execute(select(submissions.c.sha256, submissions.c.pk)
                                  .where(submissions.c.sha256.in_(chunk))).all())
    sub_pks = [int(pk_of[row["sha256"]]) for row in rows]
    answer_rows, score_rows, problem_rows = [], [], []
    steps_json: dict[tuple[str, ...], str] = {}  # next steps repeat across files: one json.dumps each
    for pk, n, notes in zip(sub_pks, new, notes_all):
        answer_rows += [(pk, a.criterion_id, a.raw, a.answer, a.points, a.met, a.evidence, a.cell) for a in n.answers]
        for sc in n.scores:
            steps = steps_json.get(sc.next_steps)
            if steps is None:
                steps = steps_json[sc.next_steps] = json.dumps(list(sc.next_steps))
            score_rows.append((pk, sc.dimension_id, sc.stage_id, sc.next_stage_id, steps, sc.points, sc.possible))
        problem_rows += [(pk, i, p.code, p.severity.value, p.location, p.message)
                         for i, p in enumerate([*n.problems, *notes])]
    _bulk_insert(conn, answers, ANSWER_COLUMNS, answer_rows)
    _bulk_insert(conn, scores, SCORE_COLUMNS, score_rows)
    _bulk_insert(conn, problems, PROBLEM_COLUMNS, problem_rows)
    return list(zip(sub_pks, notes_all))


ANSWER_COLUMNS = ("submission_pk", "criterion_id", "raw", "answer", "points", "met", "evidence", "cell")
SCORE_COLUMNS = ("submission_pk", "dimension_id", "stage_id", "next_stage_id", "next_steps", "points", "possible")
PROBLEM_COLUMNS = ("submission_pk", "seq", "code", "severity", "location", "message")


def _bulk_insert(conn: Connection, table: Table, columns: Sequence[str], rows: list[tuple]) -> None:
    """executemany straight to the driver, one tuple a row in ``columns`` order: ~25 rows per file,
    and SQLAlchemy's per-row parameter processing would cost more than the rest of storing them.
    The statement is still compiled by SQLAlchemy for the connection's dialect and runs inside
    the same transaction."""
    if not rows:
        return
    sql, order = _insert_sql(conn.dialect, table, tuple(columns))
    if order is None:  # named parameters (e.g. psycopg's %(name)s)
        conn.exec_driver_sql(sql, [dict(zip(columns, row)) for row in rows])
        return
    if order != tuple(range(len(columns))):
        rows = [tuple(row[i] for i in order) for row in rows]
    if conn.dialect.paramstyle == "qmark" and sql.endswith(_qmarks(len(columns))):
        # SQLite: many rows per INSERT ... VALUES (...), (...) take ~30% less time than one each.
        per = min(MULTI_ROWS, SQLITE_MAX_PARAMETERS // len(columns))
        whole = len(rows) - len(rows) % per
        if whole:
            many = sql[:-len(_qmarks(len(columns)))] + ", ".join([_qmarks(len(columns))] * per)
            conn.exec_driver_sql(many, [tuple(chain.from_iterable(rows[i:i + per])) for i in range(0, whole, per)])
        rows = rows[whole:]
        if not rows:
            return
    conn.exec_driver_sql(sql, rows)


MULTI_ROWS = 100
SQLITE_MAX_PARAMETERS = 999  # the lowest limit any SQLite build has


def _qmarks(count: int) -> str:
    return "(" + ", ".join(["?"] * count) + ")"


@lru_cache(maxsize=64)
def _insert_sql(dialect, table: Table, columns: tuple[str, ...]) -> tuple[str, tuple[int, ...] | None]:
    """The INSERT for ``columns`` (every column it needs a value for) in the dialect's own SQL, and
    for positional parameter styles where each column's value goes; compiled once per dialect,
    table and columns."""
    compiled = insert(table).compile(dialect=dialect, column_keys=list(columns))
    if compiled.positiontup is None:
        return str(compiled), None
    return str(compiled), tuple(columns.index(key) for key in compiled.positiontup)


def _owner(n: NewSubmission) -> tuple[str, str, Identity] | None:
    """Whose submission this is: ('id', partnership id) when signed, ('name', folded name) when typed.

    A rejected file is linked only when its signature verified (e.g. an unknown rubric version),
    so staff see whose it was; an unverified claim is linked to no one."""
    ident = n.identity
    if ident is None:
        return None
    if ident.partnership_id and n.verified:
        return ("id", ident.partnership_id, ident)
    if n.status != "rejected" and ident.partnership_name:
        return ("name", normalise_answer_text(ident.partnership_name), ident)
    return None


def _partnership_pks(conn: Connection, owners: list[tuple[str, str, Identity]]) -> dict[tuple[str, str], int]:
    """pk of every owner, creating the partnerships not yet known (a return never updates one)."""
    ids = {o[1] for o in owners if o[0] == "id"}
    names = {o[1] for o in owners if o[0] == "name"}

    def lookup() -> dict[tuple[str, str], int]:
        found: dict[tuple[str, str], int] = {}
        if ids:
            found.update((("id", pid), pk) for pk, pid in conn.execute(
                select(partnerships.c.pk, partnerships.c.partnership_id).where(partnerships.c.partnership_id.in_(ids))))
        if names:
            found.update((("name", key), pk) for pk, key in conn.execute(
                select(partnerships.c.pk, partnerships.c.name_key).where(and_(
                    partnerships.c.partnership_id.is_(None), partnerships.c.name_key.in_(names)))))
        return found

    found = lookup()
    missing: dict[tuple[str, str], dict] = {}
    for kind, key, ident in owners:
        if (kind, key) not in found and (kind, key) not in missing:
            missing[(kind, key)] = dict(
                partnership_id=key if kind == "id" else None, name=ident.partnership_name,
                name_key=normalise_answer_text(ident.partnership_name), region=ident.region, sector=ident.sector,
                contact_name="", contact_email="", verified=kind == "id")
    if missing:
        rows = list(missing.values())
        _bulk_insert(conn, partnerships, list(rows[0]), [tuple(row.values()) for row in rows])
        found = lookup()
    return found


# --- rows -> dataclasses ---------------------------------------------------------------------------


def _partnership(row) -> PartnershipInfo:
    m = row._mapping
    return PartnershipInfo(m["pk"], m["partnership_id"], m["name"], m["region"], m["sector"], m["contact_name"],
                           m["contact_email"], bool(m["verified"]))


def _submission(m) -> SubmissionInfo:
    p = None
    if m["p_pk"] is not None:
        p = PartnershipInfo(m["p_pk"], m["p_partnership_id"], m["p_name"], m["p_region"], m["p_sector"],
                            m["p_contact_name"], m["p_contact_email"], bool(m["p_verified"]))
    return SubmissionInfo(
        pk=m["pk"], file_name=m["file_name"], sha256=m["sha256"], size=m["size"], received_at=m["received_at"],
        scored_at=m["scored_at"], status=m["status"], kind=m["kind"], identity_source=m["identity_source"],
        verified=bool(m["verified"]), partnership=p, round_label=m["round_label"], rubric_hash=m["rubric_hash"],
        archive_path=m["archive_path"], current=bool(m["is_current"]), current_reason=m["current_reason"],
        respondent_name=m["respondent_name"], respondent_role=m["respondent_role"],
        respondent_email=m["respondent_email"], completed_on=m["completed_on"], overall_stage=m["overall_stage"],
        points=m["points"], possible=m["possible"],
    )


def _in_rubric_order(found: list[AnswerInfo], rubric: Rubric | None) -> list[AnswerInfo]:
    if rubric is None:
        return sorted(found, key=lambda a: a.criterion_id)
    order = {c.id: i for i, c in enumerate(rubric.criteria)}
    return sorted(found, key=lambda a: order.get(a.criterion_id, len(order)))


def _scores_in_order(found: list[ScoreInfo], rubric: Rubric | None) -> list[ScoreInfo]:
    order = {"": -1, **({d.id: i for i, d in enumerate(rubric.dimensions)} if rubric else {})}
    return sorted(found, key=lambda s: (order.get(s.dimension_id, len(order)), s.dimension_id))


def _chunks(items: Sequence, size: int) -> Iterator[Sequence]:
    for i in range(0, len(items), size):
        yield items[i:i + size]
