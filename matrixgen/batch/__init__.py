"""A folder of returned files -> read, scored, matched, archived and stored; one outcome per file.

``score_paths`` is the library entry point (the CLI and the benchmark call it). Reading and
scoring are pure and run in a process pool for big batches; the main process does the I/O:
hashing, the archive copy and the store, in transactions that hold whole files only, so a run
that is killed leaves the store consistent and running it again completes it. ``reading.py`` is
the half that needs no store; this module matches what it read (match.py) and stores it.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, Mapping

from .. import interrupt
from ..errors import Problem, Severity, problem
from ..read import DEFAULT_LIMITS, Limits
from ..rubric import Rubric
from ..score import stage_label

from .outcomes import STATUSES, BatchResult, Outcome
from .reading import (
    Assessed, Reading, _Context, _Loaded, _work, archive_copy, assess, assessed, collect, read_paths, replace_location,
)

if TYPE_CHECKING:
    from ..store import NewSubmission, Store, SubmissionDetail, SubmissionInfo

CHUNK_FILES = 250  # files per store transaction (each transaction holds whole files only)
KEY_NOTE_MIN_FILES = 2  # signatures refused, none verified: blame the office's key, not the respondents

__all__ = ["STATUSES", "Assessed", "BatchResult", "Outcome", "Reading", "archive_copy", "assess", "assessed",
           "collect", "read_paths", "replace_location", "score_paths", "store_results"]


def score_paths(
    paths: Iterable[str | Path],
    store: Store,
    rubric: Rubric,
    key: bytes,
    archive_dir: str | Path,
    *,
    round_label: str = "",
    limits: Limits = DEFAULT_LIMITS,
    workers: int | None = None,
    progress: Callable[[Outcome], None] | None = None,
) -> BatchResult:
    """Score every file under ``paths`` into ``store``; returns one Outcome per file, in order.

    ``rubric`` is the current rubric (recorded in the store if it is not yet); files made from
    any rubric version the store knows are scored with that version. ``workers``: processes for
    reading (default: one per CPU for big batches, none for small ones).
    """
    store.record_rubric(rubric)
    with read_paths(paths, rubric, key, archive_dir, round_label=round_label, limits=limits, workers=workers,
                    rubrics=store.rubrics(), start=False) as reading:
        return store_results(reading, store, progress=progress)


def store_results(reading: Reading, store: Store, *, senders: Mapping[str, str] | None = None,
                  progress: Callable[[Outcome], None] | None = None) -> BatchResult:
    """Match what ``reading`` finds to partnerships and rounds (match.py), then store it, whole files
    per transaction; returns one Outcome per file, in order.

    A file whose bytes are stored already is reported as a duplicate and not stored again. Matching
    waits for every file to be read: one partnership's several files in one batch go to review
    together. ``senders`` (file name as shown -> the email address it came from) is evidence for
    matching: a sender who is another partnership's contact sends the file to review, and a
    rejected file is attributed to its sender's partnership."""
    from ..match import Context, Returned, match_batch
    from ..store import AnswerInfo, NewSubmission, ScoreInfo

    store.record_rubric(reading.rubric)
    rubrics = store.rubrics()
    outcomes: dict[int, Outcome] = dict(reading.failed)
    for outcome in reading.failed.values():
        _tell(progress, outcome)
    stored = store.find_many([item.sha256 for item in reading.loaded])
    earlier = {d.info.sha256: d for d in store.details([s.pk for s in stored.values()])}
    seen: dict[str, str] = {}
    wanted: set[int] = set()
    for item in reading.loaded:
        if item.sha256 in earlier or item.sha256 in seen:
            outcomes[item.index] = _duplicate(item.shown, item.sha256, item.size, earlier.get(item.sha256),
                                              seen.get(item.sha256), rubrics)
            _tell(progress, outcomes[item.index])
            continue
        seen[item.sha256] = item.shown
        wanted.add(item.index)

    everything = _Context(rubrics, reading.key, reading.limits, reading.archive)
    read: list[tuple[_Loaded, Assessed, str]] = []
    for item, result, archived in reading.results(wanted):
        made_from = result.identity.rubric_hash if result.identity is not None else ""  # type: ignore[attr-defined]
        if result.rubric_hash is None and made_from in rubrics and made_from not in reading.context.rubrics:
            # Made from another rubric version the store knows, which the workers did not: read it again.
            result, archived = _work((item.data, item.shown, item.sha256), everything)
        read.append((item, result, archived))

    senders = senders or {}
    matches = match_batch([Returned(
        item.shown, result.status, result.identity, result.verified,  # type: ignore[arg-type]
        respondent_email=result.respondent.get("respondent_email", ""), typed_id=result.typed_id,
        sender=senders.get(item.shown, ""), sha256=item.sha256) for item, result, _ in read],
        Context.from_store(store, reading.round_label))

    pending: list[tuple[int, NewSubmission, Assessed]] = []

    def flush() -> None:
        with interrupt.held():  # what is told stored is what the store holds
            stored = store.add_submissions([n for _, n, _ in pending])
            for (index, new, result), (info, notes) in zip(pending, stored):
                outcomes[index] = _outcome(new, info, result, notes)
                _tell(progress, outcomes[index])
            pending.clear()

    for (item, result, archived), found in zip(read, matches):
        pending.append((item.index, NewSubmission(
            file_name=item.shown, sha256=item.sha256, size=item.size, received_at=item.received,
            status=result.status, kind=result.kind, archive_path=archived,
            identity=result.identity, verified=result.verified,  # type: ignore[arg-type]
            identity_source=result.identity_source, rubric_hash=result.rubric_hash,
            round_label=found.round_label, partnership_id=found.partnership_id, review=found.review,
            respondent=result.respondent, answers=[AnswerInfo(*a) for a in result.answers],
            scores=[ScoreInfo(*sc) for sc in result.scores], problems=result.problems,
        ), result))
        if len(pending) >= CHUNK_FILES:
            flush()
    if pending:
        flush()

    dims = [(d.id, d.label) for d in reading.rubric.dimensions]
    for other in rubrics.values():
        dims += [(d.id, d.label) for d in other.dimensions if d.id not in {x for x, _ in dims}]
    seconds = (datetime.now(timezone.utc) - reading.started_at).total_seconds()
    return BatchResult([outcomes[i] for i in sorted(outcomes)], reading.skipped, dims, seconds,
                       _key_note([result for _, result, _ in read]))


def _key_note(results: list[Assessed]) -> list[Problem]:
    """Staff are told when no signed workbook of a batch verifies.

    One forged or edited workbook is the respondent's doing, and MG-READ-027 tells them so. Every
    workbook of a batch at once is far likelier to be the office's own key having changed since
    they were issued, which no respondent can fix."""
    verified = sum(1 for r in results if r.identity is not None)  # only a verified signature gives one
    refused = sum(1 for r in results if any(p.code == "MG-READ-027" for p in r.problems))
    if refused >= KEY_NOTE_MIN_FILES and verified == 0:
        return [problem("MG-SCORE-004", "", count=refused)]
    return []


def _tell(progress: Callable[[Outcome], None] | None, outcome: Outcome) -> None:
    if progress is not None:
        progress(outcome)


# --- outcomes ------------------------------------------------------------------------------------------


def _outcome(new: NewSubmission, info: SubmissionInfo, result: Assessed, notes: list[Problem]) -> Outcome:
    p = info.partnership
    review = ()
    if new.review is not None:  # the reason it waits, as a problem of the file, with its code
        review = (Problem(new.review.code, Severity.WARNING, new.file_name, new.review.reason),)
    return Outcome(
        file=new.file_name, sha256=info.sha256, size=info.size, status="review" if new.review else info.status,
        partnership_id=(p.partnership_id or "") if p else "", partnership_name=p.name if p else info.claimed_name,
        round_label=info.round_label or "", overall_stage=result.overall_stage, progress=result.progress,
        dimension_stages=result.dimension_stages, current=info.current, verified=info.verified,
        problems=(*result.problems, *review, *notes), submission_pk=info.pk,
        suggested_partnership=new.review.suggested_partnership or "" if new.review else "",
    )


def _duplicate(shown: str, sha256: str, size: int, earlier: SubmissionDetail | None, in_batch: str | None,
               rubrics: Mapping[str, Rubric]) -> Outcome:
    """The same bytes again: nothing new is stored; the row repeats what is stored for them."""
    if earlier is None:  # the same bytes twice in this run: the first one is being stored now
        note = problem("MG-STORE-001", shown, when="this run", file=in_batch, status="see that row")
        return Outcome(shown, sha256, size, "duplicate", problems=(note,))
    info = earlier.info
    note = problem("MG-STORE-001", shown, when=info.scored_at, file=info.file_name, status=info.status)
    p = info.partnership
    rubric = rubrics.get(info.rubric_hash or "")
    overall, dims = "", {}
    if rubric is not None and info.status != "rejected":
        overall = stage_label(rubric, info.overall_stage, "")
        dims = {s.dimension_id: stage_label(rubric, s.stage_id, "") for s in earlier.scores if s.dimension_id}
    return Outcome(
        file=shown, sha256=sha256, size=size, status="duplicate",
        partnership_id=(p.partnership_id or "") if p else "", partnership_name=p.name if p else "",
        round_label=info.round_label or "", overall_stage=overall, progress=info.progress,
        dimension_stages=dims, current=info.current, verified=info.verified, problems=(note,),
        submission_pk=info.pk,
    )
