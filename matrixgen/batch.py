"""A folder of returned files -> read, scored, archived and stored; one outcome per file.

``score_paths`` is the library entry point (the CLI and the benchmark call it). Reading and
scoring are pure and run in a process pool for big batches; the main process does the I/O:
hashing, the archive copy and the store, in transactions that hold whole files only, so a run
that is killed leaves the store consistent and running it again completes it.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from datetime import datetime, timezone
from multiprocessing import get_context
from pathlib import Path
from typing import Callable, Iterable, Iterator, Mapping, Sequence

from .errors import Problem, has_errors, problem
from .read import ARCHIVE_EXT, DEFAULT_LIMITS, Kind, Limits, ReadResult, read_workbook, skip_reason
from .rubric import Rubric
from .score import Score, score, stage_label
from .store import AnswerInfo, NewSubmission, ScoreInfo, Store, SubmissionDetail, SubmissionInfo

STATUSES = ("scored", "incomplete", "rejected", "duplicate")
POOL_MIN_FILES = 200  # below this, starting workers costs more than it saves
CHUNK_FILES = 100  # files per store transaction (each transaction holds whole files only)


@dataclass(frozen=True)
class Outcome:
    """What happened to one file: a row of summary.csv."""

    file: str  # as given, relative to the folder it was found in
    sha256: str
    size: int
    status: str  # scored | incomplete | rejected | duplicate
    partnership_id: str = ""
    partnership_name: str = ""
    round_label: str = ""
    overall_stage: str = ""  # label; '' = not yet at a stage, or not scored
    progress: float | None = None  # 0..1
    dimension_stages: Mapping[str, str] = field(default_factory=dict)  # dimension id -> stage label or ''
    current: bool = False
    verified: bool = False
    problems: tuple[Problem, ...] = ()
    submission_pk: int | None = None


@dataclass
class BatchResult:
    outcomes: list[Outcome]
    skipped: list[Problem]  # lock files and hidden files, as notes
    dimensions: list[tuple[str, str]]  # (id, label) columns for the summary, current rubric first
    seconds: float = 0.0

    def counts(self) -> dict[str, int]:
        found = {s: 0 for s in STATUSES}
        for o in self.outcomes:
            found[o.status] += 1
        return found

    @property
    def clean(self) -> bool:
        """Every file scored (or was already stored): nothing incomplete or rejected."""
        return all(o.status in ("scored", "duplicate") for o in self.outcomes)

    @property
    def problems(self) -> list[tuple[str, Problem]]:
        return [("", p) for p in self.skipped] + [(o.file, p) for o in self.outcomes for p in o.problems]


@dataclass(frozen=True)
class Assessed:
    """One file read and scored in a worker: plain data, cheap to send back."""

    kind: str
    status: str
    identity: object  # Identity | None
    verified: bool
    identity_source: str
    rubric_hash: str | None
    round_label: str | None
    respondent: dict[str, str]
    answers: list[AnswerInfo]
    scores: list[ScoreInfo]
    problems: list[Problem]
    overall_stage: str
    progress: float | None
    dimension_stages: dict[str, str]


# --- collecting files ------------------------------------------------------------------------------


def collect(paths: Iterable[str | Path]) -> tuple[list[tuple[Path, str]], list[Problem]]:
    """Files to score (path, name shown) and the notes for what was skipped; folders recursively."""
    files: list[tuple[Path, str]] = []
    skipped: list[Problem] = []
    for given in map(Path, paths):
        if given.is_dir():
            for path in sorted(p for p in given.rglob("*") if p.is_file()):
                shown = str(path.relative_to(given))
                hidden_folder = any(part.startswith(".") for part in path.relative_to(given).parts[:-1])
                note = problem("MG-READ-032", shown) if hidden_folder else skip_reason(path)
                if note is not None:
                    skipped.append(replace_location(note, shown))
                else:
                    files.append((path, shown))
        else:
            note = skip_reason(given)
            if note is not None:
                skipped.append(note)
            else:
                files.append((given, given.name))
    return files, skipped


def replace_location(p: Problem, location: str) -> Problem:
    return Problem(p.code, p.severity, location, p.message)


# --- reading and scoring: pure, runs in workers ------------------------------------------------------

@dataclass(frozen=True)
class _Context:
    """What every worker needs, sent once when it starts."""

    rubrics: Mapping[str, Rubric]
    key: bytes
    limits: Limits
    round_label: str
    archive: Path


_WORKER: dict[str, _Context] = {}


def _init_worker(context: _Context) -> None:
    _WORKER["context"] = context


def _work(job: tuple[bytes, str, str], context: _Context | None = None) -> tuple[Assessed, str]:
    """Assess one file and keep its archive copy (workers do both, so the disk writes run in parallel)."""
    data, name, sha256 = job
    ctx = context or _WORKER["context"]
    result = assess(data, name, ctx.rubrics, ctx.key, ctx.limits, ctx.round_label)
    archived = archive_copy(ctx.archive, sha256, ARCHIVE_EXT.get(Kind(result.kind), "bin"), data)
    return result, str(archived)


def assess(data: bytes, name: str, rubrics: Mapping[str, Rubric], key: bytes,
           limits: Limits = DEFAULT_LIMITS, round_label: str = "") -> Assessed:
    """Read one file and score it: everything about it except storing."""
    read = read_workbook(data, name, rubrics, key, limits)
    return assessed(read, round_label)


def assessed(read: ReadResult, round_label: str = "") -> Assessed:
    ident = read.identity
    found = list(read.problems)
    round_of_file = ident.round if ident is not None else ""
    if ident is not None and round_label and round_of_file and round_of_file != round_label:
        found.append(problem("MG-SCORE-003", read.name, found=round_of_file, expected=round_label))
    label = (round_of_file or round_label) if ident is not None else None
    base = dict(kind=str(read.kind), identity=ident, verified=read.verified, identity_source=read.identity_source,
                rubric_hash=read.rubric.content_hash if read.rubric is not None else None, round_label=label,
                respondent=dict(read.respondent))
    if read.rejected or read.rubric is None:
        return Assessed(status="rejected", answers=[], scores=[], problems=found, overall_stage="", progress=None,
                        dimension_stages={}, **base)
    rubric = read.rubric
    result = score(rubric, read.responses())
    cells = {a.criterion_id: a.cell for a in read.answers}
    for i in result.inconsistencies:
        found.append(problem("MG-SCORE-002", cells.get(i.met_criterion_id, read.name),
                             met=i.met_criterion_id, unmet=i.unmet_criterion_id))
    status = "incomplete" if has_errors(found) or result.unanswered else "scored"
    return Assessed(
        status=status,
        answers=[AnswerInfo(a.criterion_id, a.raw, a.response.label if a.response else None,
                            a.response.points if a.response else None, bool(a.response and a.response.met),
                            a.evidence, a.cell) for a in read.answers],
        scores=_score_rows(result),
        problems=found,
        overall_stage=stage_label(rubric, result.stage_id, ""),
        progress=result.progress,
        dimension_stages={d.dimension_id: stage_label(rubric, d.stage_id, "") for d in result.dimensions},
        **base,
    )


def _score_rows(result: Score) -> list[ScoreInfo]:
    rows = [ScoreInfo("", result.stage_id, result.next_stage_id, result.next_steps, result.points, result.possible)]
    rows += [ScoreInfo(d.dimension_id, d.stage_id, d.next_stage_id, d.next_steps, d.points, d.possible)
             for d in result.dimensions]
    return rows


# --- the batch ---------------------------------------------------------------------------------------


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
    started = datetime.now(timezone.utc)
    store.record_rubric(rubric)
    rubrics = store.rubrics()
    files, skipped = collect(paths)
    archive = Path(archive_dir)
    archive.mkdir(parents=True, exist_ok=True)

    # Oldest first, so that of two files from one partnership the later one ends up current.
    entries = sorted((_received_at(path), shown, path) for path, shown in files)
    outcomes: dict[int, Outcome] = {}
    jobs: list[tuple[int, bytes, str, str, str, int]] = []  # (index, data, shown, received, sha256, size)
    loaded = []
    for index, (received, shown, path) in enumerate(entries):
        data, sha256, size, failed = _load(path, shown, limits, archive)
        if failed is not None:
            outcomes[index] = failed
            _tell(progress, failed)
        else:
            loaded.append((index, data, shown, received, sha256, size))
    stored = store.find_many([sha256 for *_, sha256, _size in loaded])
    earlier = {d.info.sha256: d for d in store.details([s.pk for s in stored.values()])}
    seen: dict[str, str] = {}
    for index, data, shown, received, sha256, size in loaded:
        if sha256 in earlier or sha256 in seen:
            outcomes[index] = _duplicate(shown, sha256, size, earlier.get(sha256), seen.get(sha256), rubrics)
            _tell(progress, outcomes[index])
            continue
        seen[sha256] = shown
        jobs.append((index, data, shown, received, sha256, size))

    pending: list[tuple[int, NewSubmission, Assessed]] = []

    def flush() -> None:
        stored = store.add_submissions([n for _, n, _ in pending])
        for (index, new, result), (info, notes) in zip(pending, stored):
            outcomes[index] = _outcome(new.file_name, info, result, notes)
            _tell(progress, outcomes[index])
        pending.clear()

    context = _Context(rubrics, key, limits, round_label, archive)
    for (index, data, shown, received, sha256, size), (result, archived) in zip(
            jobs, _work_all([(data, shown, sha256) for _, data, shown, _, sha256, _ in jobs], context, workers)):
        pending.append((index, NewSubmission(
            file_name=shown, sha256=sha256, size=size, received_at=received, status=result.status, kind=result.kind,
            archive_path=archived, identity=result.identity, verified=result.verified,  # type: ignore[arg-type]
            identity_source=result.identity_source, rubric_hash=result.rubric_hash, round_label=result.round_label,
            respondent=result.respondent, answers=result.answers, scores=result.scores, problems=result.problems,
        ), result))
        if len(pending) >= CHUNK_FILES:
            flush()
    if pending:
        flush()

    dims = [(d.id, d.label) for d in rubric.dimensions]
    for other in rubrics.values():
        dims += [(d.id, d.label) for d in other.dimensions if d.id not in {x for x, _ in dims}]
    seconds = (datetime.now(timezone.utc) - started).total_seconds()
    return BatchResult([outcomes[i] for i in sorted(outcomes)], skipped, dims, seconds)


def _tell(progress: Callable[[Outcome], None] | None, outcome: Outcome) -> None:
    if progress is not None:
        progress(outcome)


def _received_at(path: Path) -> str:
    """When the file landed in the inbox folder: its modification time, UTC."""
    try:
        stamp = path.stat().st_mtime
    except OSError:
        stamp = 0.0
    return datetime.fromtimestamp(stamp, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _load(path: Path, shown: str, limits: Limits, archive: Path) -> tuple[bytes, str, int, Outcome | None]:
    """The file's bytes and hash; an oversized file is hashed and archived by streaming, never read whole."""
    try:
        size = path.stat().st_size
        if size <= limits.max_bytes:
            data = path.read_bytes()
            return data, hashlib.sha256(data).hexdigest(), len(data), None
        digest = hashlib.sha256()
        with path.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
        sha256 = digest.hexdigest()
        target = archive / f"{sha256}.bin"
        if not target.exists():
            shutil.copyfile(path, target)
        found = problem("MG-READ-002", shown, size=f"{size / 1048576:.1f}", limit=f"{limits.max_bytes / 1048576:.1f}")
        return b"", sha256, size, Outcome(shown, sha256, size, "rejected", problems=(found,))
    except OSError as exc:
        found = problem("MG-READ-033", shown, reason=exc.strerror or str(exc))
        return b"", "", 0, Outcome(shown, "", 0, "rejected", problems=(found,))


def archive_copy(archive: Path, sha256: str, ext: str, data: bytes) -> Path:
    """``<archive>/<sha256>.<ext>``, written once, atomically: a re-run finds it and moves on."""
    target = archive / f"{sha256}.{ext}"
    if not target.exists():
        tmp = archive / f".{sha256}.{os.getpid()}.tmp"
        tmp.write_bytes(data)
        tmp.replace(target)
    return target


def _work_all(jobs: Sequence[tuple[bytes, str, str]], context: _Context,
              workers: int | None) -> Iterator[tuple[Assessed, str]]:
    """(Assessed, archive path) per job, in job order; a process pool for big batches."""
    cpus = os.cpu_count() or 1
    if workers is None:
        workers = cpus if len(jobs) >= POOL_MIN_FILES and cpus > 1 else 0
    if workers <= 1:
        for job in jobs:
            yield _work(job, context)
        return
    done = 0
    try:
        with _pool(workers, context) as pool:
            for result in pool.map(_work, jobs, chunksize=max(1, min(32, len(jobs) // (workers * 4)))):
                yield result
                done += 1
    except BrokenProcessPool:
        # A file killed its reader process (it should not be possible past the limits, but an
        # untrusted file must not stop the batch): read the rest one at a time, each in its own process.
        for job in jobs[done:]:
            yield _isolated(job, context)


def _pool(workers: int, context: _Context) -> ProcessPoolExecutor:
    # fork is fast and inherits everything; elsewhere workers start fresh and get the same via initargs.
    method = "fork" if sys.platform.startswith("linux") else "spawn"
    return ProcessPoolExecutor(max_workers=workers, mp_context=get_context(method), initializer=_init_worker,
                               initargs=(context,))


def _isolated(job: tuple[bytes, str, str], context: _Context) -> tuple[Assessed, str]:
    try:
        with _pool(1, context) as pool:
            return pool.submit(_work, job).result()
    except BrokenProcessPool:
        data, name, sha256 = job
        found = problem("MG-READ-003", name, reason="the reader stopped on it")
        result = assessed(ReadResult(name=name, kind=Kind.DAMAGED, problems=(found,), rejected=True), context.round_label)
        return result, str(archive_copy(context.archive, sha256, "bin", data))


# --- outcomes ------------------------------------------------------------------------------------------


def _outcome(shown: str, info: SubmissionInfo, result: Assessed, notes: list[Problem]) -> Outcome:
    p = info.partnership
    return Outcome(
        file=shown, sha256=info.sha256, size=info.size, status=info.status,
        partnership_id=(p.partnership_id or "") if p else "", partnership_name=p.name if p else "",
        round_label=info.round_label or "", overall_stage=result.overall_stage, progress=result.progress,
        dimension_stages=result.dimension_stages, current=info.current, verified=info.verified,
        problems=(*result.problems, *notes), submission_pk=info.pk,
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
