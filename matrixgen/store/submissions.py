"""The store's submissions: every returned file with its answers, scores and problems, as read back."""

from __future__ import annotations

import json
from typing import Sequence

from sqlalchemy import and_, select
from sqlalchemy.engine import Engine

from ..errors import Problem, Severity
from ..rubric import Rubric
from .model import AnswerInfo, NewSubmission, PartnershipInfo, ScoreInfo, SubmissionDetail, SubmissionInfo
from .schema import answers, partnerships, problems, rounds, scores, submissions
from .writing import add_all, chunks


class SubmissionsMixin:
    engine: Engine

    # --- submissions ---

    def find(self, sha256: str) -> SubmissionInfo | None:
        """The submission stored for these exact bytes, if any."""
        return self.find_many([sha256]).get(sha256)

    def find_many(self, sha256s: Sequence[str]) -> dict[str, SubmissionInfo]:
        found: dict[str, SubmissionInfo] = {}
        for chunk in chunks(list(sha256s), 500):
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
        with self.engine.connect() as conn:
            opened = dict(conn.execute(select(rounds.c.label, rounds.c.seq)).all())
        return sorted(found, key=lambda s: (opened.get(s.round_label, 0), s.round_label or "", s.received_at))

    def submission(self, pk: int) -> SubmissionDetail | None:
        found = self.details([pk])
        return found[0] if found else None

    def details(self, pks: Sequence[int]) -> list[SubmissionDetail]:
        """Submissions by pk, with answers, scores and problems."""
        infos: list[SubmissionInfo] = []
        for chunk in chunks(list(pks), 500):
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
            for chunk in chunks(pks, 500):
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
            pks_notes = add_all(conn, new)
        stored = {s.pk: s for s in self._submissions(submissions.c.pk.in_([pk for pk, _ in pks_notes]))} if new else {}
        return [(stored[pk], notes) for pk, notes in pks_notes]


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
        points=m["points"], possible=m["possible"], claimed_id=m["claimed_id"], claimed_name=m["claimed_name"],
    )


def _in_rubric_order(found: list[AnswerInfo], rubric: Rubric | None) -> list[AnswerInfo]:
    if rubric is None:
        return sorted(found, key=lambda a: a.criterion_id)
    order = {c.id: i for i, c in enumerate(rubric.criteria)}
    return sorted(found, key=lambda a: order.get(a.criterion_id, len(order)))


def _scores_in_order(found: list[ScoreInfo], rubric: Rubric | None) -> list[ScoreInfo]:
    order = {"": -1, **({d.id: i for i, d in enumerate(rubric.dimensions)} if rubric else {})}
    return sorted(found, key=lambda s: (order.get(s.dimension_id, len(order)), s.dimension_id))
