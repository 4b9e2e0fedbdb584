"""The store's rounds: rubric versions, rounds that open and close, rosters, issued workbooks, reports.

Only ``open_round`` creates a round. Everything else that names one (issuing workbooks, scoring,
reports) works on rounds the office opened, so a typo or a generic blank can never make a stray
round that then becomes everyone's default.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

from sqlalchemy import and_, delete, func, insert, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from ..errors import problem
from ..files import valid_label
from ..roster import Partnership
from ..rubric import Rubric, normalise_answer_text, rubric_from_canonical
from .model import (
    CLOSED, OPEN, WAITING, IssuedInfo, PartnershipInfo, ReportInfo, RosterChange, RoundInfo, StoreError, now,
)
from .schema import issued, partnerships, reports, review_items, roster, rounds, rubric_versions, submissions


def check_label(value: str, where: str) -> None:
    """The one label rule (files.valid_label), enforced where the store is written too."""
    if not valid_label(value):
        raise StoreError(problem("MG-STORE-007", where, value=value))


class RoundsMixin:
    engine: Engine

    # --- rubric versions ---

    def record_rubric(self, rubric: Rubric) -> None:
        try:
            with self.engine.begin() as conn:
                _ensure_rubric(conn, rubric)
        except IntegrityError:
            # Another writer (a second upload, or `score` beside the web app) recorded it between our
            # look and our insert: it is there, which is all this asks.
            pass

    def rubric(self, content_hash: str) -> Rubric | None:
        with self.engine.connect() as conn:
            found = conn.execute(select(rubric_versions.c.canonical_json)
                                 .where(rubric_versions.c.hash == content_hash)).scalar()
        return rubric_from_canonical(found) if found else None

    def rubrics(self) -> dict[str, Rubric]:
        """Every rubric version the office has used, by content hash."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(rubric_versions.c.hash, rubric_versions.c.canonical_json)).all()
        return {h: rubric_from_canonical(found) for h, found in rows}

    # --- rounds ---

    def open_round(self, round_label: str, members: Iterable, due: str | None = None) -> RosterChange:
        """Open round ``round_label`` (or update an open one) and make ``members`` (roster.Partnership)
        exactly its roster: the ids stay the partnerships' across rounds, their details are updated,
        and a partnership left out is no longer in this round (its history is kept).
        ``due=None`` keeps the round's due date."""
        check_label(round_label, "round")
        members = list(members)
        for p in members:
            check_label(p.id, "partnership id")
        with self.engine.begin() as conn:
            if conn.execute(select(rounds.c.label).where(rounds.c.label == round_label)).first() is None:
                seq = (conn.execute(select(func.max(rounds.c.seq))).scalar() or 0) + 1
                conn.execute(insert(rounds).values(label=round_label, created_at=now(), rubric_hash=None, due="",
                                                   seq=seq, state=OPEN, closed_at=""))
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

    def set_round_state(self, round_label: str, state: str) -> RoundInfo:
        """Close a round (a return that arrives later waits for review as late) or reopen it."""
        assert state in (OPEN, CLOSED)
        with self.engine.begin() as conn:
            conn.execute(update(rounds).where(rounds.c.label == round_label)
                         .values(state=state, closed_at=now() if state == CLOSED else ""))
        found = self.round(round_label)
        if found is None:
            raise StoreError(problem("MG-STORE-006", "round", value=round_label, known=self._known_rounds()))
        return found

    def delete_round(self, round_label: str) -> int:
        """Delete a round nothing was returned for (a mistyped one); returns how many returns it has,
        and deletes nothing unless that is 0. Issued workbooks of the round are forgotten with it."""
        with self.engine.begin() as conn:
            returned = conn.execute(select(func.count()).select_from(submissions)
                                    .where(submissions.c.round_label == round_label)).scalar() or 0
            returned += conn.execute(select(func.count()).select_from(review_items).where(
                review_items.c.round_label == round_label)).scalar() or 0
            if returned:
                return int(returned)
            conn.execute(delete(issued).where(issued.c.round_label == round_label))
            conn.execute(delete(roster).where(roster.c.round_label == round_label))
            conn.execute(delete(reports).where(reports.c.round_label == round_label))
            conn.execute(delete(rounds).where(rounds.c.label == round_label))
        return 0

    def rounds(self) -> list[RoundInfo]:
        """Every round, newest first (by when it was opened)."""
        with self.engine.connect() as conn:
            size = select(func.count()).select_from(roster).where(roster.c.round_label == rounds.c.label).scalar_subquery()
            subs = select(func.count()).select_from(submissions).where(
                submissions.c.round_label == rounds.c.label).scalar_subquery()
            returned = select(func.count()).select_from(submissions).where(and_(
                submissions.c.round_label == rounds.c.label, submissions.c.is_current.is_(True))).scalar_subquery()
            rows = conn.execute(select(rounds.c.label, rounds.c.created_at, rounds.c.rubric_hash, size, subs, returned,
                                       rounds.c.due, rounds.c.state, rounds.c.closed_at, rounds.c.seq)
                                .order_by(rounds.c.seq.desc(), rounds.c.created_at.desc())).all()
        return [RoundInfo(*row) for row in rows]

    def round(self, round_label: str) -> RoundInfo | None:
        return next((r for r in self.rounds() if r.label == round_label), None)

    def latest_round(self) -> str | None:
        """The newest round, open or closed."""
        found = self.rounds()
        return found[0].label if found else None

    def newest_open_round(self) -> str | None:
        """What commands default to: the round opened last among those still open."""
        return next((r.label for r in self.rounds() if r.open), None)

    def _known_rounds(self) -> str:
        return ", ".join(r.label for r in self.rounds()) or "none yet"

    def require_round(self, round_label: str) -> RoundInfo:
        found = self.round(round_label)
        if found is None:
            raise StoreError(problem("MG-STORE-006", "round", value=round_label, known=self._known_rounds()))
        return found

    def waiting_counts(self) -> dict[str | None, int]:
        """Review items waiting, per round (None: no round known)."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(func.coalesce(review_items.c.suggested_round, review_items.c.round_label),
                                       func.count()).where(review_items.c.state == WAITING).group_by(
                func.coalesce(review_items.c.suggested_round, review_items.c.round_label))).all()
        return {label: int(n) for label, n in rows}

    # --- rosters, partnerships ---

    def roster(self, round_label: str) -> list[PartnershipInfo]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(*partnerships.c).join(roster, roster.c.partnership_pk == partnerships.c.pk)
                                .where(roster.c.round_label == round_label)
                                .order_by(partnerships.c.partnership_id)).all()
        return [_partnership(r) for r in rows]

    def members(self, round_label: str) -> tuple[Partnership, ...]:
        """The round's roster as roster rows (partnerships with an office id): what generate
        issues workbooks to and send writes to."""
        return tuple(Partnership(p.partnership_id, p.name, p.region, p.sector, p.contact_name, p.contact_email)
                     for p in self.roster(round_label) if p.partnership_id)

    def not_returned(self, round_label: str) -> list[PartnershipInfo]:
        """Roster partnerships of the round with no current submission (rejected ones count as not returned)."""
        with self.engine.connect() as conn:
            returned = set(conn.execute(select(submissions.c.partnership_pk).where(and_(
                submissions.c.round_label == round_label, submissions.c.is_current.is_(True)))).scalars())
        return [p for p in self.roster(round_label) if p.pk not in returned]

    def partnership(self, partnership_id: str) -> PartnershipInfo | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(*partnerships.c).where(partnerships.c.partnership_id == partnership_id)).first()
        return _partnership(row) if row else None

    def partnerships(self) -> list[PartnershipInfo]:
        """Every partnership the office issued to, by id."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(*partnerships.c).where(partnerships.c.partnership_id.is_not(None))
                                .order_by(partnerships.c.partnership_id)).all()
        return [_partnership(r) for r in rows]

    # --- issued workbooks ---

    def record_issue(self, round_label: str | None, rubric: Rubric, issued_files: Iterable) -> None:
        """Record a ``generate`` run: the rubric version and which workbook (by sha256) went to which
        partnership, in an open round (added to its roster if missing) or in none (``round_label``
        None or ''). ``issued_files`` are ``generate.Generated``. Never creates a round."""
        round_label = round_label or None
        if round_label is not None:
            self.require_round(round_label)
        with self.engine.begin() as conn:
            _ensure_rubric(conn, rubric)
            if round_label is not None:
                conn.execute(update(rounds).where(and_(rounds.c.label == round_label, rounds.c.rubric_hash.is_(None)))
                             .values(rubric_hash=rubric.content_hash))
            for made in issued_files:
                pk = None
                if made.partnership is not None:
                    p = made.partnership
                    check_label(p.id, "partnership id")
                    pk = _ensure_partnership(conn, p.id, p.name, p.region, p.sector, p.contact_name, p.contact_email,
                                             from_roster=True)
                    if round_label is not None and conn.execute(select(roster.c.partnership_pk).where(and_(
                            roster.c.round_label == round_label, roster.c.partnership_pk == pk))).first() is None:
                        conn.execute(insert(roster).values(round_label=round_label, partnership_pk=pk))
                values = dict(round_label=round_label, partnership_pk=pk, rubric_hash=rubric.content_hash,
                              file_name=Path(made.path).name, generated_at=made.identity.generated_at,
                              path=str(Path(made.path).resolve()))
                if conn.execute(select(issued.c.sha256).where(issued.c.sha256 == made.sha256)).first():
                    conn.execute(update(issued).where(issued.c.sha256 == made.sha256).values(**values))
                else:
                    conn.execute(insert(issued).values(sha256=made.sha256, **values))

    def issued(self, round_label: str | None = None) -> list[IssuedInfo]:
        with self.engine.connect() as conn:
            query = (select(issued.c.sha256, issued.c.round_label, partnerships.c.partnership_id, partnerships.c.name,
                            issued.c.rubric_hash, issued.c.file_name, issued.c.generated_at, issued.c.path)
                     .select_from(issued.outerjoin(partnerships, partnerships.c.pk == issued.c.partnership_pk))
                     .order_by(issued.c.round_label, issued.c.file_name))
            if round_label is not None:
                query = query.where(issued.c.round_label == round_label)
            rows = conn.execute(query).all()
        return [IssuedInfo(r[0], r[1] or "", r[2], r[3] or "", r[4], r[5], r[6], r[7]) for r in rows]

    # --- rendered reports ---

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


# --- writing, inside one transaction --------------------------------------------------------------


def _ensure_rubric(conn: Connection, rubric: Rubric) -> None:
    if conn.execute(select(rubric_versions.c.hash).where(rubric_versions.c.hash == rubric.content_hash)).first():
        return
    conn.execute(insert(rubric_versions).values(
        hash=rubric.content_hash, rubric_id=rubric.id, version=rubric.version, title=rubric.title,
        canonical_json=rubric.canonical_json(), recorded_at=now()))


def _ensure_partnership(conn: Connection, partnership_id: str, name: str, region: str = "", sector: str = "",
                        contact_name: str = "", contact_email: str = "", *, from_roster: bool = False) -> int:
    """The partnership's pk by the office's id, added if new.

    Only a roster (``from_roster``) updates an existing partnership's details: a returned
    workbook carries the details as they were when it was issued."""
    row = conn.execute(select(partnerships.c.pk, partnerships.c.contact_name, partnerships.c.contact_email)
                       .where(partnerships.c.partnership_id == partnership_id)).first()
    values = dict(name=name, name_key=normalise_answer_text(name), region=region, sector=sector)
    if row is None:
        result = conn.execute(insert(partnerships).values(
            partnership_id=partnership_id, contact_name=contact_name, contact_email=contact_email, verified=True,
            **values))
        return int(result.inserted_primary_key[0])
    if from_roster:  # the office's latest details win; a roster never blanks a contact
        conn.execute(update(partnerships).where(partnerships.c.pk == row.pk).values(
            contact_name=contact_name or row.contact_name, contact_email=contact_email or row.contact_email, **values))
    return int(row.pk)


def _partnership(row) -> PartnershipInfo:
    m = row._mapping
    return PartnershipInfo(m["pk"], m["partnership_id"], m["name"], m["region"], m["sector"], m["contact_name"],
                           m["contact_email"], bool(m["verified"]))
