"""Where collected mail comes from: the office mailbox over IMAP (``imap.py``), or mail that a mail
program exported (here): a folder of ``.eml`` files, an mbox file or a Maildir. Each is a
``Source``; ``collect.py`` treats them the same after fetching.
"""

from __future__ import annotations

import mailbox
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Protocol, Sequence

from ..errors import Problem, problem


@dataclass(frozen=True)
class Listed:
    """A message waiting in the source: its handle, IMAP UID (None offline), size and arrival time."""

    key: str
    uid: int | None
    size: int
    received_at: str = ""  # when the office's server received it (IMAP INTERNALDATE), UTC ISO


@dataclass(frozen=True)
class Fetched:
    listed: Listed
    raw: bytes | None  # None: over the size limit, only its header was fetched
    header: bytes = b""


class SourceError(Exception):
    def __init__(self, found: Problem):
        super().__init__(str(found))
        self.problem = found


class Source(Protocol):
    mailbox: str  # recorded with each message
    uidvalidity: int | None  # IMAP only

    def open(self) -> list[Problem]: ...  # notes worth telling (e.g. no MOVE)

    def listing(self) -> list[Listed]: ...

    def fetch(self, listed: Sequence[Listed], max_bytes: int) -> Iterator[Fetched]: ...

    def done(self, listed: Sequence[Listed]) -> Problem | None: ...  # moved (or flagged); offline: nothing

    def close(self) -> None: ...


class ExportedMail:
    """``--from PATH``: an mbox file, a Maildir (a folder with cur/ and new/), a folder of ``.eml``
    files (searched recursively) or one ``.eml`` file. Read only: nothing is moved or changed, so a
    re-run recognises each message by its Message-ID (or its bytes)."""

    uidvalidity = None

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.mailbox = str(self.path.resolve())
        self._box: mailbox.Mailbox | None = None
        self._files: dict[str, Path] = {}

    def open(self) -> list[Problem]:
        p = self.path
        try:
            if p.is_dir() and (p / "cur").is_dir() and (p / "new").is_dir():
                self._box = mailbox.Maildir(p, factory=None, create=False)
                self.mailbox = f"maildir:{self.mailbox}"
            elif p.is_dir():
                self._files = {str(f.relative_to(p)): f for f in sorted(p.rglob("*.eml")) if f.is_file()}
                self.mailbox = f"eml:{self.mailbox}"
            elif p.is_file():
                with p.open("rb") as fh:
                    head = fh.read(5)
                if head == b"From ":
                    self._box = mailbox.mbox(p, factory=None, create=False)
                    self.mailbox = f"mbox:{self.mailbox}"
                else:
                    self._files = {p.name: p}
                    self.mailbox = f"eml:{self.mailbox}"
            else:
                raise FileNotFoundError(2, "no such file or folder")
        except OSError as exc:
            raise SourceError(problem("MG-MAIL-009", str(p), path=p, reason=exc.strerror or str(exc))) from None
        return []

    def listing(self) -> list[Listed]:
        if self._box is not None:
            # mbox keys are positions in the file, Maildir keys file names: sorted, for a stable order.
            return [Listed(str(k), None, 0) for k in sorted(self._box.keys(), key=_natural)]
        return [Listed(k, None, f.stat().st_size) for k, f in self._files.items()]

    def fetch(self, listed: Sequence[Listed], max_bytes: int) -> Iterator[Fetched]:
        for item in listed:
            raw = self._box.get_bytes(_key(self._box, item.key)) if self._box is not None else self._files[item.key].read_bytes()
            if len(raw) > max_bytes:
                yield Fetched(item, None, raw[:64 * 1024])
            else:
                yield Fetched(item, raw)

    def done(self, listed: Sequence[Listed]) -> Problem | None:
        return None

    def close(self) -> None:
        if self._box is not None:
            self._box.close()


def _key(box: mailbox.Mailbox, key: str):
    return int(key) if isinstance(box, mailbox.mbox) else key


def _natural(key) -> tuple:
    return (0, int(key), "") if isinstance(key, int) or str(key).isdigit() else (1, 0, str(key))
