"""What to send: turn what the office has (issued workbooks, rendered reports, who returned what)
into ``Planned`` messages, each to the partnership's own roster contact only."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping, Sequence

from ..errors import Problem, problem
from ..layout import ASSESSMENT
from ..roster import Partnership
from ..store import Store, SubmissionDetail

NOT_RETURNED, INCOMPLETE, REJECTED, SCORED, IN_REVIEW = "not returned", "incomplete", "rejected", "scored", "in review"
# What is wrong with an answer, as a reminder says it (codes from the reader's checks, matrixgen/read/).
BLANK, OFF_SCALE, SEVERAL, FORMULA, NO_ROW = "blank", "not an answer", "several answers", "a formula", "row deleted"
ANSWER_PROBLEMS = {"MG-READ-021": BLANK, "MG-READ-022": OFF_SCALE, "MG-READ-019": SEVERAL, "MG-READ-023": FORMULA,
                   "MG-READ-018": NO_ROW}


@dataclass(frozen=True)
class Attachment:
    path: Path
    sha256: str = ""  # the hash recorded when the file was issued or rendered; "" = not checked


@dataclass(frozen=True)
class Missing:
    """A criterion of a returned workbook without a usable answer, for the reminder: where, and
    what is wrong (blank, not an answer on the scale, several answers, a formula, its row deleted)."""

    location: str  # Assessment!E12
    criterion_id: str
    text: str = ""
    problem: str = BLANK
    typed: str = ""  # what the cell holds, when it is not blank


@dataclass(frozen=True)
class ReturnState:
    """What came back from one partnership, as far as reminders care."""

    status: str  # scored | incomplete | rejected | in review | not returned
    missing: tuple[Missing, ...] = ()
    problems: tuple[str, ...] = ()  # why a rejected file could not be scored, as shown to staff


@dataclass(frozen=True)
class ReceivedFile:
    """One file of a collected message, as its receipt tells the sender what came of it."""

    name: str
    status: str  # scored | incomplete | rejected | in review | already received | not read
    stage: str = ""  # scored or incomplete: the overall stage
    problems: tuple[str, ...] = ()  # incomplete: each answer to fix, at its cell; rejected, not read: why
    received_before: str = ""  # already received: when


@dataclass(frozen=True)
class Reply:
    """What a receipt answers: the message (for In-Reply-To and References) and what came of it."""

    message_id: str
    references: str
    subject: str  # the message's subject, without its Re: prefixes
    received_on: str  # YYYY-MM-DD
    files: tuple[ReceivedFile, ...] = ()
    reason: str = ""  # the message itself could not be read: why


@dataclass(frozen=True)
class Planned:
    """One message to one partnership's roster contact; or, a receipt, to the sender of the
    message it answers (``to``), which holds nothing but what came of what they sent."""

    kind: str
    partnership: Partnership
    attachment: Attachment | None = None
    ref: str = ""  # what makes this message different from an earlier one of the same kind
    state: str = ""  # reminders: not returned | incomplete | rejected
    missing: tuple[Missing, ...] = ()
    problems: tuple[str, ...] = ()
    problem: Problem | None = None  # found while planning: recorded as failed, never sent
    to: str = ""  # receipts only
    reply: Reply | None = None  # receipts only

    @property
    def recipient(self) -> str:
        return self.to or self.partnership.contact_email

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.kind, self.partnership.id, self.ref)


def _no_contact(p: Partnership) -> Problem | None:
    return None if p.contact_email else problem("MG-SEND-030", f"roster: {p.id}", name=p.name)


def _plan_attached(kind: str, partnerships: Iterable[Partnership], files: Mapping[str, Attachment],
                   round_label: str, missing_code: str) -> list[Planned]:
    planned = []
    for p in partnerships:
        att = files.get(p.id)
        if att is None:
            planned.append(Planned(kind, p, problem=problem(missing_code, f"round {round_label}: {p.id}",
                                                            name=p.name, round=round_label)))
            continue
        # A report is a new message whenever its content is new; a blank goes once a round.
        sha = att.sha256 or _file_sha256(att.path)
        planned.append(Planned(kind, p, Attachment(att.path, sha), ref=sha if kind == "reports" else "",
                               problem=_no_contact(p)))
    return planned


def plan_blanks(partnerships: Iterable[Partnership], workbooks: Mapping[str, Attachment],
                round_label: str) -> list[Planned]:
    """Each partnership's own signed workbook (by partnership id). One per partnership a round:
    a workbook generated again is not sent again unless asked (``--resend``)."""
    return _plan_attached("blanks", partnerships, workbooks, round_label, "MG-SEND-037")


def plan_reports(partnerships: Iterable[Partnership], reports: Mapping[str, Attachment],
                 round_label: str) -> list[Planned]:
    """Each partnership's report PDF (by partnership id). A new report (another file hash) is a
    new message; the same report is not sent twice."""
    return _plan_attached("reports", partnerships, reports, round_label, "MG-SEND-036")


def plan_reminders(partnerships: Iterable[Partnership], returns: Mapping[str, ReturnState],
                   issued: Mapping[str, Attachment] | None = None) -> list[Planned]:
    """A reminder to every partnership without a scored return, except those whose return waits
    in review (a person is deciding). Those that returned nothing get their workbook again (if
    ``issued`` has it); an incomplete return gets each answer to fix, at its cell; a rejected one,
    the reasons. The same reminder is not sent twice; a changed one is.
    """
    issued = issued or {}
    planned = []
    for p in partnerships:
        got = returns.get(p.id)
        if got is not None and got.status in (SCORED, IN_REVIEW):
            continue
        state = NOT_RETURNED if got is None else got.status
        missing = got.missing if got else ()
        problems = got.problems if got else ()
        ref = state if state == NOT_RETURNED else state + ":" + _digest(
            [f"{m.location} {m.problem}" for m in missing] + list(problems))
        attachment = issued.get(p.id) if state == NOT_RETURNED else None
        planned.append(Planned("reminders", p, attachment, ref=ref, state=state, missing=missing,
                               problems=problems, problem=_no_contact(p)))
    return planned


def only(planned: Sequence[Planned], ids: Iterable[str], round_label: str) -> tuple[list[Planned], list[Problem]]:
    """Keep the messages of the partnerships in ``ids`` (``--partnership``); unknown ids are problems."""
    wanted = list(dict.fromkeys(ids))
    if not wanted:
        return list(planned), []
    known = {p.partnership.id for p in planned}
    problems = [problem("MG-SEND-035", "--partnership", value=i, round=round_label,
                        known=", ".join(sorted(known)) or "none") for i in wanted if i not in known]
    return [p for p in planned if p.partnership.id in wanted], problems


def _digest(parts: Iterable[str]) -> str:
    return hashlib.sha256("\n".join(sorted(parts)).encode("utf-8")).hexdigest()[:16]


def _file_sha256(path: Path) -> str:
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return ""  # reported when the message is composed


# --- from the store -----------------------------------------------------------------------------


def plan_from_store(store: Store, kind: str, round_label: str) -> list[Planned]:
    """The messages of ``kind`` for the round's roster, from what the store recorded."""
    members = store.members(round_label)
    if kind == "reports":
        # A report exists for what came back: partnerships without a current submission get none.
        returned = {s.partnership.partnership_id for s in store.submissions(round_label, current_only=True)
                    if s.partnership is not None}
        reports = {pid: Attachment(Path(r.path), r.sha256) for pid, r in store.reports(round_label).items()}
        return plan_reports([p for p in members if p.id in returned], reports, round_label)
    workbooks = issued_workbooks(store, round_label)
    if kind == "reminders":
        return plan_reminders(members, return_states(store, round_label), workbooks)
    return plan_blanks(members, workbooks, round_label)


def issued_workbooks(store: Store, round_label: str) -> dict[str, Attachment]:
    """The newest workbook generated for each partnership in the round."""
    newest: dict[str, tuple[str, Attachment]] = {}
    for w in store.issued(round_label):
        if w.partnership_id and w.generated_at >= newest.get(w.partnership_id, ("", None))[0]:
            newest[w.partnership_id] = (w.generated_at, Attachment(Path(w.path or w.file_name), w.sha256))
    return {pid: att for pid, (_, att) in newest.items()}


def return_states(store: Store, round_label: str) -> dict[str, ReturnState]:
    """What each partnership returned, as status.returns decides it, with what a reminder needs."""
    from ..status import returns  # status reads the send log, which imports this package

    found = returns(store, round_label)
    incomplete = {d.info.pk: d for d in store.details([r.submission.pk for r in found.values()
                                                      if r.status == INCOMPLETE and r.submission])}
    states: dict[str, ReturnState] = {}
    for pid, r in found.items():
        if r.status == INCOMPLETE and r.submission is not None:
            states[pid] = ReturnState(INCOMPLETE, missing=_missing(store, incomplete[r.submission.pk]))
        elif r.status == REJECTED:
            states[pid] = ReturnState(REJECTED, problems=r.reasons)
        elif r.status != NOT_RETURNED:
            states[pid] = ReturnState(r.status)
    return states


def _missing(store: Store, detail: SubmissionDetail) -> tuple[Missing, ...]:
    """Criteria without a usable answer, where to fix each (Sheet!Cell) and what is wrong with it,
    in the rubric's order."""
    rubric = store.rubric(detail.info.rubric_hash) if detail.info.rubric_hash else None
    answers = {a.criterion_id: a for a in detail.answers}
    kinds = {p.location: ANSWER_PROBLEMS[p.code] for p in detail.problems if p.code in ANSWER_PROBLEMS}

    def wrong(a) -> Missing:
        kind = kinds.get(a.cell) or (BLANK if not a.raw.strip() else OFF_SCALE)
        text = rubric.criterion(a.criterion_id).text if rubric and rubric.criterion(a.criterion_id) else ""
        return Missing(a.cell, a.criterion_id, text, kind, "" if kind == BLANK else a.raw)

    if rubric is None:
        return tuple(wrong(a) for a in detail.answers if a.answer is None)
    found = []
    for c in rubric.criteria:
        a = answers.get(c.id)
        if a is None:
            found.append(Missing(f"{ASSESSMENT} sheet (its row is gone)", c.id, c.text, NO_ROW))
        elif a.answer is None:
            found.append(wrong(a))
    return tuple(found)
