"""Background jobs: long work started from a page (scoring an upload, issuing workbooks, sending,
rendering reports) runs in a worker thread and writes its progress to the store.

The page that started a job can be closed: the job goes on, and its page (``/jobs/<n>``) shows the
progress from the store to whoever opens it, with who started it. A job still marked running when
the server starts again was cut off by the restart, and says so.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Engine

from ..store.model import now
from ..store.schema import web_jobs

QUEUED, RUNNING, DONE, FAILED, INTERRUPTED = "queued", "running", "done", "failed", "interrupted"
FINISHED = (DONE, FAILED, INTERRUPTED)
WORKERS = 2  # two staff can each run one; more would only share the same two cores
log = logging.getLogger("matrixgen.web")


@dataclass(frozen=True)
class Job:
    pk: int
    kind: str
    round_label: str | None
    started_by: str
    started_at: str
    finished_at: str
    state: str
    done: int
    total: int
    message: str
    result: dict

    @property
    def finished(self) -> bool:
        return self.state in FINISHED

    @property
    def percent(self) -> int:
        if self.state == DONE:
            return 100
        return int(100 * self.done / self.total) if self.total else 0


class Progress:
    """Handed to a job's work: ``step()`` as each item is done. Written to the store at most a few
    times a second, so that a thousand small steps cost a handful of short transactions."""

    EVERY = 0.25  # seconds

    def __init__(self, engine: Engine, pk: int, total: int):
        self.engine, self.pk, self.total, self.done = engine, pk, total, 0
        self.message = ""
        self._written = 0.0

    def set_total(self, total: int, message: str = "") -> None:
        self.total = total
        self.message = message or self.message
        self._write(force=True)

    def step(self, count: int = 1, message: str = "") -> None:
        self.done += count
        self.message = message or self.message
        self._write()

    def _write(self, force: bool = False) -> None:
        if not force and time.monotonic() - self._written < self.EVERY:
            return
        self._written = time.monotonic()
        with self.engine.begin() as conn:
            conn.execute(update(web_jobs).where(web_jobs.c.pk == self.pk).values(
                done=self.done, total=self.total, message=self.message[:500]))


class Jobs:
    def __init__(self, engine: Engine, workers: int = WORKERS):
        self.engine = engine
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="matrixgen-job")
        self._futures: dict[int, Future] = {}
        self._lock = threading.Lock()

    def recover(self) -> int:
        """Mark the jobs a previous server left running as interrupted; returns how many."""
        with self.engine.begin() as conn:
            found = conn.execute(update(web_jobs).where(web_jobs.c.state.in_((QUEUED, RUNNING))).values(
                state=INTERRUPTED, finished_at=now(), message="the server stopped while this job ran; start it again"))
        return found.rowcount or 0

    def start(self, kind: str, round_label: str | None, by: str, total: int,
              work: Callable[[Progress], dict[str, Any]]) -> int:
        """Record the job and run ``work(progress)`` in the background; its returned dict is what the
        job's page shows when it is done. Returns the job's number."""
        with self.engine.begin() as conn:
            pk = conn.execute(insert(web_jobs).values(
                kind=kind, round_label=round_label, started_by=by, started_at=now(), finished_at="", state=QUEUED,
                done=0, total=total, message="", result="{}")).inserted_primary_key[0]
        with self._lock:
            self._futures[pk] = self._pool.submit(self._run, pk, total, work)
        return int(pk)

    def _run(self, pk: int, total: int, work: Callable[[Progress], dict[str, Any]]) -> None:
        progress = Progress(self.engine, pk, total)
        with self.engine.begin() as conn:
            conn.execute(update(web_jobs).where(web_jobs.c.pk == pk).values(state=RUNNING))
        try:
            result = work(progress)
        except Exception as exc:  # the job's page says what went wrong; the server goes on
            log.exception("job %s failed", pk)
            with self.engine.begin() as conn:
                conn.execute(update(web_jobs).where(web_jobs.c.pk == pk).values(
                    state=FAILED, finished_at=now(), done=progress.done, message=f"{type(exc).__name__}: {exc}"[:500]))
            return
        with self.engine.begin() as conn:
            conn.execute(update(web_jobs).where(web_jobs.c.pk == pk).values(
                state=DONE, finished_at=now(), done=max(progress.done, progress.total), total=progress.total,
                message=progress.message[:500], result=json.dumps(result)))

    def wait(self, pk: int, timeout: float | None = None) -> Job:
        """The job once it has finished (tests and the benchmark wait for it)."""
        with self._lock:
            future = self._futures.get(pk)
        if future is not None:
            future.result(timeout)
        found = self.job(pk)
        assert found is not None
        return found

    def job(self, pk: int) -> Job | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(web_jobs).where(web_jobs.c.pk == pk)).mappings().first()
        return _job(row) if row else None

    def jobs(self, limit: int = 100) -> list[Job]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(web_jobs).order_by(web_jobs.c.pk.desc()).limit(limit)).mappings().all()
        return [_job(r) for r in rows]

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=False)


def _job(r) -> Job:
    return Job(r["pk"], r["kind"], r["round_label"], r["started_by"], r["started_at"], r["finished_at"], r["state"],
               r["done"], r["total"], r["message"], json.loads(r["result"] or "{}"))
