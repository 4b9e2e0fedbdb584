"""Sending a batch: what has not gone out yet, recorded before and after each message."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Callable, Iterable, Sequence

from ..errors import Problem, problem
from .compose import ComposeProblem, compose, new_message_id
from .log import BOUNCED, FAILED, SENDING, SENT, Record, SendLog, utc_now
from .plan import Planned
from .settings import Settings
from .templates import EmailTemplates, Round, TemplateProblem, template_context
from .transport import SendFailure, Transport

SKIPPED, UNKNOWN, WRITTEN, HELD = "skipped", "unknown", "written", "held"


@dataclass(frozen=True)
class Outcome:
    """What happened to one planned message in this run.

    sent / failed (recorded); written (dry run, not recorded); skipped (sent before);
    unknown (an earlier run stopped while sending it); held (over --limit, or the batch stopped).
    """

    kind: str
    partnership_id: str
    recipient: str
    status: str
    problem: Problem | None = None
    message_id: str = ""
    path: Path | None = None
    ref: str = ""  # the planned message's ref: tells apart two messages to one partnership (receipts)


@dataclass
class SendResult:
    outcomes: list[Outcome] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)  # the batch stopped: nothing more was tried

    def count(self, status: str) -> int:
        return sum(1 for o in self.outcomes if o.status == status)

    @property
    def ok(self) -> bool:
        return not self.problems and not self.count(FAILED)

    def all_problems(self) -> list[Problem]:
        return [o.problem for o in self.outcomes if o.problem is not None] + self.problems


def send_batch(
    rnd: Round,
    items: Iterable[Planned],
    settings: Settings,
    log: SendLog,
    transport: Transport,
    *,
    templates: EmailTemplates | None = None,
    resend: bool = False,
    limit: int | None = None,
    dry_run: bool = False,
    progress: Callable[[Outcome], None] | None = None,
    clock: Callable[[], datetime] = utc_now,
) -> SendResult:
    """Send what has not been sent yet; record every attempt; go on past one recipient's failure.

    ``dry_run`` hands every message to ``transport`` (an ``OutboxTransport``) and records nothing.
    Outcomes come back in the order of ``items``.
    """
    items = list(items)
    result = SendResult()
    _run(rnd, items, settings, log, transport, result, templates or EmailTemplates(settings.templates),
         resend=resend, limit=limit, dry_run=dry_run, progress=progress, clock=clock)
    order = {p.partnership.id: i for i, p in reversed(list(enumerate(items)))}
    result.outcomes.sort(key=lambda o: order.get(o.partnership_id, 0))
    return result


def _run(rnd: Round, items: list[Planned], settings: Settings, log: SendLog, transport: Transport,
         result: SendResult, templates: EmailTemplates, *, resend: bool, limit: int | None, dry_run: bool,
         progress: Callable[[Outcome], None] | None, clock: Callable[[], datetime]) -> None:

    def done(outcome: Outcome) -> None:
        result.outcomes.append(outcome)
        if progress is not None:
            progress(outcome)

    pending: list[tuple[Planned, Record | None]] = []
    seen: set[tuple[str, str, str]] = set()
    for item in items:
        if item.key in seen:
            continue
        seen.add(item.key)
        last = log.last(rnd.label, *item.key)
        if last is not None and not resend and last.status in (SENT, SENDING):
            if last.status == SENT:
                done(Outcome(item.kind, item.partnership.id, last.recipient, SKIPPED, message_id=last.message_id,
                             ref=item.ref))
            else:
                done(Outcome(item.kind, item.partnership.id, last.recipient, UNKNOWN, message_id=last.message_id,
                             ref=item.ref, problem=problem("MG-SEND-034", item.partnership.id, message_id=last.message_id,
                                             recipient=last.recipient)))
            continue
        if last is not None and not resend and last.status == BOUNCED and last.recipient == item.recipient:
            # The address bounced: sending again to it would bounce again, until the roster is corrected.
            done(Outcome(item.kind, item.partnership.id, last.recipient, FAILED, message_id=last.message_id,
                         ref=item.ref, problem=problem("MG-MAIL-067", item.partnership.id, kind=item.kind, recipient=last.recipient,
                                         reason=last.error_code)))
            continue
        pending.append((item, last))
    if limit is not None:
        for item, _ in pending[limit:]:
            done(Outcome(item.kind, item.partnership.id, item.recipient, HELD, ref=item.ref))
        pending = pending[:limit]

    try:  # a template mistake stops the batch before anything goes out
        rendered = [None if item.problem else templates.render(item.kind, template_context(rnd, item, settings))
                    for item, _ in pending]
    except TemplateProblem as exc:
        result.problems.append(exc.problem)
        for item, _ in pending:
            done(Outcome(item.kind, item.partnership.id, item.recipient, HELD, ref=item.ref))
        return

    opened = False
    try:
        for index, ((item, last), text) in enumerate(zip(pending, rendered)):
            record = Record(rnd.label, item.kind, item.partnership.id, item.ref, item.recipient,
                            attachment_name=item.attachment.path.name if item.attachment else "")
            if item.problem is not None or text is None:
                _fail(log, record, item.problem, dry_run, done, item.ref)
                continue
            # A retry keeps the Message-ID of the failed attempt: if that one did arrive after all,
            # mail programs show the two as one message. A deliberate resend gets its own.
            message_id = last.message_id if last is not None and last.status != SENT and last.message_id \
                else new_message_id(settings, item)
            try:
                msg, sha = compose(item, text, settings, rnd, message_id, clock())
            except ComposeProblem as exc:
                _fail(log, replace(record, subject=text.subject, message_id=message_id), exc.problem, dry_run, done,
                      item.ref)
                continue
            record = replace(record, subject=text.subject, message_id=message_id, attachment_sha256=sha)
            if not opened:
                try:
                    transport.open()
                except SendFailure as exc:
                    result.problems.append(exc.problem)
                    _hold_rest(pending[index:], done)
                    return
                opened = True
            if dry_run:
                path = transport.send(msg, settings.sender, item.recipient, item.partnership.id)
                done(Outcome(item.kind, item.partnership.id, item.recipient, WRITTEN, message_id=message_id, path=path,
                             ref=item.ref))
                continue
            transport.ready()
            record = log.begin(record)
            try:
                transport.send(msg, settings.sender, item.recipient, item.partnership.id)
            except SendFailure as exc:
                log.finish(record, FAILED, exc.problem)
                done(Outcome(item.kind, item.partnership.id, item.recipient, FAILED, exc.problem, message_id, ref=item.ref))
                if exc.fatal:
                    rest = pending[index + 1:]
                    result.problems.append(problem("MG-SEND-027", "", reason=exc.problem.message, count=len(rest)))
                    _hold_rest(rest, done)
                    return
                continue
            log.finish(record, SENT)
            done(Outcome(item.kind, item.partnership.id, item.recipient, SENT, message_id=message_id, ref=item.ref))
    finally:
        if opened:
            transport.close()


def _fail(log: SendLog, record: Record, found: Problem | None, dry_run: bool, done: Callable[[Outcome], None],
          ref: str = "") -> None:
    """A message that cannot even be composed is still recorded as failed, so that it shows."""
    if not dry_run:
        log.finish(log.begin(record), FAILED, found)
    done(Outcome(record.kind, record.partnership_id, record.recipient, FAILED, found, record.message_id, ref=ref))


def _hold_rest(rest: Sequence[tuple[Planned, Record | None]], done: Callable[[Outcome], None]) -> None:
    for item, _ in rest:
        done(Outcome(item.kind, item.partnership.id, item.recipient, HELD, ref=item.ref))
