"""The half of a batch that needs no store: find the files, load and hash them, and read and score
them in worker processes, keeping each original in the archive.

Reading and scoring are pure and run in a process pool for big batches; the workers never import
the store (and SQLAlchemy with it), so they can start before it is opened.
"""

from __future__ import annotations

import gc
import hashlib
import os
import shutil
import sys
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from datetime import datetime, timezone
from multiprocessing import get_context
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Iterator, Mapping

from .. import interrupt
from ..errors import Problem, has_errors, problem
from ..files import FILE_MODE, atomic_open, private_dir
from ..read import ARCHIVE_EXT, DEFAULT_LIMITS, Kind, Limits, ReadResult, read_workbook, skip_reason
from ..rubric import Rubric
from ..score import Score, score, stage_label

if TYPE_CHECKING:
    pass

from .outcomes import Outcome

POOL_MIN_FILES = 200  # below this, starting workers costs more than it saves
CHUNK_JOBS = 16  # files handed to a worker at a time


@dataclass(frozen=True)
class Assessed:
    """One file read and scored in a worker: plain data, cheap to send back.

    Answers and scores are tuples of the store's AnswerInfo and ScoreInfo fields, in order: the
    workers never import the store (and SQLAlchemy with it), so they can start before it."""

    kind: str
    status: str
    identity: object  # Identity | None
    verified: bool
    identity_source: str
    rubric_hash: str | None
    round_label: str  # the round the file was issued for ('' when it carries none)
    respondent: dict[str, str]
    typed_id: str  # a partnership id typed on a generic blank
    answers: list[tuple]  # AnswerInfo(*each)
    scores: list[tuple]  # ScoreInfo(*each)
    problems: list[Problem]
    overall_stage: str
    progress: float | None
    dimension_stages: dict[str, str]


# --- collecting files ------------------------------------------------------------------------------


def collect(paths: Iterable[str | Path], names: Mapping[Path, str] | None = None,
            ) -> tuple[list[tuple[Path, str]], list[Problem]]:
    """Files to score (path, name shown) and the notes for what was skipped; folders recursively.

    ``names`` gives a file the name it is shown and stored under (an upload is saved under a name
    of our own making, never the one its sender chose); lock and hidden files are told by it."""
    names = names or {}
    files: list[tuple[Path, str]] = []
    skipped: list[Problem] = []
    for given in map(Path, paths):
        if given.is_dir():
            for parts in _files_under(given):
                path, shown = given.joinpath(*parts), "/".join(parts)
                hidden_folder = any(part.startswith(".") for part in parts[:-1])
                note = problem("MG-READ-032", shown) if hidden_folder else skip_reason(path)
                if note is not None:
                    skipped.append(replace_location(note, shown))
                else:
                    files.append((path, shown))
        else:
            shown = names.get(given, given.name)
            note = skip_reason(Path(shown))
            if note is not None:
                skipped.append(note)
            else:
                files.append((given, shown))
    return files, skipped


def _files_under(folder: Path) -> list[tuple[str, ...]]:
    """Every file below ``folder``, as its path's parts relative to it, in path order: what
    ``sorted(p for p in folder.rglob("*") if p.is_file())`` finds (links to folders are not
    followed, links to files are files), from one directory listing a folder instead of a stat a file."""
    found: list[tuple[str, ...]] = []

    def walk(directory: str, parts: tuple[str, ...]) -> None:
        try:
            with os.scandir(directory) as entries:
                listed = list(entries)
        except PermissionError:
            return
        for entry in listed:
            try:
                is_dir = entry.is_dir()
                if is_dir and not entry.is_symlink():
                    walk(entry.path, (*parts, entry.name))
                elif not is_dir and entry.is_file():
                    found.append((*parts, entry.name))
            except OSError:
                continue

    walk(str(folder), ())
    return sorted(found)


def replace_location(p: Problem, location: str) -> Problem:
    return Problem(p.code, p.severity, location, p.message)


# --- reading and scoring: pure, runs in workers ------------------------------------------------------

@dataclass(frozen=True)
class _Context:
    """What every worker needs, sent once when it starts."""

    rubrics: Mapping[str, Rubric]
    key: bytes
    limits: Limits
    archive: Path


_WORKER: dict[str, _Context] = {}


def _init_worker(context: _Context) -> None:
    interrupt.ignore_in_worker()
    _WORKER["context"] = context


def _work(job: tuple[bytes, str, str], context: _Context | None = None) -> tuple[Assessed, str]:
    """Assess one file and keep its archive copy (workers do both, so the disk writes run in parallel)."""
    data, name, sha256 = job
    ctx = context or _WORKER["context"]
    result = assess(data, name, ctx.rubrics, ctx.key, ctx.limits)
    archived = archive_copy(ctx.archive, sha256, ARCHIVE_EXT.get(Kind(result.kind), "bin"), data)
    return result, str(archived)


def assess(data: bytes, name: str, rubrics: Mapping[str, Rubric], key: bytes,
           limits: Limits = DEFAULT_LIMITS) -> Assessed:
    """Read one file and score it: everything about it except matching and storing."""
    return assessed(read_workbook(data, name, rubrics, key, limits))


def assessed(read: ReadResult) -> Assessed:
    ident = read.identity
    found = list(read.problems)
    base = dict(kind=str(read.kind), identity=ident, verified=read.verified, identity_source=read.identity_source,
                rubric_hash=read.rubric.content_hash if read.rubric is not None else None,
                round_label=ident.round if ident is not None else "", respondent=dict(read.respondent),
                typed_id=read.typed_id)
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
        answers=[(a.criterion_id, a.raw, a.response.label if a.response else None,
                  a.response.points if a.response else None, bool(a.response and a.response.met), a.evidence, a.cell)
                 for a in read.answers],
        scores=_score_rows(result),
        problems=found,
        overall_stage=stage_label(rubric, result.stage_id, ""),
        progress=result.progress,
        dimension_stages={d.dimension_id: stage_label(rubric, d.stage_id, "") for d in result.dimensions},
        **base,
    )


def _score_rows(result: Score) -> list[tuple]:
    rows = [("", result.stage_id, result.next_stage_id, result.next_steps, result.points, result.possible)]
    rows += [(d.dimension_id, d.stage_id, d.next_stage_id, d.next_steps, d.points, d.possible)
             for d in result.dimensions]
    return rows


def read_paths(
    paths: Iterable[str | Path],
    rubric: Rubric,
    key: bytes,
    archive_dir: str | Path,
    *,
    round_label: str = "",
    limits: Limits = DEFAULT_LIMITS,
    workers: int | None = None,
    rubrics: Mapping[str, Rubric] | None = None,
    start: bool = True,
    names: Mapping[Path, str] | None = None,
) -> Reading:
    """The half of a batch that needs no store: find and load the files, and (``start``) set
    worker processes reading and scoring them. ``store_results`` stores what they find.

    ``matrixgen score`` starts this before it opens the store, so that loading SQLAlchemy and
    opening the store happen while the files are read. Until then the workers know only
    ``rubrics`` (default: the current rubric); a file made from another version the store knows
    is read again once the store is open. Files already stored are read for nothing, or not at
    all once the store says so. ``names``: see ``collect``. Use as a context manager: leaving it
    stops the workers.
    """
    return Reading(paths, rubric, key, Path(archive_dir), round_label, limits, workers,
                   dict(rubrics) if rubrics is not None else {rubric.content_hash: rubric}, start, names)


class Reading:
    """Files found, loaded and (once started) being read and scored by worker processes."""

    def __init__(self, paths: Iterable[str | Path], rubric: Rubric, key: bytes, archive: Path, round_label: str,
                 limits: Limits, workers: int | None, rubrics: dict[str, Rubric], start: bool,
                 names: Mapping[Path, str] | None = None):
        self.started_at = datetime.now(timezone.utc)
        self.rubric, self.key, self.round_label, self.limits = rubric, key, round_label, limits
        self.files, self.skipped = collect(paths, names)
        self.archive = archive
        private_dir(archive)
        self.context = _Context(rubrics, key, limits, archive)
        # Oldest first, so that of two files from one partnership the later one ends up current.
        found = sorted((_found(p, s) for p, s in self.files), key=lambda f: f[:3])
        self._workers = _workers(workers, len(found))
        self._chunk = max(1, min(CHUNK_JOBS, len(found) // (max(self._workers, 1) * 4)))
        self._pool: ProcessPoolExecutor | None = None
        self._chunks: list[tuple[list[_Loaded], Future]] = []
        self._jobs: list[_Loaded] = []  # the first file of each sha256: the same bytes twice are read once
        self._handed = 0  # jobs handed to the workers so far
        self.failed: dict[int, Outcome] = {}
        self.loaded: list[_Loaded] = []
        try:
            self._load_all(found, start)
        except BaseException:  # Ctrl-C while loading: the workers stop too, with what they were given
            self.close()
            raise

    def _load_all(self, found: list[tuple[str, str, Path, int | None]], start: bool) -> None:
        firsts: set[str] = set()
        for index, (received, shown, path, size) in enumerate(found):
            data, sha256, failed = _load(path, shown, size, self.limits, self.archive)
            if failed is not None:
                self.failed[index] = failed
                continue
            item = _Loaded(index, data, shown, received, sha256, len(data))
            self.loaded.append(item)
            if sha256 not in firsts:
                firsts.add(sha256)
                self._jobs.append(item)
                if start and len(self._jobs) - self._handed >= self._chunk:
                    self.start()  # the workers begin while the rest are loaded
        if start:
            self.start()

    def start(self, wanted: set[int] | None = None) -> None:
        """Hand the jobs not handed yet (those in ``wanted``, by file index, or all) to the workers."""
        if self._workers <= 1:
            return
        jobs = [j for j in self._jobs[self._handed:] if wanted is None or j.index in wanted]
        self._handed = len(self._jobs)
        if not jobs:
            return
        with interrupt.starting_workers():  # the workers are forked at the first submit
            if self._pool is None:
                # Objects made so far (modules, the rubric) are left out of the workers' garbage collections:
                # they are never freed, and scanning them would copy every page they sit on into each worker.
                gc.freeze()
                self._pool = _pool(self._workers, self.context)
            for i in range(0, len(jobs), self._chunk):
                chunk = jobs[i:i + self._chunk]
                self._chunks.append((chunk, self._pool.submit(_work_chunk,
                                                              [(j.data, j.shown, j.sha256) for j in chunk])))

    def results(self, wanted: set[int]) -> Iterator[tuple[_Loaded, Assessed, str]]:
        """(file, Assessed, archive path) for each file in ``wanted``, in file order."""
        if self._pool is None:
            self.start(wanted)
        if self._pool is None:  # no workers: read here, one file at a time
            for job in self._jobs:
                if job.index in wanted:
                    yield (job, *_work((job.data, job.shown, job.sha256), self.context))
            return
        for chunk, future in self._chunks:  # not needed after all (already stored): not read, if not yet begun
            if not any(j.index in wanted for j in chunk):
                future.cancel()
        for n, (chunk, future) in enumerate(self._chunks):
            if future.cancelled():
                continue
            try:
                done = future.result()
            except BrokenProcessPool:
                # A file killed its reader process (it should not be possible past the limits, but an
                # untrusted file must not stop the batch): read the rest one at a time, each in its own process.
                for rest, _ in self._chunks[n:]:
                    for job in rest:
                        if job.index in wanted:
                            yield (job, *_isolated((job.data, job.shown, job.sha256), self.context))
                return
            for job, (result, archived) in zip(chunk, done):
                if job.index in wanted:
                    yield job, result, archived

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
            gc.unfreeze()

    def __enter__(self) -> Reading:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass(frozen=True)
class _Loaded:
    """One file found and loaded: its place in the batch (received order), bytes and hash."""

    index: int
    data: bytes
    shown: str
    received: str
    sha256: str
    size: int


def _found(path: Path, shown: str) -> tuple[str, str, Path, int | None]:
    """(when the file landed in the inbox folder, its name, path, size): one stat for both."""
    try:
        st = path.stat()
        stamp, size = st.st_mtime, st.st_size
    except OSError:
        stamp, size = 0.0, None  # reported when it is loaded
    return datetime.fromtimestamp(stamp, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"), shown, path, size


def _load(path: Path, shown: str, size: int | None, limits: Limits, archive: Path) -> tuple[bytes, str, Outcome | None]:
    """The file's bytes and hash; an oversized file is hashed and archived by streaming, never read whole."""
    try:
        if size is None:
            size = path.stat().st_size
        if size <= limits.max_bytes:
            data = _read_all(path, size)
            return data, hashlib.sha256(data).hexdigest(), None
        digest = hashlib.sha256()
        with path.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
        sha256 = digest.hexdigest()
        target = archive / f"{sha256}.bin"
        if not target.exists():
            with path.open("rb") as src, atomic_open(target) as dst:
                shutil.copyfileobj(src, dst)
        found = problem("MG-READ-002", shown, size=f"{size / 1048576:.1f}", limit=f"{limits.max_bytes / 1048576:.1f}")
        return b"", sha256, Outcome(shown, sha256, size, "rejected", problems=(found,))
    except OSError as exc:
        found = problem("MG-READ-033", shown, reason=exc.strerror or str(exc))
        return b"", "", Outcome(shown, "", 0, "rejected", problems=(found,))


def _read_all(path: Path, size: int) -> bytes:
    """The whole file (to its end, whatever size it had when listed), without a file object."""
    fd = os.open(path, os.O_RDONLY)
    try:
        data = os.read(fd, size + 1)
        more = os.read(fd, 1 << 20) if data else b""
        if not more:
            return data
        pieces = [data, more]
        while pieces[-1]:
            pieces.append(os.read(fd, 1 << 20))
        return b"".join(pieces)
    finally:
        os.close(fd)


def archive_copy(archive: Path, sha256: str, ext: str, data: bytes) -> Path:
    """``<archive>/<sha256>.<ext>``, written once, atomically: a re-run finds it and moves on."""
    target = archive / f"{sha256}.{ext}"
    if not os.path.exists(target):
        tmp = archive / f".{sha256}.{os.getpid()}.tmp"
        # 0600: the archive holds what respondents wrote. Plain os calls: this runs once per file.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
        finally:
            os.close(fd)
        os.replace(tmp, target)
    return target


def _workers(workers: int | None, jobs: int) -> int:
    cpus = os.cpu_count() or 1
    if workers is None:
        workers = cpus if jobs >= POOL_MIN_FILES and cpus > 1 else 0
    return workers


def _work_chunk(jobs: list[tuple[bytes, str, str]]) -> list[tuple[Assessed, str]]:
    return [_work(job) for job in jobs]


def _pool(workers: int, context: _Context) -> ProcessPoolExecutor:
    # fork is fast and inherits everything; elsewhere workers start fresh and get the same via initargs.
    method = "fork" if sys.platform.startswith("linux") else "spawn"
    return ProcessPoolExecutor(max_workers=workers, mp_context=get_context(method), initializer=_init_worker,
                               initargs=(context,))


def _isolated(job: tuple[bytes, str, str], context: _Context) -> tuple[Assessed, str]:
    try:
        with _pool(1, context) as pool:
            return pool.submit(_work_chunk, [job]).result()[0]
    except BrokenProcessPool:
        data, name, sha256 = job
        found = problem("MG-READ-003", name, reason="the reader stopped on it")
        result = assessed(ReadResult(name=name, kind=Kind.DAMAGED, problems=(found,), rejected=True))
        return result, str(archive_copy(context.archive, sha256, "bin", data))
