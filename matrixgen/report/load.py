"""The store -> view models: ``load_reports`` reads a round, ``write_stored_reports`` writes and
records its PDFs, ``render_missing_reports`` fills the gaps before ``send reports``."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterable, Mapping, Sequence

from ..errors import Problem, Severity, has_errors, problem
from ..roster import Partnership
from ..rubric import Rubric
from ..score import Score
from ..score import score as score_answers
from .model import Answer, PartnershipReportData, PastRound, PortfolioData, PortfolioRow, natural, peer_counts
from .render import ReportFile, write_reports


# --- from the store ---------------------------------------------------------------------------


@dataclass(frozen=True)
class StoredReports:
    """What ``matrixgen report`` renders for one round, read from the store."""

    round: str
    reports: tuple[PartnershipReportData, ...]
    portfolio: PortfolioData | None
    problems: tuple[Problem, ...] = ()  # unknown round or partnership, nothing to report, ...
    recordable: frozenset[str] = frozenset()  # partnership ids the office issued (others were typed)

    @property
    def ok(self) -> bool:
        return not has_errors(self.problems)


def _stored_answers(detail) -> dict[str, Answer]:
    return {a.criterion_id: Answer(a.answer, a.evidence) for a in detail.answers}


def _rescore(rubric: Rubric, given: Mapping[str, Answer]) -> Score:
    # Scoring is pure and the rubric version is the submission's own, so this is the stored score;
    # rebuilding it gives the report the full Score (met set, unanswered, next steps).
    return score_answers(rubric, {cid: rubric.match_response(a.label) if a.label else None for cid, a in given.items()})


def _report_id(info) -> str:
    """The office's id, or ``unlisted-<n>`` for a partnership known only by a typed name."""
    p = info.partnership
    return p.partnership_id or f"unlisted-{p.pk}"


def load_reports(store, round_label: str | None = None, partnership_ids: Sequence[str] = (),
                 generated_at: datetime | None = None) -> StoredReports:
    """Build the view models of a round from the store: every partnership with a current
    submission (or those in ``partnership_ids``), their earlier rounds, and the portfolio.

    ``round_label`` None means the newest round. Problems (an unknown round or id) come back in
    ``problems``; nothing is raised for them.
    """
    generated_at = generated_at or datetime.now(timezone.utc)
    known_rounds = [r for r in store.rounds() if r.label]  # newest first
    if not round_label:
        if not known_rounds:
            return StoredReports("", (), None, (problem("MG-REPORT-009", "", where=""),))
        info = known_rounds[0]
    else:
        info = next((r for r in known_rounds if r.label == round_label), None)
        if info is None:
            known = ", ".join(r.label for r in known_rounds) or "none yet"
            return StoredReports(round_label, (), None, (problem("MG-REPORT-007", "--round", value=round_label,
                                                                 known=known),))
    label = info.label
    order = [r.label for r in reversed(known_rounds)]  # oldest first
    earlier = order[: order.index(label)]

    rubrics: dict[str, Rubric | None] = {}

    def rubric_of(content_hash: str | None) -> Rubric | None:
        if content_hash and content_hash not in rubrics:
            rubrics[content_hash] = store.rubric(content_hash)
        return rubrics.get(content_hash or "")

    notes: list[Problem] = []
    current = []
    for detail in store.results(label):
        rubric = rubric_of(detail.info.rubric_hash)
        if rubric is None or detail.info.partnership is None:
            notes.append(problem("MG-REPORT-010", detail.info.file_name))
            continue
        given = _stored_answers(detail)
        current.append((detail, rubric, given, _rescore(rubric, given)))
    if not current:
        return StoredReports(label, (), None, (*notes, problem("MG-REPORT-009", "", where=f" in round {label}")))

    ids = {_report_id(d.info): d for d, *_ in current}
    unknown = [pid for pid in partnership_ids if pid not in ids]
    if unknown:
        found = tuple(problem("MG-REPORT-008", "--partnership", value=pid, round=label,
                              known=", ".join(sorted(ids, key=natural)[:20]) + (", …" if len(ids) > 20 else ""))
                      for pid in unknown)
        return StoredReports(label, (), None, (*notes, *found))

    # Earlier rounds of the partnerships in this one: current submissions only, fetched at once.
    wanted = {d.info.partnership.pk for d, *_ in current}
    past_infos = [s for s in store.submissions(current_only=True)
                  if s.round_label in earlier and s.partnership and s.partnership.pk in wanted]
    past_by_pk: dict[int, dict[str, PastRound]] = {}
    for detail in store.details([s.pk for s in past_infos]):
        rubric = rubric_of(detail.info.rubric_hash)
        if rubric is None:
            continue
        given = _stored_answers(detail)
        past_by_pk.setdefault(detail.info.partnership.pk, {})[detail.info.round_label] = PastRound(
            detail.info.round_label, _rescore(rubric, given), given)

    main_rubric = rubric_of(info.rubric_hash) or Counter(r for _, r, _, _ in current).most_common(1)[0][0]
    stage_ids = {s.id for s in main_rubric.stages}
    peers = peer_counts(main_rubric, [s for _, _, _, s in current if s.stage_id is None or s.stage_id in stage_ids])

    def partnership_of(detail) -> Partnership:
        p = detail.info.partnership
        return Partnership(_report_id(detail.info), p.name, p.region, p.sector, p.contact_name, p.contact_email)

    def status_of(detail) -> str:
        return "complete" if detail.info.status == "scored" else detail.info.status

    def shown(found: Iterable[Problem]) -> tuple[Problem, ...]:
        return tuple(x for x in found if x.severity is not Severity.NOTE)

    chosen = set(partnership_ids) if partnership_ids else set(ids)
    reports = []
    for detail, rubric, given, result in current:
        pid = _report_id(detail.info)
        if pid not in chosen:
            continue
        history = past_by_pk.get(detail.info.partnership.pk, {})
        who = ", ".join(x for x in (detail.info.respondent_name, detail.info.respondent_role) if x)
        reports.append(PartnershipReportData(
            rubric=rubric, partnership=partnership_of(detail), round=label, score=result, answers=given,
            received_at=detail.info.received_at, respondent=who, sha256=detail.info.sha256,
            status=status_of(detail), problems=shown(detail.problems),
            history=tuple(history[r] for r in earlier if r in history),
            peers=peers if rubric.content_hash == main_rubric.content_hash else None,
            generated_at=generated_at,
        ))

    previous = earlier[-1] if earlier else None
    rows = []
    for detail, _, _, result in current:
        before = past_by_pk.get(detail.info.partnership.pk, {}).get(previous) if previous else None
        rows.append(PortfolioRow(
            partnership_of(detail), result.stage_id, result.progress, status_of(detail), len(shown(detail.problems)),
            before.score.stage_id if before else None, before.score.progress if before else None))
    not_returned = None
    if info.roster_size:
        not_returned = tuple(Partnership(p.partnership_id or "", p.name, p.region, p.sector)
                             for p in store.not_returned(label))
    portfolio = PortfolioData(
        main_rubric, label, tuple(rows), previous, not_returned,
        tuple((_report_id(d.info), x) for d, *_ in current for x in shown(d.problems)), generated_at)
    recordable = frozenset(_report_id(d.info) for d, *_ in current if d.info.partnership.partnership_id)
    return StoredReports(label, tuple(reports), portfolio, tuple(notes), recordable)


def write_stored_reports(store, loaded: StoredReports, out: str | Path, *, portfolio: bool = True,
                         workers: int | None = None,
                         on_done: Callable[[ReportFile], None] | None = None) -> list[ReportFile]:
    """Write the reports ``load_reports`` found and record each partnership PDF in the store
    (``send reports`` attaches the newest one per round and partnership)."""
    files = write_reports(loaded.reports, out, loaded.portfolio if portfolio else None,
                          workers=workers, on_done=on_done)
    for f in files:
        if f.ok and f.partnership_id in loaded.recordable:
            store.record_report(loaded.round, f.partnership_id, f.path, f.sha256)
    return files


def render_missing_reports(store, round_label: str, out: str | Path, partnership_ids: Sequence[str] = (),
                           workers: int | None = None) -> list[ReportFile]:
    """Render the partnership reports a round still lacks, so that `send reports` has one for
    every current submission: none recorded, its file gone, or older than the submission."""
    missing = missing_reports(store, round_label, partnership_ids)
    if not missing:
        return []
    loaded = load_reports(store, round_label, missing)
    return write_stored_reports(store, loaded, out, portfolio=False, workers=workers)


def missing_reports(store, round_label: str, partnership_ids: Sequence[str] = ()) -> list[str]:
    """The partnerships (of ``partnership_ids``, or all) whose current submission has no report
    yet: none recorded, its file gone, or older than the submission."""
    recorded = store.reports(round_label)
    wanted = set(partnership_ids)
    missing = []
    for s in store.submissions(round_label, current_only=True):
        pid = s.partnership.partnership_id if s.partnership is not None else None
        if not pid or (wanted and pid not in wanted):
            continue
        have = recorded.get(pid)
        if have is None or not Path(have.path).exists() or str(have.rendered_at) < str(s.scored_at):
            missing.append(pid)
    return missing
