"""One raw email -> who sent it, what kind of message it is, and the files attached to it.

Pure: bytes in, an ``Incoming`` out; nothing is written and nothing in the message is trusted.
The standard ``email`` package parses it (``policy.default``: RFC 2047 and RFC 2231 names
decoded, defects recorded rather than raised). In order:

1. **Bounds before parsing**: the message's size and its header's size.
2. **What kind of message**: a delivery report (DSN), an automatic reply, a mailing list, our own
   address, or a person. Only people are answered (RFC 3834); machines are recorded and left.
3. **Its files**: every attachment, also inside forwarded messages (``message/rfc822``) and zip
   files of workbooks, under limits on their number, nesting and (for zips) the same bounds that
   the reader (``matrixgen/read/``) puts on a workbook. A broken encoding or a name that is a path refuses that file;
   too many files, too deep or too big refuses the whole message. Either way with a reason.
"""

from __future__ import annotations

import io
import re
import zipfile
from dataclasses import dataclass
from datetime import timezone
from email import policy
from email.message import EmailMessage
from email.parser import BytesHeaderParser, BytesParser
from typing import Iterable, Iterator

from ..errors import Problem, problem
from ..read import DEFAULT_LIMITS, Limits
from ..read.kinds import MB

PERSON, AUTO_FORWARD, AUTO_REPLY, LIST, REPORT, OWN = "person", "auto-forward", "auto-reply", "list", "report", "own"
SCORED_KINDS = (PERSON, AUTO_FORWARD)  # whose attachments are scored
ANSWERED_KINDS = (PERSON,)  # who gets a receipt: never a machine

TEXT_CHARS = 20_000  # of a message's text kept for the review queue
# Parts that travel with a message but are never a return: signatures and pictures in the text.
NOT_FILES = {"application/pkcs7-signature", "application/x-pkcs7-signature", "application/pgp-signature",
             "application/pgp-keys", "text/x-vcard", "text/vcard"}
OOF_SUBJECT = re.compile(r"^\s*(automatic reply|auto(matic)?[- ]?(reply|response)|out of (the )?office|autoreply)\b",
                         re.I)


@dataclass(frozen=True)
class MailLimits:
    """What a message may be before it is refused. A return is one ~20 KB workbook."""

    max_bytes: int = 25 * MB
    max_header_bytes: int = 256 * 1024
    max_attachments: int = 20  # files, zip members included
    max_depth: int = 5  # multipart and forwarded-message levels
    max_parts: int = 200
    files: Limits = DEFAULT_LIMITS  # each file, and each zip of files, as the reader bounds a workbook


DEFAULT_MAIL_LIMITS = MailLimits()


@dataclass(frozen=True)
class Attachment:
    name: str  # as the sender named it ('' when unnamed); 'files.zip/NE-IT.xlsx' for a zip member
    data: bytes
    problem: Problem | None = None  # refused (broken encoding, a path for a name, a zip bomb) or skipped


@dataclass(frozen=True)
class Bounce:
    """A delivery-status notification: which of our messages could not be delivered, to whom, why."""

    message_id: str
    recipient: str
    status: str
    diagnostic: str


@dataclass(frozen=True)
class Incoming:
    message_id: str
    sender: str  # the one From address; '' when there is none or several
    sender_name: str
    sent_at: str  # the Date header in UTC, ISO; '' when missing or unreadable
    subject: str
    kind: str = PERSON
    why: str = ""  # what made it a machine's message
    attachments: tuple[Attachment, ...] = ()
    text: str = ""
    refused: Problem | None = None  # the whole message
    bounces: tuple[Bounce, ...] = ()
    references: str = ""  # for a reply: its References plus its Message-ID
    answerable: bool = True  # the sender's address can be written to

    @property
    def scored(self) -> bool:
        return self.refused is None and self.kind in SCORED_KINDS

    @property
    def answered(self) -> bool:
        return self.kind in ANSWERED_KINDS and bool(self.sender) and self.answerable


def parse(raw: bytes, own: Iterable[str] = (), limits: MailLimits = DEFAULT_MAIL_LIMITS) -> Incoming:
    """Read one raw message; never raises for anything in it. ``own``: this office's addresses."""
    own_addresses = {a.casefold() for a in own if a}
    head = _header_block(raw, limits.max_header_bytes)
    if head is None:
        return _refused_early(raw, problem("MG-MAIL-043", size=f"{_header_size(raw) // 1024}",
                                           limit=f"{limits.max_header_bytes // 1024}"))
    if len(raw) > limits.max_bytes:
        return _refused_early(raw, problem("MG-MAIL-040", size=f"{len(raw) / MB:.1f}", limit=f"{limits.max_bytes / MB:.1f}"))
    try:
        msg = BytesParser(policy=policy.default).parsebytes(raw)
        return _read(msg, own_addresses, limits)
    except RecursionError:
        return _refused_early(raw, problem("MG-MAIL-042", limit=limits.max_depth))
    except Exception as exc:  # an untrusted message must never stop the run
        return _refused_early(raw, problem("MG-MAIL-047", reason=type(exc).__name__))


def headers_only(raw_header: bytes, own: Iterable[str] = ()) -> Incoming:
    """Who sent a message and what it is about, from its header alone (a message too big to fetch)."""
    try:
        msg = BytesHeaderParser(policy=policy.default).parsebytes(raw_header)
        return _envelope(msg, {a.casefold() for a in own if a})
    except Exception:
        return Incoming("", "", "", "", "", answerable=False)


# --- the envelope ------------------------------------------------------------------------------------


def _read(msg: EmailMessage, own: set[str], limits: MailLimits) -> Incoming:
    base = _envelope(msg, own)
    if base.kind == REPORT:
        return _with(base, bounces=tuple(_bounces(msg)))
    if base.kind not in SCORED_KINDS:
        return _with(base, text=_text(msg))
    files: list[Attachment] = []
    refused = _collect_files(msg, 0, limits, files, [0])
    if refused is None and len(files) > limits.max_attachments:
        refused = problem("MG-MAIL-041", count=len(files), limit=limits.max_attachments)
    if refused is not None:
        return _with(base, refused=refused, text=_text(msg))
    return _with(base, attachments=tuple(files), text=_text(msg))


def _with(base: Incoming, **changes) -> Incoming:
    from dataclasses import replace

    return replace(base, **changes)


def _envelope(msg: EmailMessage, own: set[str]) -> Incoming:
    sender, name, answerable = "", "", False
    try:
        addresses = msg["From"].addresses if msg["From"] is not None else ()
    except Exception:
        addresses = ()
    if len(addresses) == 1:
        sender = addresses[0].addr_spec or ""
        name = clean(addresses[0].display_name or "", 200)
        answerable = _answerable(sender)
    message_id = clean(str(msg["Message-ID"] or ""), 998).strip()
    sent_at = ""
    try:
        when = msg["Date"].datetime if msg["Date"] is not None else None
        if when is not None and when.tzinfo is not None:
            sent_at = when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    except Exception:
        pass
    subject = clean(str(msg["Subject"] or ""), 500)
    references = " ".join(f"{clean(str(msg['References'] or ''), 4000)} {message_id}".split())
    kind, why = _kind(msg, sender, subject, own)
    return Incoming(message_id, sender, name, sent_at, subject, kind, why, references=references,
                    answerable=answerable)


def _kind(msg: EmailMessage, sender: str, subject: str, own: set[str]) -> tuple[str, str]:
    """Who wrote it: a person, or a machine that must never be answered (RFC 3834)."""
    if msg.get_content_type() == "multipart/report":
        return REPORT, f"a {msg.get_param('report-type') or 'delivery'} report"
    if sender and sender.casefold() in own:
        return OWN, "from this office"
    auto = str(msg.get("Auto-Submitted", "") or "").strip().lower()
    if auto and auto != "no":
        if auto.startswith("auto-forwarded"):
            return AUTO_FORWARD, "Auto-Submitted: auto-forwarded"
        return AUTO_REPLY, f"Auto-Submitted: {auto[:40]}"
    for header in ("X-Autoreply", "X-Autorespond", "X-Autoresponder"):
        if msg.get(header) is not None:
            return AUTO_REPLY, header
    precedence = str(msg.get("Precedence", "") or "").strip().lower()
    if precedence in ("bulk", "junk", "auto_reply"):
        return AUTO_REPLY, f"Precedence: {precedence}"
    if msg.get("List-Id") is not None or precedence == "list":
        return LIST, "List-Id" if msg.get("List-Id") is not None else "Precedence: list"
    local = sender.rpartition("@")[0].casefold()
    if local in ("mailer-daemon", "postmaster") or str(msg.get("Return-Path", "") or "").strip() == "<>":
        return AUTO_REPLY, "from a mail server"
    if OOF_SUBJECT.match(subject):
        return AUTO_REPLY, "an out-of-office subject"
    return PERSON, ""


ADDRESS_RE = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+")


def _answerable(address: str) -> bool:
    return bool(ADDRESS_RE.fullmatch(address)) and len(address) <= 254


def clean(text: str, limit: int) -> str:
    """One line of text from a header: no control characters, at most ``limit`` characters."""
    return re.sub(r"[\x00-\x1f\x7f]+", " ", text)[:limit]


# --- files ---------------------------------------------------------------------------------------------


def _collect_files(part: EmailMessage, depth: int, limits: MailLimits, files: list[Attachment],
                   count: list[int]) -> Problem | None:
    """Every file below ``part`` into ``files``; a problem that refuses the whole message, or None."""
    count[0] += 1
    if depth > limits.max_depth:
        return problem("MG-MAIL-042", limit=limits.max_depth)
    if count[0] > limits.max_parts:
        return problem("MG-MAIL-041", count=f"more than {limits.max_parts}", limit=limits.max_attachments)
    if len(files) > limits.max_attachments:
        return problem("MG-MAIL-041", count=len(files), limit=limits.max_attachments)
    ctype = part.get_content_type()
    if part.is_multipart():
        for sub in part.iter_parts():
            refused = _collect_files(sub, depth + 1, limits, files, count)
            if refused is not None:
                return refused
        return None
    if ctype == "message/rfc822":  # a forwarded message: its files count as the sender's
        inner = part.get_payload()
        for sub in (inner if isinstance(inner, list) else [inner]):
            if isinstance(sub, EmailMessage):
                refused = _collect_files(sub, depth + 1, limits, files, count)
                if refused is not None:
                    return refused
        return None
    if not _is_file(part):
        return None
    name = clean(part.get_filename() or "", 255).strip()
    data = part.get_payload(decode=True) or b""
    if any("Base64" in type(d).__name__ for d in part.defects):
        files.append(Attachment(name, b"", problem("MG-MAIL-044", name, name=name or "(unnamed)")))
        return None
    bad = name_problem(name)
    if bad is not None:
        files.append(Attachment(name, b"", bad))
        return None
    if _is_archive(name, data):
        files.extend(unzip(name, data, limits))
        return None
    files.append(Attachment(name, data))
    return None


def _is_file(part: EmailMessage) -> bool:
    ctype = part.get_content_type()
    if ctype in NOT_FILES:
        return False
    disposition = part.get_content_disposition()
    named = bool(part.get_filename())
    if part.get_content_maintype() == "image" and (disposition != "attachment" or part["Content-ID"]):
        return False  # a picture in the text: a signature's logo
    if disposition == "attachment" or named:
        return True
    return part.get_content_maintype() not in ("text", "multipart", "message")


def name_problem(name: str) -> Problem | None:
    """A name that is a path, or a name of something that is not a return at all."""
    if "/" in name or "\\" in name or name in (".", "..") or "\x00" in name or re.match(r"^[A-Za-z]:", name):
        return problem("MG-MAIL-046", name, name=name)
    base = name
    if base.startswith("~$"):
        return problem("MG-READ-031", name)
    if base.startswith("."):
        return problem("MG-READ-032", name)
    return None


def _is_archive(name: str, data: bytes) -> bool:
    """A zip of files, as opposed to a workbook (also a zip) or an OpenDocument file."""
    if data[:4] != b"PK\x03\x04" and not name.lower().endswith(".zip"):
        return False
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            names = set(z.namelist())
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, NotImplementedError):
        return name.lower().endswith(".zip")  # a damaged .zip: refused by unzip with the reason
    return "[Content_Types].xml" not in names and "mimetype" not in names


def unzip(name: str, data: bytes, limits: MailLimits) -> Iterator[Attachment]:
    """The files of a zip, each named ``<zip name>/<file name>``, under the reader's bounds; a zip that
    breaks them is one refused attachment, none of its files opened."""
    bounds = limits.files

    def refuse(reason: str) -> Iterator[Attachment]:
        yield Attachment(name, b"", problem("MG-MAIL-045", name, name=name, reason=reason))

    if len(data) > bounds.max_bytes:
        yield from refuse(f"{len(data) / MB:.1f} MB, more than {bounds.max_bytes / MB:.1f} MB")
        return
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            infos = [i for i in z.infolist() if not i.is_dir()]
            total = sum(i.file_size for i in infos)
            if len(infos) > limits.max_attachments:
                yield from refuse(f"{len(infos)} files, more than {limits.max_attachments}")
                return
            if total > bounds.max_uncompressed or (total > MB and total > bounds.max_ratio * max(len(data), 1)):
                yield from refuse(f"its files expand to {total / MB:.1f} MB")
                return
            for info in infos:
                if info.flag_bits & 0x1:
                    yield from refuse("it is encrypted")
                    return
                if info.file_size > bounds.max_bytes or (
                        info.file_size > MB and info.file_size > bounds.max_ratio * max(info.compress_size, 1)):
                    yield from refuse(f"{info.filename} expands to {info.file_size / MB:.1f} MB")
                    return
            found = []
            for info in infos:
                inner = info.filename
                parts = inner.replace("\\", "/").split("/")
                if inner.startswith(("/", "\\")) or ".." in parts or re.match(r"^[A-Za-z]:", inner):
                    found.append(Attachment(f"{name}/{inner}", b"", problem("MG-MAIL-046", name, name=inner)))
                    continue
                base = parts[-1]
                if parts[0] == "__MACOSX" or not base:
                    continue  # the resource forks macOS adds to every zip it makes
                with z.open(info) as fh:
                    body = fh.read(info.file_size + 1)
                if len(body) != info.file_size:
                    yield from refuse(f"{inner} is not the size its zip entry says")
                    return
                skip = name_problem(base)
                found.append(Attachment(f"{name}/{base}", b"" if skip else body, skip))
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, NotImplementedError, RuntimeError) as exc:
        yield from refuse(f"not a complete zip file: {type(exc).__name__}")
        return
    yield from found


# --- text and reports ----------------------------------------------------------------------------------


def _text(msg: EmailMessage) -> str:
    """The message's own words (not its quoted forwards), for a person reading the review queue."""
    try:
        body = msg.get_body(preferencelist=("plain", "html"))
        if body is None:
            return ""
        text = body.get_content()
    except Exception:
        return ""
    if body.get_content_subtype() == "html":
        text = re.sub(r"<(script|style)\b.*?</\1>", " ", text, flags=re.S | re.I)
        text = re.sub(r"<[^>]+>", " ", text)
    text = re.sub(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", "", text)
    return text.strip()[:TEXT_CHARS]


def _bounces(msg: EmailMessage) -> Iterator[Bounce]:
    """The failed recipients of a delivery-status report, with the Message-ID of the message that failed."""
    original = ""
    blocks: list = []
    for part in msg.walk():
        ctype = part.get_content_type()
        if ctype == "message/delivery-status":
            payload = part.get_payload()
            blocks = payload if isinstance(payload, list) else []
        elif ctype == "message/rfc822" and not original:
            inner = part.get_payload()
            inner = inner[0] if isinstance(inner, list) and inner else inner
            original = str(inner.get("Message-ID", "")) if isinstance(inner, EmailMessage) else ""
        elif ctype == "text/rfc822-headers" and not original:
            try:
                raw = part.get_payload(decode=True) or b""
                original = str(BytesHeaderParser(policy=policy.default).parsebytes(raw).get("Message-ID", ""))
            except Exception:
                original = ""
    for block in blocks[1:]:  # the first block is about the message, the rest one per recipient
        action = str(block.get("Action", "")).strip().lower()
        if action != "failed":
            continue
        recipient = str(block.get("Final-Recipient", "") or block.get("Original-Recipient", ""))
        recipient = recipient.split(";", 1)[-1].strip()
        yield Bounce(original.strip(), clean(recipient, 254), clean(str(block.get("Status", "")).strip(), 20),
                     clean(str(block.get("Diagnostic-Code", "")).split(";", 1)[-1].strip(), 300))


# --- bounds before parsing ---------------------------------------------------------------------------


def _header_block(raw: bytes, limit: int) -> bytes | None:
    """The header lines, or None when they run past ``limit`` bytes."""
    window = raw[:limit + 4]
    for sep in (b"\r\n\r\n", b"\n\n"):
        at = window.find(sep)
        if at != -1 and at <= limit:
            return raw[:at]
    return None if len(raw) > limit else raw


def _header_size(raw: bytes) -> int:
    at = min((i for i in (raw.find(b"\r\n\r\n"), raw.find(b"\n\n")) if i != -1), default=len(raw))
    return at


def _refused_early(raw: bytes, found: Problem) -> Incoming:
    """A message refused before (or while) parsing it: who sent it, from the first bytes of its header."""
    base = headers_only(raw[:64 * 1024].split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0] + b"\r\n\r\n")
    return _with(base, refused=found)
