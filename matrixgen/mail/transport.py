"""Transports: SMTP to the office's server, or ``.eml`` files in the outbox for a dry run."""

from __future__ import annotations

import base64
import smtplib
import ssl
import time
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from pathlib import Path
from typing import Callable, Protocol

from ..errors import Problem, problem
from ..files import inside, private_dir, write_private
from .errors import reason as _reason, text as _text
from .settings import Settings

class SendFailure(Exception):
    """``fatal``: the connection or the account is unusable, so the rest of the batch stops."""

    def __init__(self, found: Problem, fatal: bool = False):
        super().__init__(str(found))
        self.problem = found
        self.fatal = fatal


class Transport(Protocol):
    def open(self) -> None: ...

    def ready(self) -> None:
        """Wait until the next message may go (the throttle). Called before the message is logged
        as *sending*, so a Ctrl-C during the wait leaves no record of a message that never left."""

    def send(self, msg: EmailMessage, sender: str, recipient: str, name: str) -> Path | None: ...

    def close(self) -> None: ...


class Throttle:
    """At most ``per_minute`` messages a minute, spaced evenly."""

    def __init__(self, per_minute: float, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep):
        self.interval = 60.0 / per_minute if per_minute > 0 else 0.0
        self.clock, self.sleep = clock, sleep
        self.last: float | None = None

    def wait(self) -> None:
        if self.interval and self.last is not None:
            delay = self.last + self.interval - self.clock()
            if delay > 0:
                self.sleep(delay)
        self.last = self.clock()


class SmtpTransport:
    """One connection for the whole batch; the login happens once, before the first message."""

    IDLE_CHECK = 30.0  # seconds; a throttled batch checks the connection is alive before reusing it

    def __init__(self, settings: Settings, throttle: Throttle | None = None):
        self.settings = settings
        self.throttle = throttle or Throttle(settings.throttle)
        self.conn: smtplib.SMTP | None = None
        self.used = 0.0

    def _scrub(self, text: str) -> str:
        return text.replace(self.settings.password, "********") if self.settings.password else text

    def _problem(self, code: str, exc: BaseException, **fields: object) -> Problem:
        s = self.settings
        return problem(code, f"{s.host}:{s.port}", reason=self._scrub(_reason(exc)), **fields)

    def open(self) -> None:
        s = self.settings
        context = ssl.create_default_context(cafile=str(s.ca_file) if s.ca_file else None)
        conn: smtplib.SMTP | None = None
        try:
            if s.security == "ssl":
                conn = smtplib.SMTP_SSL(s.host, s.port, timeout=s.timeout, context=context)
            else:
                conn = smtplib.SMTP(s.host, s.port, timeout=s.timeout)
            conn.ehlo()
            if s.security == "starttls":
                if not conn.has_extn("starttls"):
                    raise SendFailure(problem("MG-SEND-022", f"{s.host}:{s.port}"), fatal=True)
                conn.starttls(context=context)
                conn.ehlo()
            if s.user:
                self._login(conn)
        except SendFailure:
            _quietly_close(conn)
            raise
        except (smtplib.SMTPAuthenticationError, smtplib.SMTPNotSupportedError) as exc:
            _quietly_close(conn)
            raise SendFailure(self._problem("MG-SEND-021", exc, user=s.user), fatal=True) from None
        except (OSError, smtplib.SMTPException) as exc:
            _quietly_close(conn)
            raise SendFailure(self._problem("MG-SEND-020", exc), fatal=True) from None
        self.conn = conn
        self.used = time.monotonic()

    def _login(self, conn: smtplib.SMTP) -> None:
        """AUTH PLAIN when the server offers it (every mainstream server does, after TLS), else
        smtplib's own choice. PLAIN is sent here rather than through ``login()`` because smtplib
        encodes credentials as ASCII, while PLAIN carries UTF-8 (RFC 4616): a password with an
        accented letter would otherwise fail before it reached the server.
        """
        s = self.settings
        if "PLAIN" not in conn.esmtp_features.get("auth", "").upper().split():
            if not (s.user + s.password).isascii():
                raise smtplib.SMTPNotSupportedError(
                    "the server does not offer AUTH PLAIN, which a user name or password with non-ASCII characters needs")
            conn.login(s.user, s.password)
            return
        token = base64.b64encode(f"\0{s.user}\0{s.password}".encode("utf-8")).decode("ascii")
        code, reply = conn.docmd("AUTH", "PLAIN " + token)
        if code != 235:
            raise smtplib.SMTPAuthenticationError(code, reply)

    def _alive(self) -> bool:
        if self.conn is None:
            return False
        if time.monotonic() - self.used < self.IDLE_CHECK:
            return True
        try:
            return self.conn.noop()[0] == 250
        except (OSError, smtplib.SMTPException):
            return False

    def ready(self) -> None:
        self.throttle.wait()

    def send(self, msg: EmailMessage, sender: str, recipient: str, name: str) -> Path | None:
        if not self._alive():
            _quietly_close(self.conn)
            self.conn = None
            self.open()
        assert self.conn is not None
        try:
            self.conn.send_message(msg, from_addr=sender, to_addrs=[recipient])
        except smtplib.SMTPRecipientsRefused as exc:
            code, text = exc.recipients.get(recipient, (0, b""))
            reason = f"{code} {_text(text)}".strip()
            raise SendFailure(problem("MG-SEND-024", name, recipient=recipient, reason=self._scrub(reason))) from None
        except smtplib.SMTPSenderRefused as exc:
            code = "MG-SEND-026" if exc.smtp_code == 530 else "MG-SEND-023"
            raise SendFailure(self._problem(code, exc, sender=sender), fatal=True) from None
        except (smtplib.SMTPServerDisconnected, OSError) as exc:
            # Whether the server kept the message is unknown; the next message reconnects.
            _quietly_close(self.conn)
            self.conn = None
            raise SendFailure(problem("MG-SEND-025", name, reason=self._scrub(_reason(exc)))) from None
        except smtplib.SMTPException as exc:
            raise SendFailure(problem("MG-SEND-025", name, reason=self._scrub(_reason(exc)))) from None
        finally:
            self.used = time.monotonic()
        return None

    def close(self) -> None:
        if self.conn is not None:
            try:
                self.conn.quit()
            except (OSError, smtplib.SMTPException):
                _quietly_close(self.conn)
            self.conn = None


def _quietly_close(conn: smtplib.SMTP | None) -> None:
    if conn is not None:
        try:
            conn.close()
        except OSError:
            pass


class OutboxTransport:
    """``--dry-run``: each message as ``<folder>/<kind>_<partnership id>.eml``, to open in a mail
    program before anything is sent. ``open`` clears the earlier dry run's files of the same kind.
    """

    def __init__(self, folder: str | Path, kind: str):
        self.folder = Path(folder)
        self.kind = kind
        self.taken: set[str] = set()
        self.cleared = False

    def open(self) -> None:
        private_dir(self.folder)
        if self.cleared:  # one transport serves several batches (collect's receipts, a batch per round)
            return
        for old in self.folder.glob(f"{self.kind}_*.eml"):
            old.unlink()
        self.cleared = True

    def ready(self) -> None:
        pass

    def send(self, msg: EmailMessage, sender: str, recipient: str, name: str) -> Path | None:
        base, n = f"{self.kind}_{name or 'unmatched'}", 1
        stem = base
        while stem.casefold() in self.taken:  # ids that differ only in case, on a case-blind disk
            n += 1
            stem = f"{base}-{n}"
        self.taken.add(stem.casefold())
        return write_private(inside(self.folder, f"{stem}.eml"), msg.as_bytes(policy=SMTP_POLICY))

    def close(self) -> None:
        pass


def outbox_folder(data_dir: str | Path, round_label: str) -> Path:
    """``<data>/outbox/<round>``; a label that would leave the outbox (``..``) is refused, since the
    outbox clears the earlier dry run's files of the folder it is given."""
    return inside(Path(data_dir) / "outbox", round_label or "no-round")
