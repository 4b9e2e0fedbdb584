"""The office mailbox over IMAP (IMAPClient): list, fetch, move to the done folder, wait for more.

Every server response is parsed by IMAPClient. Messages are fetched with BODY.PEEK (a message
matrixgen has not finished with stays unread for staff) and only after their sizes, so a message
over the size limit is never downloaded, just its header. Processed messages are moved to the
done folder (created if missing); a server without MOVE gets them flagged \\Seen and
``KEYWORD`` instead, and those are left out of the next listing.
"""

from __future__ import annotations

import socket
import ssl
from datetime import timezone
from typing import Iterator, Sequence

from ..errors import Problem, problem
from .errors import reason as _reason
from .settings import ImapSettings
from .sources import Fetched, Listed, SourceError

KEYWORD = "MatrixgenProcessed"
FETCH_CHUNK = 50  # whole messages a FETCH: a few MB at most
LIST_CHUNK = 1000  # UIDs a FETCH of sizes
HEADER_BYTES = 64 * 1024  # of an oversized message, enough to answer its sender


def connection_errors() -> tuple[type[BaseException], ...]:
    """What a dropped or refused connection raises, for the caller that reconnects."""
    from imapclient.exceptions import IMAPClientAbortError, IMAPClientError

    return (OSError, ssl.SSLError, socket.timeout, IMAPClientAbortError, IMAPClientError)


class ImapSource:
    def __init__(self, settings: ImapSettings):
        self.settings = settings
        self.mailbox = settings.mailbox
        self.uidvalidity: int | None = None
        self.client = None
        self.can_move = True
        self.can_idle = False
        self.folder = settings.folder
        self.done_folder = settings.done_folder

    def _scrub(self, text: str) -> str:
        pw = self.settings.password
        return text.replace(pw, "********") if pw else text

    def _where(self) -> str:
        return f"{self.settings.host}:{self.settings.port}"

    def open(self) -> list[Problem]:
        from imapclient import IMAPClient
        from imapclient.exceptions import LoginError

        s = self.settings
        context = ssl.create_default_context(cafile=str(s.ca_file) if s.ca_file else None)
        try:
            client = IMAPClient(s.host, s.port, ssl=s.security == "ssl", ssl_context=context, timeout=s.timeout)
        except (OSError, ssl.SSLError) as exc:
            raise SourceError(problem("MG-MAIL-020", self._where(), reason=self._scrub(_reason(exc)))) from None
        self.client = client
        client.normalise_times = False  # keep the server's time zone: stored in UTC
        notes: list[Problem] = []
        broken = "MG-MAIL-020"  # until logged in, a failure is the connection's; after, a broken one
        try:
            if s.security == "starttls":
                if not client.has_capability("STARTTLS"):
                    raise SourceError(problem("MG-MAIL-022", self._where()))
                client.starttls(context)
            try:
                client.login(s.user, s.password)
            except LoginError as exc:
                raise SourceError(problem("MG-MAIL-021", self._where(), user=s.user,
                                          reason=self._scrub(_reason(exc)))) from None
            broken = "MG-MAIL-025"
            delimiter = self._delimiter()
            self.folder = _server_name(s.folder, delimiter)
            self.done_folder = _server_name(s.done_folder, delimiter)
            if not client.folder_exists(self.folder):
                known = ", ".join(sorted(str(name) for _, _, name in client.list_folders())[:20])
                raise SourceError(problem("MG-MAIL-023", "MATRIXGEN_IMAP_FOLDER", folder=s.folder, known=known))
            info = client.select_folder(self.folder)
            self.uidvalidity = int(info[b"UIDVALIDITY"])
            if not client.folder_exists(self.done_folder):
                try:
                    client.create_folder(self.done_folder)
                except connection_errors() as exc:
                    raise SourceError(problem("MG-MAIL-024", "MATRIXGEN_IMAP_DONE_FOLDER", folder=s.done_folder,
                                              reason=self._scrub(_reason(exc)))) from None
            self.can_move = client.has_capability("MOVE")
            self.can_idle = client.has_capability("IDLE")
            if not self.can_move:
                notes.append(problem("MG-MAIL-027", s.folder, keyword=KEYWORD, folder=s.folder))
        except SourceError:
            self.close()
            raise
        except connection_errors() as exc:
            self.close()
            raise SourceError(problem(broken, self._where(), reason=self._scrub(_reason(exc)))) from None
        return notes

    def _delimiter(self) -> str:
        for _, delimiter, _ in self.client.list_folders("", "INBOX"):
            if delimiter:
                return delimiter.decode() if isinstance(delimiter, bytes) else str(delimiter)
        return "/"

    def listing(self) -> list[Listed]:
        criteria = ["NOT", "DELETED"] if self.can_move else ["NOT", "DELETED", "NOT", "KEYWORD", KEYWORD]
        uids = sorted(self.client.search(criteria))
        found: list[Listed] = []
        for i in range(0, len(uids), LIST_CHUNK):
            data = self.client.fetch(uids[i:i + LIST_CHUNK], ["RFC822.SIZE", "INTERNALDATE"])
            for uid in uids[i:i + LIST_CHUNK]:
                item = data.get(uid)
                if item is None:  # expunged meanwhile
                    continue
                when = item.get(b"INTERNALDATE")
                stamp = when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ") if when and when.tzinfo else ""
                found.append(Listed(str(uid), uid, int(item.get(b"RFC822.SIZE", 0)), stamp))
        return found

    def fetch(self, listed: Sequence[Listed], max_bytes: int) -> Iterator[Fetched]:
        """In the order listed; of a message over ``max_bytes`` only the start of its header."""
        header_item = f"BODY.PEEK[HEADER]<0.{HEADER_BYTES}>"
        for i in range(0, len(listed), FETCH_CHUNK):
            part = listed[i:i + FETCH_CHUNK]
            big = [item.uid for item in part if item.size > max_bytes]
            small = [item.uid for item in part if item.size <= max_bytes]
            heads = self.client.fetch(big, [header_item]) if big else {}
            bodies = self.client.fetch(small, ["BODY.PEEK[]"]) if small else {}
            for item in part:
                if item.size > max_bytes:
                    got = heads.get(item.uid, {})
                    header = next((v for k, v in got.items() if k.startswith(b"BODY[HEADER]")), b"") or b""
                    yield Fetched(item, None, bytes(header))
                    continue
                raw = bodies.get(item.uid, {}).get(b"BODY[]")
                if raw is not None:  # expunged meanwhile: nothing to do
                    yield Fetched(item, bytes(raw))

    def done(self, listed: Sequence[Listed]) -> Problem | None:
        uids = [item.uid for item in listed if item.uid is not None]
        if not uids:
            return None
        try:
            if self.can_move:
                self.client.move(uids, self.done_folder)
            else:
                self.client.add_flags(uids, [b"\\Seen", KEYWORD.encode()])
        except connection_errors() as exc:
            return problem("MG-MAIL-028", self.settings.folder, folder=self.settings.done_folder,
                           reason=self._scrub(_reason(exc)))
        return None

    def wait(self, seconds: float) -> None:
        """Until something arrives (IMAP IDLE) or ``seconds`` pass; without IDLE, just the wait."""
        import time

        if not self.can_idle:
            time.sleep(seconds)
            return
        self.client.idle()
        try:
            self.client.idle_check(timeout=seconds)
        finally:
            self.client.idle_done()

    def close(self) -> None:
        if self.client is not None:
            try:
                self.client.logout()
            except Exception:  # already gone: nothing to close
                try:
                    self.client.shutdown()
                except Exception:
                    pass
            self.client = None


def _server_name(name: str, delimiter: str) -> str:
    """A folder name from the settings ('/' between levels) as this server spells it."""
    if name.upper() == "INBOX":
        return "INBOX"
    return delimiter.join(name.split("/"))
