"""Uploaded returns -> a private folder of files for the batch, and the batch's result as data.

A browser sends file names its user chose, and a zip names its own entries: neither is ever used
as a path. Each file is written under a name made here (``00001.upload``) into a private folder
(0700, files 0600) under the data directory, and its sender's name is kept only as the name the
file is shown and stored under. A zip of workbooks is opened with limits of its own (entries,
sizes, ratio, no encryption); what is inside goes through the same checks as any return, by
``batch.read_paths`` and ``store_results``, the same path as ``matrixgen score``.
"""

from __future__ import annotations

import os
import secrets
import shutil
import unicodedata
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Iterable

from ..errors import Problem, problem
from ..files import FILE_MODE, private_dir
from ..read import DEFAULT_LIMITS

MB = 1024 * 1024
MAX_FILES = 1000  # files staged from one upload, zip entries included
ZIP_MAX_ENTRIES = 500
ZIP_MAX_TOTAL = 200 * MB  # everything a zip holds, uncompressed
ZIP_MAX_RATIO = 100.0  # uncompressed / compressed, for an entry over a megabyte
CHUNK = 1 << 16


@dataclass
class Staged:
    folder: Path
    names: dict[Path, str] = field(default_factory=dict)  # staged file -> the name it is shown under
    refused: list[Problem] = field(default_factory=list)  # zips that were not opened, too many files

    def cleanup(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def shown_name(name: str) -> str:
    """The sender's file name as it may be shown: its last part only, no control characters, short."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    base = "".join(c for c in base if unicodedata.category(c)[0] != "C").strip()
    return base[:200] or "unnamed"


def stage(uploads: Iterable[tuple[str, BinaryIO]], data_dir: Path) -> Staged:
    """Write each (name, file) into a new private folder under ``<data>/uploads``; open zips of returns."""
    folder = private_dir(Path(data_dir) / "uploads") / secrets.token_hex(8)
    private_dir(folder)
    staged = Staged(folder)
    for name, fh in uploads:
        shown = shown_name(name)
        if len(staged.names) >= MAX_FILES:
            staged.refused.append(problem("MG-WEB-005", shown, limit=MAX_FILES))
            break
        path = _write(staged, fh)
        if shown.lower().endswith(".zip") and _is_plain_zip(path):
            _open_zip(staged, path, shown)
            path.unlink()
        else:
            staged.names[path] = shown
    return staged


def _next_path(staged: Staged) -> Path:
    return staged.folder / f"{len(staged.names) + len(staged.refused) + 1:05}-{secrets.token_hex(4)}.upload"


def _write(staged: Staged, fh: BinaryIO, limit: int | None = None) -> Path:
    """Copy ``fh`` to a new private file; past ``limit`` bytes, stop (the file is then refused)."""
    path = _next_path(staged)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    written = 0
    with os.fdopen(fd, "wb") as out:
        while True:
            block = fh.read(CHUNK)
            if not block:
                break
            written += len(block)
            if limit is not None and written > limit:
                raise _OutOfBounds(f"an entry is larger than it says ({limit} bytes)")
            out.write(block)
    return path


class _OutOfBounds(Exception):
    pass


def _is_plain_zip(path: Path) -> bool:
    """A zip of files, not a workbook (which is a zip too) or an OpenDocument file."""
    try:
        with zipfile.ZipFile(path) as z:
            names = set(z.namelist())
    except (zipfile.BadZipFile, OSError, ValueError):
        return False
    return "[Content_Types].xml" not in names and "mimetype" not in names


def _open_zip(staged: Staged, path: Path, shown: str) -> None:
    try:
        with zipfile.ZipFile(path) as z:
            entries = [i for i in z.infolist() if not i.is_dir()]
            if len(entries) > ZIP_MAX_ENTRIES:
                staged.refused.append(problem("MG-WEB-001", shown, limit=ZIP_MAX_ENTRIES))
                return
            total = sum(i.file_size for i in entries)
            if total > ZIP_MAX_TOTAL:
                staged.refused.append(problem("MG-WEB-002", shown, reason=f"{total // MB} MB uncompressed, "
                                                                          f"more than {ZIP_MAX_TOTAL // MB} MB"))
                return
            for info in entries:
                inner = f"{shown}/{shown_name(info.filename)}"
                if info.flag_bits & 0x1:
                    staged.refused.append(problem("MG-WEB-003", inner, name=shown_name(info.filename)))
                    continue
                if info.file_size > MB and info.file_size > ZIP_MAX_RATIO * max(info.compress_size, 1):
                    staged.refused.append(problem("MG-WEB-002", inner, reason=f"{info.file_size // info.compress_size or 1}"
                                                                              " times its compressed size"))
                    continue
                if len(staged.names) >= MAX_FILES:
                    staged.refused.append(problem("MG-WEB-005", shown, limit=MAX_FILES))
                    return
                # An entry larger than the biggest return is still staged (up to what it declares), so that
                # the batch rejects it as it rejects any oversized file, with its reason.
                limit = min(info.file_size, DEFAULT_LIMITS.max_bytes + 1)
                with z.open(info) as fh:
                    target = _write(staged, _Bounded(fh, limit), limit)
                staged.names[target] = inner
    except _OutOfBounds as exc:
        staged.refused.append(problem("MG-WEB-002", shown, reason=str(exc)))
    except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError, EOFError) as exc:
        staged.refused.append(problem("MG-WEB-004", shown, reason=str(exc) or type(exc).__name__))


class _Bounded:
    """Reads at most ``limit`` bytes from ``fh``, and one more if there is more: a lying size shows."""

    def __init__(self, fh: BinaryIO, limit: int):
        self.fh, self.left = fh, limit + 1

    def read(self, size: int = -1) -> bytes:
        if self.left <= 0:
            return b""
        block = self.fh.read(min(size if size > 0 else CHUNK, self.left))
        self.left -= len(block)
        return block


# --- the result, as the job's page shows it --------------------------------------------------------

def result_data(result, refused: list[Problem]) -> dict:
    """A BatchResult as plain data (it is kept with the job in the store, as JSON)."""

    def problems(found: Iterable[Problem]) -> list[dict]:
        return [p.as_dict() for p in found]

    counts = result.counts()
    counts["skipped"] = len(result.skipped)
    counts["refused"] = len(refused)
    return {
        "counts": counts,
        "seconds": round(result.seconds, 2),
        "outcomes": [{
            "file": o.file, "status": o.status, "partnership_id": o.partnership_id,
            "partnership_name": o.partnership_name, "round": o.round_label, "overall_stage": o.overall_stage,
            "progress": o.progress, "current": o.current, "suggested": o.suggested_partnership,
            "submission": o.submission_pk, "problems": problems(o.problems),
        } for o in result.outcomes],
        "skipped": problems(result.skipped),
        "refused": problems(refused),
    }
