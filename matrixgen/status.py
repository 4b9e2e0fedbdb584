"""Who has what in a round: issued, sent, returned, scored, reminded, reported.

One row per partnership on the round's roster, built from the store alone (issued workbooks,
submissions, the send log), so it reads the same whether or not mail went out from this machine.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, fields
from pathlib import Path

from .send import SENDING, SENT, Record, SqlSendLog, latest_submissions
from .store import Store, SubmissionInfo
from .summary import safe_text

# The stage of the round a partnership is at, in order.
NOT_ISSUED, ISSUED, SENT_OUT, RETURNED, DONE = "not issued", "issued", "sent", "returned", "reported"


@dataclass(frozen=True)
class Row:
    partnership_id: str
    name: str
    contact_email: str
    issued_at: str  # when its workbook was generated; '' = none
    sent_at: str  # when its blank went out; '' = not yet
    send_failed: str  # the error code of the latest failed attempt, if the blank has not gone out
    reminded_at: str  # the latest reminder
    returned_at: str  # when its current (or latest) submission was received
    status: str  # scored | incomplete | rejected | ''
    overall_stage: str
    report_sent_at: str

    @property
    def progress(self) -> str:
        if self.report_sent_at:
            return DONE
        if self.returned_at:
            return RETURNED
        if self.sent_at:
            return SENT_OUT
        return ISSUED if self.issued_at else NOT_ISSUED

    @property
    def missing(self) -> bool:
        """Still owes the office a scored workbook."""
        return self.status != "scored"


@dataclass(frozen=True)
class RoundStatus:
    label: str
    due: str
    rows: tuple[Row, ...]

    def totals(self) -> dict[str, int]:
        rows = self.rows
        return {
            "partnerships": len(rows),
            "issued": sum(1 for r in rows if r.issued_at),
            "sent": sum(1 for r in rows if r.sent_at),
            "send failed": sum(1 for r in rows if r.send_failed),
            "returned": sum(1 for r in rows if r.returned_at),
            "scored": sum(1 for r in rows if r.status == "scored"),
            "incomplete": sum(1 for r in rows if r.status == "incomplete"),
            "rejected": sum(1 for r in rows if r.status == "rejected"),
            "not returned": sum(1 for r in rows if not r.returned_at),
            "reports sent": sum(1 for r in rows if r.report_sent_at),
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
    info = store.round(round_label)
    issued: dict[str, str] = {}
    for w in store.issued(round_label):
        if w.partnership_id:
            issued[w.partnership_id] = max(issued.get(w.partnership_id, ""), w.generated_at)
    subs = latest_submissions(store, round_label)
    records = SqlSendLog(store.engine).records(round_label)
    labels: dict[str, dict[str, str]] = {}
    rows = []
    for p in store.roster(round_label):
        pid = p.partnership_id or ""
        s = subs.get(pid)
        sent_at, failed = _last(records, "blanks", pid)
        reminded_at, _ = _last(records, "reminders", pid)
        report_at, _ = _last(records, "reports", pid)
        rows.append(Row(
            partnership_id=pid, name=p.name, contact_email=p.contact_email, issued_at=issued.get(pid, ""),
            sent_at=sent_at, send_failed=failed, reminded_at=reminded_at,
            returned_at=s.received_at if s else "", status=s.status if s else "",
            overall_stage=_stage(store, s, labels) if s else "", report_sent_at=report_at,
        ))
    return RoundStatus(round_label, info.due if info else "", tuple(rows))


def _stage(store: Store, s: SubmissionInfo, labels: dict[str, dict[str, str]]) -> str:
    if s.status == "rejected":
        return ""
    if s.rubric_hash and s.rubric_hash not in labels:
        rubric = store.rubric(s.rubric_hash)
        labels[s.rubric_hash] = {st.id: st.label for st in rubric.stages} if rubric else {}
    stage = s.overall_stage or ""
    return labels.get(s.rubric_hash or "", {}).get(stage, stage) or "Not yet at a stage"


CSV_COLUMNS = [f.name for f in fields(Row)] + ["progress"]


def json_rows(status: RoundStatus) -> list[dict[str, str]]:
    """The CSV's rows as objects (``round`` and ``CSV_COLUMNS``), for ``status --json``."""
    return [{"round": status.label, **{c: getattr(r, c) for c in CSV_COLUMNS}} for r in status.rows]


def write_csv(status: RoundStatus, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["round", *CSV_COLUMNS])
        for r in status.rows:
            writer.writerow([safe_text(status.label), *(safe_text(getattr(r, c)) for c in CSV_COLUMNS)])
    return path
