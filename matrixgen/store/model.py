"""What the store's API returns: plain, frozen dataclasses, so no caller ever holds a row."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone

from ..errors import Problem
from ..identity import Identity
from ..score import DimensionScore

OPEN, CLOSED = "open", "closed"
# Review items: waiting for a person, or decided one of three ways.
WAITING, ASSIGNED, ACCEPTED, REJECTED = "waiting", "assigned", "accepted", "rejected"


def now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class PartnershipInfo:
    pk: int
    partnership_id: str | None  # None: known only by a typed name (unverified)
    name: str
    region: str
    sector: str
    contact_name: str
    contact_email: str
    verified: bool


@dataclass(frozen=True)
class RoundInfo:
    label: str
    created_at: str  # when it was opened
    rubric_hash: str | None
    roster_size: int
    submissions: int
    returned: int  # partnerships with a current (not rejected) submission
    due: str = ""
    state: str = "open"  # open | closed
    closed_at: str = ""
    seq: int = 0  # the order rounds were opened in

    @property
    def open(self) -> bool:
        return self.state == OPEN


@dataclass(frozen=True)
class IssuedInfo:
    sha256: str
    round_label: str
    partnership_id: str | None
    partnership_name: str
    rubric_hash: str
    file_name: str
    generated_at: str
    path: str = ""  # where generate wrote it ('' for workbooks issued before schema v2)


@dataclass(frozen=True)
class ReportInfo:
    round_label: str
    partnership_id: str
    path: str
    sha256: str
    rendered_at: str


@dataclass(frozen=True)
class RosterChange:
    added: tuple[str, ...]
    removed: tuple[str, ...]
    kept: tuple[str, ...]


@dataclass(frozen=True)
class AnswerInfo:
    criterion_id: str
    raw: str
    answer: str | None
    points: float | None
    met: bool
    evidence: str
    cell: str


# A stored score is a DimensionScore; the overall one has dimension id ''.
ScoreInfo = DimensionScore


@dataclass(frozen=True)
class SubmissionInfo:
    pk: int
    file_name: str
    sha256: str
    size: int
    received_at: str
    scored_at: str
    status: str
    kind: str
    identity_source: str
    verified: bool
    partnership: PartnershipInfo | None
    round_label: str | None
    rubric_hash: str | None
    archive_path: str
    current: bool
    current_reason: str
    respondent_name: str
    respondent_role: str
    respondent_email: str
    completed_on: str
    overall_stage: str | None
    points: float | None
    possible: float | None
    claimed_id: str = ""  # the signed partnership id on the file, if any
    claimed_name: str = ""  # the partnership name written on the file

    @property
    def progress(self) -> float | None:
        return None if self.points is None or not self.possible else self.points / self.possible


@dataclass(frozen=True)
class SubmissionDetail:
    info: SubmissionInfo
    answers: tuple[AnswerInfo, ...]
    scores: tuple[ScoreInfo, ...]  # overall ('' dimension) first, then the rubric's dimensions
    problems: tuple[Problem, ...]

    def score(self, dimension_id: str = "") -> ScoreInfo | None:
        return next((s for s in self.scores if s.dimension_id == dimension_id), None)


@dataclass(frozen=True)
class ReviewReason:
    """Why a return waits for a person, and what matrixgen suggests."""

    code: str  # MG-REVIEW-...
    reason: str  # the catalogue's sentence
    suggested_partnership: str | None = None  # an office id
    suggested_round: str | None = None


@dataclass
class NewSubmission:
    """One file to store, as the batch assembled and matched it (see batch.py and match.py).

    ``partnership_id`` and ``round_label`` are where the office attributes the file; with
    ``review`` set it is stored but waits for a person instead of becoming the current
    submission. A signed id the store does not know yet is added from the file's identity (the
    office issued it); nothing else creates a partnership."""

    file_name: str
    sha256: str
    size: int
    received_at: str
    status: str
    kind: str
    archive_path: str
    identity: Identity | None = None
    verified: bool = False
    identity_source: str = ""
    rubric_hash: str | None = None
    round_label: str | None = None
    partnership_id: str | None = None
    review: ReviewReason | None = None
    respondent: dict[str, str] = field(default_factory=dict)
    answers: list[AnswerInfo] = field(default_factory=list)
    scores: list[ScoreInfo] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


class StoreError(Exception):
    def __init__(self, found: Problem):
        self.problem = found
        super().__init__(str(found))


@dataclass(frozen=True)
class MessageInfo:
    """The email a review item came with (``matrixgen collect``)."""

    pk: int
    sender: str
    subject: str
    sent_at: str
    text: str


@dataclass(frozen=True)
class ReviewItem:
    """A return that waits for a person (or did, once decided)."""

    pk: int
    submission: SubmissionInfo | None
    round_label: str | None  # the round it arrived in, when known
    reason_code: str
    reason: str
    suggested_partnership: PartnershipInfo | None
    suggested_round: str | None
    received_at: str
    created_at: str
    state: str  # waiting | assigned | accepted | rejected
    decided_partnership: PartnershipInfo | None = None
    decided_round: str | None = None
    decision_reason: str = ""
    decided_by: str = ""
    decided_at: str = ""
    message: MessageInfo | None = None  # the email it came with, if it came by email

    @property
    def waiting(self) -> bool:
        return self.state == WAITING

    @property
    def file(self) -> str:
        if self.submission is not None:
            return self.submission.file_name
        return f"email from {self.message.sender or 'an unknown sender'}" if self.message is not None else ""

    @property
    def partnership(self) -> PartnershipInfo | None:
        """Whose it is: as decided, else as suggested."""
        return self.decided_partnership or self.suggested_partnership

    @property
    def round(self) -> str | None:
        return self.decided_round or self.suggested_round or self.round_label


@dataclass(frozen=True)
class Decision:
    """One decision on a review item, as recorded."""

    pk: int
    item_pk: int
    action: str  # assign | accept | reject | undo
    partnership_id: str | None
    round_label: str | None
    reason: str
    decided_by: str
    decided_at: str
