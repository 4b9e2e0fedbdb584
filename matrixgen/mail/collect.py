"""``matrixgen collect``: returns from the office mailbox (or exported mail) into the store, and a
receipt to every person who sent one.

A mailbox is a queue that must neither lose nor double a message. For each chunk of messages:

1. **Known?** By mailbox, UIDVALIDITY and UID; else (a renumbered folder, exported mail) by
   Message-ID and sender; else by the sha256 of the raw message. Done ones are only moved again.
2. **Record** each new message as *received* and archive it (``<data>/archive/mail/<sha256>.eml``)
   before doing anything with it.
3. **Act**: its attachments (``incoming.py``) go through the same batch path as ``matrixgen
   score`` (read, matched with the sender as evidence, archived, stored); a message with none, or
   with nothing readable, waits in review with its text; machines' messages are recorded and left,
   and a delivery-status report marks our message bounced on the send log. Then each message is
   recorded as *processed* with what came of it and of each file.
4. **Answer** each person once: a receipt through the send log, which records it before and after
   sending, so a re-run never sends one twice (and a receipt whose run died mid-send is left alone).
5. **Move** the messages to the done folder, and record that.

Every step can be repeated: a run killed anywhere is completed by the next, which redoes only what
was not recorded (files already stored come back as duplicates of themselves).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Sequence

from ..errors import Problem, Severity, problem
from ..files import create_private, private_dir
from ..read.kinds import MB
from ..rubric import Rubric
from ..store import ReviewReason, Store
from .incoming import DEFAULT_MAIL_LIMITS, LIST, OWN, REPORT, SCORED_KINDS, Incoming, MailLimits, headers_only, parse
from .inbox import (
    BOUNCE, DUPLICATE, IGNORED, INCOMPLETE, REFUSED, REJECTED, REVIEW, SCORED, AttachmentRecord, Inbox, MessageRecord,
)
from .sources import Fetched, Listed, Source

CHUNK = 250  # messages recorded, scored, answered and moved together
RECEIPT = "receipts"


@dataclass(frozen=True)
class Collected:
    """What happened to one message in this run: a line of the command's output."""

    pk: int | None
    sender: str
    subject: str
    outcome: str  # scored | incomplete | rejected | review | refused | ignored | bounce | duplicate | done before | would ...
    files: tuple[tuple[str, str], ...] = ()  # (name, status)
    reason: str = ""
    receipt: str = ""  # sent | failed | unknown | skipped (already sent) | written | '' (none due)


@dataclass
class CollectResult:
    messages: list[Collected] = field(default_factory=list)
    notes: list[Problem] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)  # failed receipts, moves that failed
    moved: int = 0
    held: int = 0  # over --limit
    batch: object = None  # the batch.BatchResult of every file scored, for the summaries

    def counts(self) -> dict[str, int]:
        found: dict[str, int] = {}
        for m in self.messages:
            found[m.outcome] = found.get(m.outcome, 0) + 1
        return found

    @property
    def ok(self) -> bool:
        return not any(p.is_error for p in self.problems)


@dataclass(frozen=True)
class Receipts:
    """How receipts go out: the mail settings, a transport, the templates."""

    settings: object  # settings.Settings
    transport: object  # transport.Transport
    templates: object | None = None
    write_only: bool = False  # to an OutboxTransport, recorded nowhere (the demo)


def collect(source: Source, store: Store, rubric: Rubric, key: bytes, data_dir: str | Path, *,
            round_label: str = "", receipts: Receipts | None = None, dry_run: bool = False, limit: int | None = None,
            limits: MailLimits = DEFAULT_MAIL_LIMITS, workers: int | None = None,
            progress: Callable[[Collected], None] | None = None) -> CollectResult:
    """Collect every message waiting in ``source`` (opened); see the module docstring."""
    result = CollectResult()
    inbox = Inbox(store.engine)
    data_dir = Path(data_dir)
    listed = source.listing()
    uidvalidity = source.uidvalidity
    known: dict[int, MessageRecord] = {}
    if uidvalidity is not None:
        last = inbox.last_uidvalidity(source.mailbox)
        if last is not None and last != uidvalidity:
            result.notes.append(problem("MG-MAIL-026", source.mailbox, old=last, new=uidvalidity))
        known = inbox.by_uid(source.mailbox, uidvalidity, [item.uid for item in listed if item.uid is not None])
    own = _own_addresses(receipts)
    fresh = 0
    outcomes: list = []
    for start in range(0, len(listed), CHUNK):
        chunk = listed[start:start + CHUNK]
        finished: list[tuple[Listed, MessageRecord]] = []
        todo: list[tuple[Listed, MessageRecord | None]] = []
        for item in chunk:
            rec = known.get(item.uid) if item.uid is not None else None
            if rec is not None and rec.processed:
                finished.append((item, rec))
            elif rec is None and limit is not None and fresh >= limit:
                result.held += 1
            else:
                fresh += rec is None
                todo.append((item, rec))
        by_key = {item.key: rec for item, rec in todo}
        parsed = []
        for fetched in source.fetch([item for item, _ in todo], limits.max_bytes):
            raw = fetched.raw if fetched.raw is not None else fetched.header
            parsed.append((fetched, _incoming(fetched, own, limits), hashlib.sha256(raw).hexdigest()))
        earlier = inbox.by_identity((inc.message_id, inc.sender, sha) for f, inc, sha in parsed
                                    if by_key.get(f.listed.key) is None)
        work: list[tuple[Fetched, Incoming, str, MessageRecord | None]] = []
        for fetched, inc, sha in parsed:
            rec = by_key.get(fetched.listed.key) or earlier.get((inc.message_id, inc.sender, sha))
            if rec is not None and by_key.get(fetched.listed.key) is None and uidvalidity is not None:
                inbox.set_uid(rec.pk, source.mailbox, uidvalidity, fetched.listed.uid)
            if rec is not None and rec.processed:
                finished.append((fetched.listed, rec))
            else:
                work.append((fetched, inc, sha, rec))
        if dry_run:
            for fetched, inc, _, _ in work:
                _tell(result, progress, _would(inc))
            for _, rec in finished:
                _tell(result, progress, Collected(rec.pk, rec.sender, rec.subject, "done before",
                                                  reason="would be moved to the done folder"))
            continue

        # 2. Record before acting.
        new = [(f, inc, sha) for f, inc, sha, rec in work if rec is None]
        pks = inbox.add([_row(source, f, inc, sha, _archive(data_dir, f, sha)) for f, inc, sha in new])
        pk_of = dict(zip((id(f) for f, _, _ in new), pks))
        acting = [(f, inc, rec.pk if rec is not None else pk_of[id(f)]) for f, inc, sha, rec in work]
        # 3. Act, and record what came of it.
        done, batch = _process(acting, store, rubric, key, data_dir, round_label, workers)
        if batch is not None:
            outcomes.append(batch)
        inbox.processed(done)
        handled = inbox.messages([pk for _, _, pk in acting] + [rec.pk for _, rec in finished])
        # 4. Answer.
        answers = _answer(handled, store, rubric, receipts, result) if receipts is not None else {}
        before = {rec.pk for _, rec in finished}
        for rec in handled:
            files = tuple((a.file_name or "(unnamed)", a.status) for a in rec.attachments)
            outcome = "done before" if rec.pk in before else rec.outcome
            _tell(result, progress, Collected(rec.pk, rec.sender, rec.subject, outcome, files, rec.reason,
                                              answers.get(rec.pk, "")))
        # 5. Move.
        moving = [item for item, _ in finished] + [f.listed for f, _, _ in acting]
        failed = source.done(moving)
        if failed is not None:
            result.problems.append(failed)
        elif source.uidvalidity is not None:
            inbox.moved([rec.pk for rec in handled])
            result.moved += len(moving)
    result.batch = _combine(outcomes)
    return result


def _tell(result: CollectResult, progress: Callable[[Collected], None] | None, found: Collected) -> None:
    result.messages.append(found)
    if progress is not None:
        progress(found)


def _own_addresses(receipts: Receipts | None) -> list[str]:
    """This office's addresses: mail from them is never scored or answered (it would loop)."""
    if receipts is None:
        return []
    s = receipts.settings
    from email.utils import parseaddr

    return [a for a in (s.sender, parseaddr(s.reply_to)[1] if s.reply_to else "") if a]


def _incoming(fetched: Fetched, own: Sequence[str], limits: MailLimits) -> Incoming:
    if fetched.raw is not None:
        return parse(fetched.raw, own, limits)
    # Over the size limit: never downloaded; who sent it comes from its header, to tell them.
    base = headers_only(fetched.header, own)
    return replace(base, refused=problem("MG-MAIL-040", size=f"{fetched.listed.size / MB:.1f}",
                                         limit=f"{limits.max_bytes / MB:.1f}"))


def _would(inc: Incoming) -> Collected:
    """``--dry-run``: what would happen to a message, from reading it alone."""
    if inc.refused is not None:
        return Collected(None, inc.sender, inc.subject, "would refuse", reason=inc.refused.message)
    if inc.kind == REPORT:
        return Collected(None, inc.sender, inc.subject, "would record", reason=f"{inc.why}: never answered")
    if inc.kind not in SCORED_KINDS:
        return Collected(None, inc.sender, inc.subject, "would ignore", reason=f"{inc.kind} ({inc.why}): never answered")
    files = tuple((a.name or "(unnamed)", "not read" if a.problem else "would score") for a in inc.attachments)
    if not any(a.problem is None for a in inc.attachments):
        return Collected(None, inc.sender, inc.subject, "would review", files, reason="no workbook attached")
    return Collected(None, inc.sender, inc.subject, "would score", files)


def _archive(data_dir: Path, fetched: Fetched, sha: str) -> str:
    """The raw message, kept byte for byte like every returned file (only the header of one too big
    to download)."""
    folder = private_dir(data_dir / "archive" / "mail")
    if fetched.raw is not None:
        target = folder / f"{sha}.eml"
        create_private(target, fetched.raw)
    else:
        target = folder / f"{sha}.header"
        create_private(target, fetched.header)
    return str(target)


def _row(source: Source, fetched: Fetched, inc: Incoming, sha: str, archive_path: str) -> dict:
    size = len(fetched.raw) if fetched.raw is not None else fetched.listed.size
    return dict(mailbox=source.mailbox, uidvalidity=source.uidvalidity, uid=fetched.listed.uid,
                message_id=inc.message_id, sha256=sha, size=size, sender=inc.sender, sender_name=inc.sender_name,
                sent_at=inc.sent_at, received_at=fetched.listed.received_at or inc.sent_at or _now(),
                subject=inc.subject, body_text=inc.text, archive_path=archive_path, kind=inc.kind,
                answer=inc.answered)


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- acting on messages ------------------------------------------------------------------------------


def _process(acting: Sequence[tuple[Fetched, Incoming, int]], store: Store, rubric: Rubric, key: bytes,
             data_dir: Path, round_label: str, workers: int | None):
    """Score the attachments of ``acting`` in one batch; (pk, values, files) for each message, and the BatchResult."""
    from ..batch import read_paths, store_results

    done: list[tuple[int, dict, list[AttachmentRecord]]] = []
    senders: dict[str, str] = {}
    scored: list[tuple[int, Incoming, list[AttachmentRecord]]] = []
    folder = Path(tempfile.mkdtemp(prefix="matrixgen-mail-"))  # 0700: attachments are respondents' data
    try:
        for fetched, inc, pk in acting:
            values = dict(round_label=None, partnership_id=None)
            if inc.refused is not None:
                done.append((pk, {**values, "outcome": REFUSED, **_reason(inc.refused)}, []))
            elif inc.kind == REPORT:
                done.append((pk, {**values, **_bounced(store, inc)}, []))
            elif inc.kind not in SCORED_KINDS:
                code = {LIST: "MG-MAIL-061", OWN: "MG-MAIL-064"}.get(inc.kind, "MG-MAIL-060")
                done.append((pk, {**values, "outcome": IGNORED, **_reason(problem(code, why=inc.why))}, []))
            else:
                files = _write_files(folder, pk, inc, _received(fetched, inc), senders)
                scored.append((pk, inc, files))
        batch = None
        if senders:
            store.record_rubric(rubric)
            with read_paths([folder], rubric, key, data_dir / "archive", round_label=round_label, workers=workers,
                            rubrics=store.rubrics(), start=False) as reading:
                batch = store_results(reading, store, senders=senders)
        by_shown = {o.file: o for o in batch.outcomes} if batch is not None else {}
        for pk, inc, files in scored:
            files = [_outcome_of(f, by_shown.get(f.shown)) for f in files]
            done.append((pk, _message_values(store, pk, inc, files, by_shown, round_label), files))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return done, batch


def _reason(found: Problem) -> dict:
    return {"reason_code": found.code, "reason": found.message}


def _received(fetched: Fetched, inc: Incoming) -> float:
    stamp = fetched.listed.received_at or inc.sent_at
    if stamp:
        return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc).timestamp()
    return time.time()


def _write_files(folder: Path, pk: int, inc: Incoming, when: float, senders: dict[str, str]) -> list[AttachmentRecord]:
    """Each readable attachment as ``<folder>/mail-<pk>/<safe name>``, dated when the message arrived."""
    files, taken = [], set()
    for seq, a in enumerate(inc.attachments, 1):
        if a.problem is not None:
            status = "skipped" if a.problem.severity is Severity.NOTE else REFUSED
            files.append(AttachmentRecord(seq, a.name, "", status=status, **_reason(a.problem)))
            continue
        name = safe_name(a.name, seq, taken)
        shown = f"mail-{pk}/{name}"
        path = private_dir(folder / f"mail-{pk}") / name
        path.write_bytes(a.data)
        os.utime(path, (when, when))
        senders[shown] = inc.sender
        files.append(AttachmentRecord(seq, a.name, shown, hashlib.sha256(a.data).hexdigest(), len(a.data)))
    return files


def safe_name(name: str, seq: int, taken: set[str]) -> str:
    """A file name that is safe on any disk and unique in its message: the sender's name in letters,
    digits, '.', '_' and '-' (so that an issued workbook's ``<id>_...`` name still tells whose it is)."""
    base = re.sub(r"[^A-Za-z0-9._-]+", "_", name.rsplit("/", 1)[-1]).strip("._") or f"attachment-{seq}"
    base = base[:120]
    stem, dot, ext = base.rpartition(".")
    candidate, n = base, 1
    while candidate.casefold() in taken:
        n += 1
        candidate = f"{stem}-{n}.{ext}" if dot else f"{base}-{n}"
    taken.add(candidate.casefold())
    return candidate


def _outcome_of(f: AttachmentRecord, outcome) -> AttachmentRecord:
    if outcome is None:
        return f
    found = next((p for p in outcome.problems if p.is_error), None) or (
        next((p for p in outcome.problems if p.code.startswith("MG-REVIEW")), None))
    return replace(f, status=outcome.status, submission_pk=outcome.submission_pk, sha256=outcome.sha256 or f.sha256,
                   reason_code=found.code if found else "", reason=found.message if found else "")


ORDER = (REVIEW, INCOMPLETE, REJECTED, REFUSED, SCORED, DUPLICATE, "skipped")


def _message_values(store: Store, pk: int, inc: Incoming, files: list[AttachmentRecord], by_shown: dict,
                    round_label: str) -> dict:
    statuses = [f.status for f in files]
    matched = [by_shown[f.shown] for f in files if f.shown in by_shown and by_shown[f.shown].partnership_id
                and by_shown[f.shown].status != REVIEW]
    rounds = [by_shown[f.shown].round_label for f in files if f.shown in by_shown and by_shown[f.shown].round_label]
    values = dict(round_label=rounds[0] if rounds else (round_label or None),
                  partnership_id=matched[0].partnership_id if matched else None)
    if any(s not in (REFUSED, "skipped") for s in statuses):
        return {**values, "outcome": next((s for s in ORDER if s in statuses), SCORED)}
    # Nothing to score: a person reads it (and answers). A file refused for its encoding or name says why.
    reasons = [f for f in files if f.reason]
    label = values["round_label"] or store.newest_open_round()
    if reasons and any(f.status == REFUSED for f in files):
        return {**values, "outcome": REFUSED, "reason_code": reasons[0].reason_code, "reason": reasons[0].reason}
    suggested = _sender_partnership(store, label, inc.sender)
    found = problem("MG-REVIEW-011", f"email from {inc.sender or 'an unknown sender'}",
                    sender=inc.sender or "an unknown sender", subject=inc.subject)
    store.add_message_review(pk, ReviewReason(found.code, found.message, suggested, label), label,
                             inc.sent_at or _now())
    return {**values, "round_label": label, "outcome": REVIEW, **_reason(found)}


def _sender_partnership(store: Store, label: str | None, sender: str) -> str | None:
    if not label or not sender:
        return None
    hits = [p.partnership_id for p in store.roster(label)
            if p.partnership_id and p.contact_email.strip().casefold() == sender.strip().casefold()]
    return hits[0] if len(hits) == 1 else None


def _bounced(store: Store, inc: Incoming) -> dict:
    """A delivery-status report: each failed recipient of one of our messages is recorded on the send log."""
    from .log import SqlSendLog

    log = SqlSendLog(store.engine)
    hits = []
    for b in inc.bounces:
        if not b.message_id:
            continue
        found = problem("MG-MAIL-062", b.recipient, recipient=b.recipient or "the recipient", status=b.status or "failed",
                        diagnostic=f": {b.diagnostic}" if b.diagnostic else "", when=(inc.sent_at or _now())[:10])
        record = log.bounced(b.message_id, b.recipient, found)
        if record is not None:
            hits.append((record, found))
    if not hits:
        return {"outcome": IGNORED, **_reason(problem("MG-MAIL-063"))}
    record, found = hits[0]
    return {"outcome": BOUNCE, "round_label": record.round or None, "partnership_id": record.partnership_id or None,
            **_reason(found)}


def _combine(batches: list):
    if not batches:
        return None
    first = batches[0]
    for other in batches[1:]:
        first.outcomes.extend(other.outcomes)
        first.skipped.extend(other.skipped)
        first.seconds += other.seconds
    return first


# --- answering ----------------------------------------------------------------------------------------


def _answer(handled: Sequence[MessageRecord], store: Store, rubric: Rubric, receipts: Receipts,
            result: CollectResult) -> dict[int, str]:
    """A receipt for each message that is due one, through the send log; its status by message pk."""
    from .batch import send_batch
    from .log import SqlSendLog
    from .receipts import plan_receipts
    from .templates import Round

    planned = plan_receipts([r for r in handled if r.answer], store, rubric)
    status: dict[int, str] = {}
    log = SqlSendLog(store.engine)
    for label, items in planned.items():
        info = store.round(label) if label else None
        rnd = Round(label, info.due if info else "", rubric.title)
        sent = send_batch(rnd, [p for _, p in items], receipts.settings, log, receipts.transport,
                          templates=receipts.templates, dry_run=receipts.write_only)
        by_ref = {p.ref: pk for pk, p in items}
        for o in sent.outcomes:
            if o.ref in by_ref:
                status[by_ref[o.ref]] = o.status
        result.problems.extend(sent.all_problems())
    return status


# --- --watch ------------------------------------------------------------------------------------------

RETRIED = ("MG-MAIL-020", "MG-MAIL-025")  # the network, not the settings: worth trying again
MAX_BACKOFF = 300.0


def watch(open_source: Callable[[], Source], run: Callable[[Source], CollectResult], *, poll: float,
          on_error: Callable[[Problem, float], None], sleep: Callable[[float], None] = time.sleep,
          rounds: int | None = None) -> None:
    """Collect, then wait for more (IMAP IDLE, else ``poll`` seconds), for ever (or ``rounds`` times).

    A dropped connection is reported through ``on_error`` and opened again after a pause that
    doubles each time, up to five minutes; a refused login or a missing folder stops it (trying
    again would not help). Ctrl-C (KeyboardInterrupt) goes to the caller, the source closed."""
    from .imap import connection_errors
    from .sources import SourceError

    source: Source | None = None
    backoff = 1.0
    done = 0
    try:
        while rounds is None or done < rounds:
            try:
                if source is None:
                    source = open_source()
                run(source)
                done += 1
                backoff = 1.0
                if rounds is None or done < rounds:
                    source.wait(poll)
            except SourceError as exc:
                if exc.problem.code not in RETRIED:
                    raise
                source = _dropped(source)
                on_error(exc.problem, backoff)
                sleep(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF)
            except connection_errors() as exc:
                from .errors import reason

                source = _dropped(source)
                on_error(problem("MG-MAIL-025", "", reason=reason(exc)), backoff)
                sleep(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF)
    finally:
        _dropped(source)


def _dropped(source: Source | None) -> None:
    if source is not None:
        try:
            source.close()
        except Exception:  # the connection is gone already
            pass
    return None
