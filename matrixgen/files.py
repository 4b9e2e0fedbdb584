"""Where matrixgen keeps its files, the names that become paths, and how files are written.

Everything matrixgen keeps or makes lives under one data directory (``MATRIXGEN_HOME``, default
``output/``): the store, the key, the archive of returns, the outbox, workbooks, summaries and
reports. They hold names, email addresses and what respondents wrote, so every file is created
0600 and every folder 0700 whatever the umask, and a file appears under its real name only once
it is whole (written to a temporary name in the same folder, then renamed).

Round labels and partnership ids become folder and file names. One rule (``LABEL_RE``) is
checked wherever one enters (the command line, a roster, a workbook's identity, the store), and
``inside`` refuses a path that would leave its folder whatever the label holds.
"""

from __future__ import annotations

import glob
import os
import re
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Iterator

HOME_ENV = "MATRIXGEN_HOME"
DEFAULT_HOME = "output"
FILE_MODE = 0o600
DIR_MODE = 0o700

# A round label or partnership id: a letter or digit first, then letters, digits, '.', '_' and '-'.
LABEL_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,39}")
LABEL_RULE = "a letter or digit, then letters, digits, '.', '_' and '-', at most 40 characters"


def data_dir() -> Path:
    """Where the store, archive, key and everything the commands write live unless told otherwise."""
    return Path(os.environ.get(HOME_ENV) or DEFAULT_HOME)


def valid_label(value: str) -> bool:
    """True for a usable round label or partnership id (see ``LABEL_RE``)."""
    return bool(LABEL_RE.fullmatch(value))


class UnsafePath(ValueError):
    """A path built from a label or id would leave its folder."""


def inside(folder: str | Path, *parts: str) -> Path:
    """``folder/parts...``, refused unless it stays inside ``folder`` (after resolving ``..`` and links)."""
    base = Path(folder).resolve()
    for part in parts:
        if not part or part in (".", "..") or "/" in part or "\\" in part or "\x00" in part:
            raise UnsafePath(f"{part!r} cannot be used as a file or folder name")
    target = base.joinpath(*parts).resolve()
    if target == base or not target.is_relative_to(base):
        raise UnsafePath(f"{'/'.join(parts)!r} would leave {folder}")
    return target


def private_dir(path: str | Path) -> Path:
    """Make ``path`` and any missing parents, each new folder 0700; returns it."""
    path = Path(path)
    missing = []
    probe = path
    while not probe.exists():
        missing.append(probe)
        if probe.parent == probe:
            break
        probe = probe.parent
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=DIR_MODE)
        except FileExistsError:
            continue
        os.chmod(folder, DIR_MODE)  # mkdir's mode is reduced by the umask
    return path


def private_file(path: str | Path) -> Path:
    """Restrict an existing file (made by a library we do not control) to its owner."""
    os.chmod(path, FILE_MODE)
    return Path(path)


@contextmanager
def atomic_open(path: str | Path, mode: str = "wb", *, durable: bool = False, **kwargs) -> Iterator[IO]:
    """Write ``path`` whole or not at all: a private temporary file in the same folder, renamed
    over ``path`` when the block ends without an exception (and removed when it does not).

    A killed process or Ctrl-C never leaves a half-written file under the real name; ``durable``
    also syncs it to disk first, against a power cut (slower: a thousand workbooks notice it)."""
    from .interrupt import held

    path = Path(path)
    private_dir(path.parent)
    tmp: str | None = None
    try:
        # A Ctrl-C inside mkstemp, after it made the file but before we know its name, would leave
        # the file behind: it waits until the name is known (and the file is then removed below).
        with held():
            fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)  # 0600
        with os.fdopen(fd, mode, **kwargs) as fh:
            yield fh
            if durable:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass
        raise


def discard_partial(path: str | Path) -> None:
    """Remove what ``atomic_open(path)`` left behind in a process that was killed mid-write."""
    path = Path(path)
    for partial in path.parent.glob(f".{glob.escape(path.name)}.*.part"):
        partial.unlink(missing_ok=True)


def write_private(path: str | Path, data: bytes | str, encoding: str = "utf-8") -> Path:
    """Write ``data`` to ``path`` atomically, mode 0600."""
    if isinstance(data, str):
        data = data.encode(encoding)
    with atomic_open(path, "wb") as fh:
        fh.write(data)
    return Path(path)


def create_private(path: str | Path, data: bytes) -> bool:
    """Write ``data`` to ``path`` unless it exists (content-addressed files: the archive).

    Returns False when the file was there already. Atomic: a reader never sees it half-written."""
    path = Path(path)
    if path.exists():
        return False
    write_private(path, data)
    return True


def shown_path(path: str | Path) -> str:
    """A path as the user would type it: relative to here when it is below here."""
    path = Path(path)
    here = Path.cwd()
    return str(path.relative_to(here)) if path.is_absolute() and path.is_relative_to(here) else str(path)
