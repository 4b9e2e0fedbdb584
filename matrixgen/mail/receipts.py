"""Receipts: what a collected message's sender is told, planned from what the store recorded.

A receipt says only what came of the files that the sender sent: the overall stage of a scored
workbook, each answer to fix of an incomplete one, why a file could not be read, or, for anything
waiting in review, that a person will get back to them. It never names another partnership or
shows a score that is not theirs. It is planned from the store alone, so a re-run after a crash
plans the same receipt (and the send log makes sure it goes at most once).
"""

from __future__ import annotations

import re
from typing import Sequence

from ..roster import Partnership
from ..rubric import Rubric
from ..store import Store, SubmissionInfo
from .inbox import DUPLICATE, INCOMPLETE, REFUSED, REJECTED, REVIEW, SCORED, MessageRecord
from .plan import Planned, ReceivedFile, Reply

KIND = "receipts"
RE_PREFIX = re.compile(r"^\s*((re|aw|sv|fw|fwd|wg)\s*(\[\d+\])?\s*:\s*)+", re.I)


def plan_receipts(messages: Sequence[MessageRecord], store: Store, rubric: Rubric) -> dict[str, list[tuple[int, Planned]]]:
    """One receipt per message, grouped by the round the message was matched to ('' for none)."""
    shas = [a.sha256 for m in messages for a in m.attachments if a.sha256]
    stored = store.find_many(shas) if shas else {}
    details = {d.info.pk: d for d in store.details([s.pk for s in stored.values()
                                                    if s.status in (INCOMPLETE, REJECTED)])}
    waiting = {i.submission.pk for i in store.review_items(waiting_only=True) if i.submission is not None}
    labels: dict[str, dict[str, str]] = {}
    names: dict[str, str] = {}
    planned: dict[str, list[tuple[int, Planned]]] = {}
    for m in messages:
        files = tuple(_file(a, stored.get(a.sha256), details, waiting, store, labels) for a in m.attachments)
        pid = m.partnership_id or ""
        if pid and pid not in names:
            found = store.partnership(pid)
            names[pid] = found.name if found else ""
        reason = m.reason if m.outcome == REFUSED and not any(f.status != "not read" for f in files) else ""
        reply = Reply(message_id=m.message_id, references=m.message_id, subject=RE_PREFIX.sub("", m.subject).strip(),
                      received_on=(m.received_at or m.collected_at)[:10], files=files, reason=reason)
        who = Partnership(pid, names.get(pid, ""), "", "", m.sender_name, m.sender)
        item = Planned(KIND, who, ref=f"mail-{m.pk}", to=m.sender, reply=reply)
        planned.setdefault(m.round_label or "", []).append((m.pk, item))
    return planned


def _file(a, sub: SubmissionInfo | None, details: dict, waiting: set[int], store: Store,
          labels: dict[str, dict[str, str]]) -> ReceivedFile:
    name = a.file_name or "(unnamed attachment)"
    if a.status in (REFUSED, "skipped", "") or sub is None:
        return ReceivedFile(name, "not read", problems=(a.reason,) if a.reason else ())
    status = a.status
    if status == DUPLICATE:
        if sub.file_name != a.shown:  # sent before, in another message or as another file
            return ReceivedFile(name, "already received", received_before=sub.received_at[:10])
        status = REVIEW if sub.pk in waiting else sub.status  # this message's own, stored by a run that died
    if status == REVIEW:
        return ReceivedFile(name, "in review")
    stage = _stage(store, sub, labels)
    if status == SCORED:
        return ReceivedFile(name, "scored", stage=stage)
    found = details.get(sub.pk)
    problems = tuple(f"{p.location}: {p.message}" if p.location and "!" in p.location else p.message
                     for p in (found.problems if found else ()) if p.is_error)
    if status == INCOMPLETE:
        return ReceivedFile(name, "incomplete", stage=stage, problems=problems)
    return ReceivedFile(name, "rejected", problems=problems)


def _stage(store: Store, sub: SubmissionInfo, labels: dict[str, dict[str, str]]) -> str:
    if sub.rubric_hash and sub.rubric_hash not in labels:
        found = store.rubric(sub.rubric_hash)
        labels[sub.rubric_hash] = {s.id: s.label for s in found.stages} if found else {}
    return labels.get(sub.rubric_hash or "", {}).get(sub.overall_stage or "", "") or "not yet at a stage"
