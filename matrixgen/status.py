"""Who has what in a round: issued, sent, returned, in review, scored, reminded, reported.

One row per partnership on the round's roster, built from the store alone (issued workbooks,
submissions, the review queue, the send log), so it reads the same whether or not mail went out
from this machine. ``returns`` is the one place that decides a partnership's state in a round;
reminders (mail/plan.py) and the round export use it too.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field, fields
from pathlib import Path

from .files import atomic_open
from .mail.log import BOUNCED, SENDING, SENT, Record, SqlSendLog
from .store import REJECTED, ReviewItem, Store, SubmissionInfo
from .summary import safe_text

SCORED, INCOMPLETE, IN_REVIEW, NOT_RETURNED = "scored", "incomplete", "in review", "not returned"
STATES = (SCORED, INCOMPLETE, "rejected", IN_REVIEW, NOT_RETURNED)
# How far along the round a partnership is, in order.
NOT_ISSUED, ISSUED, SENT_OUT, RETURNED, DONE = "not issued", "issued", "sent", "returned", "reported"


@dataclass(frozen=True)
class Return:
    """What one partnership returned in a round, as far as the office is concerned."""

    status: str  # scored | incomplete | rejected | in review | not returned
    submission: SubmissionInfo | None = None  # the current one, else the one in review, else the latest rejected
    review: ReviewItem | None = None  # the item waiting, or the rejection decided in review
    reasons: tuple[str, ...] = ()  # rejected: why, as the respondent should read it


def returns(store: Store, round_label: str) -> dict[str, Return]:
    """Each roster partnership's state in the round, by partnership id. In order: a current
    submission; an item waiting in review; a rejected file or a rejection decided in review
    (with the reasons); else not returned."""
    subs = store.submissions(round_label)
    # An email with no file (a question, "it comes next week") waits for a person but is no return.
    items = [i for i in store.review_items(round_label, waiting_only=False) if i.submission is not None]
    found: dict[str, Return] = {}
    rejected_files: dict[str, SubmissionInfo] = {}
    for s in subs:  # in the order received
        pid = s.partnership.partnership_id if s.partnership else None
        if not pid:
            continue
        if s.current:
            found[pid] = Return(s.status, s)
        elif s.status == "rejected":
            rejected_files[pid] = s
    waiting = {i.partnership.partnership_id: i for i in items
               if i.waiting and i.partnership is not None and i.partnership.partnership_id
               and i.round == round_label}
    refused = {i.partnership.partnership_id: i for i in items
               if i.state == REJECTED and i.partnership is not None and i.partnership.partnership_id
               and i.round == round_label}
    problems = {d.info.pk: d.problems for d in store.details([s.pk for s in rejected_files.values()])}
    out: dict[str, Return] = {}
    for p in store.roster(round_label):
        pid = p.partnership_id or ""
        if pid in found:
            out[pid] = found[pid]
        elif pid in waiting:
            out[pid] = Return(IN_REVIEW, waiting[pid].submission, waiting[pid])
        elif pid in rejected_files or pid in refused:
            latest_file = rejected_files.get(pid)
            item = refused.get(pid)
            if item is not None and (latest_file is None or item.decided_at >= latest_file.received_at):
                out[pid] = Return("rejected", item.submission, item, (item.decision_reason,))
            else:
                assert latest_file is not None
                why = tuple(x.message for x in problems.get(latest_file.pk, ()) if x.is_error)
                out[pid] = Return("rejected", latest_file, None, why)
        else:
            out[pid] = Return(NOT_RETURNED)
    return out


@dataclass(frozen=True)
class Row:
    partnership_id: str
    name: str
    contact_email: str
    issued_at: str  # when its workbook was generated; '' = none
    sent_at: str  # when its blank went out; '' = not yet
    send_failed: str  # the error code of the latest failed attempt, if the blank has not gone out
    reminded_at: str  # the latest reminder
    returned_at: str  # when its current (or latest) return was received
    status: str  # scored | incomplete | rejected | in review | not returned
    overall_stage: str
    report_sent_at: str
    bouncing: str = ""  # the contact address, when the last message to it was reported undeliverable (DSN)
    bounce_reason: str = ""

    @property
    def missing(self) -> bool:
        """Still owes the office a scored workbook."""
        return self.status != SCORED

    @property
    def progress(self) -> str:
        if self.report_sent_at:
            return DONE
        if self.returned_at:
            return RETURNED
        if self.sent_at:
            return SENT_OUT
        return ISSUED if self.issued_at else NOT_ISSUED


@dataclass(frozen=True)
class RoundStatus:
    label: str
    due: str
    rows: tuple[Row, ...]
    state: str = "open"
    review_waiting: int = 0  # items in the round's review queue, whoever they belong to
    returns: dict[str, Return] = field(default_factory=dict, compare=False, repr=False)

    def totals(self) -> dict[str, int]:
        rows = self.rows
        count = {s: sum(1 for r in rows if r.status == s) for s in STATES}
        return {
            "partnerships": len(rows),
            "issued": sum(1 for r in rows if r.issued_at),
            "sent": sum(1 for r in rows if r.sent_at),
            "send failed": sum(1 for r in rows if r.send_failed),
            "returned": len(rows) - count[NOT_RETURNED],
            **count,
            "review queue": self.review_waiting,
            "reports sent": sum(1 for r in rows if r.report_sent_at),
            "bouncing": sum(1 for r in rows if r.bouncing),
        }


def _last(records: list[Record], kind: str, pid: str) -> tuple[str, str]:
    """(when the latest message of ``kind`` went, the latest failure's code if nothing went since)."""
    sent_at, failed = "", ""
    for r in records:
        if r.kind != kind or r.partnership_id != pid:
            continue
        if r.status == SENT:
            sent_at, failed = r.finished_at, ""
        elif r.status != SENDING:
            failed = r.error_code
    return sent_at, failed


def round_status(store: Store, round_label: str) -> RoundStatus:
    info = store.require_round(round_label)
    issued: dict[str, str] = {}
    for w in store.issued(round_label):
        if w.partnership_id:
            issued[w.partnership_id] = max(issued.get(w.partnership_id, ""), w.generated_at)
    found = returns(store, round_label)
    log = SqlSendLog(store.engine).records()
    records = [r for r in log if r.round == round_label]
    labels: dict[str, dict[str, str]] = {}
    rows = []
    for p in store.roster(round_label):
        pid = p.partnership_id or ""
        got = found.get(pid, Return(NOT_RETURNED))
        s = got.submission
        sent_at, failed = _last(records, "blanks", pid)
        reminded_at, _ = _last(records, "reminders", pid)
        report_at, _ = _last(records, "reports", pid)
        bounce = _bounce(log, pid, p.contact_email)
        rows.append(Row(
            partnership_id=pid, name=p.name, contact_email=p.contact_email, issued_at=issued.get(pid, ""),
            sent_at=sent_at, send_failed=failed, reminded_at=reminded_at,
            returned_at=s.received_at if s else "", status=got.status,
            overall_stage=_stage(store, s, labels) if s and got.status in (SCORED, INCOMPLETE) else "",
            report_sent_at=report_at, bouncing=p.contact_email if bounce else "",
            bounce_reason=bounce.error if bounce else "",
        ))
    return RoundStatus(round_label, info.due, tuple(rows), info.state, store.waiting_count(round_label), found)


def _bounce(records: list[Record], pid: str, address: str) -> Record | None:
    """The partnership's contact address is bouncing when the last message to it, in any round,
    was reported undeliverable."""
    last = None
    for r in records:
        if r.partnership_id == pid and address and r.recipient.casefold() == address.casefold() and r.status != SENDING:
            last = r
    return last if last is not None and last.status == BOUNCED else None


def _stage(store: Store, s: SubmissionInfo, labels: dict[str, dict[str, str]]) -> str:
    if s.rubric_hash and s.rubric_hash not in labels:
        rubric = store.rubric(s.rubric_hash)
        labels[s.rubric_hash] = {st.id: st.label for st in rubric.stages} if rubric else {}
    stage = s.overall_stage or ""
    return labels.get(s.rubric_hash or "", {}).get(stage, stage) or "Not yet at a stage"


@dataclass(frozen=True)
class RoundSummary:
    """One line of `matrixgen round list`."""

    label: str
    state: str
    opened: str
    due: str
    closed: str
    roster: int
    returned: int
    scored: int
    incomplete: int
    rejected: int
    in_review: int  # items waiting in the round's review queue
    not_returned: int


def round_summaries(store: Store) -> list[RoundSummary]:
    """Every round, newest first, with its counts."""
    out = []
    for info in store.rounds():
        t = round_status(store, info.label).totals()
        out.append(RoundSummary(info.label, info.state, info.created_at, info.due, info.closed_at, t["partnerships"],
                                t["returned"], t[SCORED], t[INCOMPLETE], t["rejected"], t["review queue"],
                                t[NOT_RETURNED]))
    return out


CSV_COLUMNS = [f.name for f in fields(Row)] + ["progress"]


def json_rows(status: RoundStatus) -> list[dict[str, str]]:
    """The CSV's rows as objects (``round`` and ``CSV_COLUMNS``), for ``status --json``."""
    return [{"round": status.label, **{c: getattr(r, c) for c in CSV_COLUMNS}} for r in status.rows]


def write_csv(status: RoundStatus, path: str | Path) -> Path:
    path = Path(path)
    with atomic_open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["round", *CSV_COLUMNS])
        for r in status.rows:
            writer.writerow([safe_text(status.label), *(safe_text(getattr(r, c)) for c in CSV_COLUMNS)])
    return path
