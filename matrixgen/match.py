"""Whose return is this, and for which round? Every returned file is matched to a roster
partnership and an opened round, or sent to a person with the reason and a suggestion.

Pure functions over what was read and a ``Context`` taken from the store once per batch. In order:

1. A **signed workbook** is its signed partnership's; a **generic blank** is the partnership whose
   id is typed on it, else whose roster name equals the typed name ignoring case, spacing and
   punctuation. A close name (``SIMILAR`` or more alike) goes to review with the suggestion, any
   other name to review. No partnership is ever made up from a typed name.
2. The **round** is the file's own, else ``--round``, else the only open round, else review.
3. A **rejected file** (password, .ods, a printout...) is never reviewed but is attributed where
   it can be, from its signed identity, the file name we issued (``<id>_...``) or its sender, so
   that the partnership's reminder says what to fix.
4. **Cross-checks** send a file to review instead of making it current: the respondent's email (or
   the sender's) is another roster partnership's contact; it was issued for another round than
   the one it is scored into; the round is closed (late); one partnership sent several different
   files for one round in the same batch; it came by email from an address that is no roster
   contact of the round (``matrixgen collect``).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, replace
from typing import Iterable, Mapping, Sequence

from .errors import problem
from .files import valid_label
from .identity import Identity
from .store.model import CLOSED, ReviewReason

SIMILAR = 90.0  # rapidfuzz ratio (0-100) from which a typed name is suggested as a roster name


@dataclass(frozen=True)
class Member:
    partnership_id: str
    name: str
    contact_email: str = ""


@dataclass(frozen=True)
class RoundState:
    label: str
    state: str
    closed_at: str
    members: tuple[Member, ...]

    def member(self, partnership_id: str) -> Member | None:
        return next((m for m in self.members if m.partnership_id == partnership_id), None)


@dataclass(frozen=True)
class Context:
    """What matching needs from the store, read once per batch."""

    rounds: Mapping[str, RoundState]  # every round, by label
    open_rounds: tuple[str, ...]  # newest first
    given_round: str = ""  # --round
    known_ids: frozenset[str] = frozenset()  # every partnership id the office issued to

    @classmethod
    def from_store(cls, store, given_round: str = "") -> "Context":
        found = {}
        for r in store.rounds():
            members = tuple(Member(p.partnership_id, p.name, p.contact_email)
                            for p in store.roster(r.label) if p.partnership_id)
            found[r.label] = RoundState(r.label, r.state, r.closed_at, members)
        opened = tuple(r.label for r in store.rounds() if r.open)
        known = frozenset(p.partnership_id for p in store.partnerships())
        return cls(found, opened, given_round, known)


@dataclass(frozen=True)
class Returned:
    """One read file, as far as matching cares."""

    file_name: str
    status: str  # scored | incomplete | rejected
    identity: Identity | None
    verified: bool
    respondent_email: str = ""
    typed_id: str = ""  # a partnership id typed on a generic blank
    sender: str = ""  # the email address it came from, when it came by email
    sha256: str = ""


@dataclass(frozen=True)
class Match:
    partnership_id: str | None
    round_label: str | None
    review: ReviewReason | None = None


def match(item: Returned, ctx: Context) -> Match:
    """Where one file belongs (see the module docstring for the rules, in order)."""
    ident = item.identity
    if item.status == "rejected":
        rnd = _round(item, ctx)
        return Match(_attribute_rejected(item, ctx, rnd.label), rnd.label if rnd.label in ctx.rounds else None)
    rnd = _round(item, ctx)
    if ident is not None and item.verified and ident.partnership_id:
        pid, review = ident.partnership_id, None
    else:
        pid, review = _generic(item, ctx, rnd.label or rnd.suggested)
    if review is None and pid is not None:
        review = (_contact_check(item, ctx, pid, rnd.label or rnd.suggested)
                  or _unknown_sender(item, ctx, pid, rnd.label or rnd.suggested))
    review = rnd.review or review  # a round that cannot be decided weighs first
    if review is not None:
        suggested_round = rnd.label or rnd.suggested
        review = replace(review, suggested_partnership=review.suggested_partnership or pid,
                         suggested_round=review.suggested_round or suggested_round)
        # Stored under no partnership and only the round it arrived in: a person decides.
        return Match(None, rnd.label if rnd.label in ctx.rounds and rnd.review is None else None, review)
    return Match(pid, rnd.label)


def match_batch(items: Sequence[Returned], ctx: Context) -> list[Match]:
    """``match`` for each file, then the batch's own cross-check: several different files from one
    partnership for one round all wait for a person, who keeps one."""
    found = [match(item, ctx) for item in items]
    groups: dict[tuple[str, str], list[int]] = {}
    for i, (item, m) in enumerate(zip(items, found)):
        if m.review is None and m.partnership_id and m.round_label and item.status != "rejected":
            groups.setdefault((m.partnership_id, m.round_label), []).append(i)
    for (pid, label), indexes in groups.items():
        if len({items[i].sha256 for i in indexes}) < 2:
            continue
        files = ", ".join(items[i].file_name for i in indexes)
        for i in indexes:
            reason = problem("MG-REVIEW-007", items[i].file_name, partnership=pid, count=len(indexes), round=label,
                             files=files)
            found[i] = Match(None, label, ReviewReason(reason.code, reason.message, pid, label))
    return found


# --- the round ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Round:
    label: str | None  # decided
    suggested: str | None = None  # for review, when undecided
    review: ReviewReason | None = None


def _round(item: Returned, ctx: Context) -> _Round:
    own = item.identity.round if item.identity is not None else ""
    given = ctx.given_round
    if own and given and own != given:
        return _Round(None, own if own in ctx.rounds else given,
                      _reason("MG-REVIEW-004", item, found=own, expected=given))
    label = own or given
    if label:
        state = ctx.rounds.get(label)
        if state is None:
            known = ", ".join(ctx.rounds) or "none"
            return _Round(None, given or None, _reason("MG-REVIEW-008", item, round=label, known=known))
        if state.state == CLOSED:
            return _Round(None, label, _reason("MG-REVIEW-006", item, round=label, closed=state.closed_at[:10]))
        return _Round(label)
    if len(ctx.open_rounds) == 1:
        return _Round(ctx.open_rounds[0])
    newest = ctx.open_rounds[0] if ctx.open_rounds else None
    return _Round(None, newest, _reason("MG-REVIEW-005", item, open=len(ctx.open_rounds)))


# --- the partnership ---------------------------------------------------------------------------


def fold(name: str) -> str:
    """A name for comparing: case, accents' forms, spacing and punctuation ignored."""
    text = unicodedata.normalize("NFKC", name).casefold()
    return re.sub(r"[\W_]+", "", text)


def _spaced(name: str) -> str:
    text = unicodedata.normalize("NFKC", name).casefold()
    return " ".join(re.sub(r"[\W_]+", " ", text).split())


def _candidates(ctx: Context, label: str | None) -> tuple[Member, ...]:
    if label and label in ctx.rounds:
        return ctx.rounds[label].members
    seen: dict[str, Member] = {}
    for open_label in ctx.open_rounds:
        for m in ctx.rounds[open_label].members:
            seen.setdefault(m.partnership_id, m)
    return tuple(seen.values())


def _generic(item: Returned, ctx: Context, label: str | None) -> tuple[str | None, ReviewReason | None]:
    members = _candidates(ctx, label)
    typed_id = item.typed_id.strip()
    if typed_id:
        hit = next((m for m in members if m.partnership_id.casefold() == typed_id.casefold()), None)
        if hit is not None:
            return hit.partnership_id, None
    name = item.identity.partnership_name if item.identity is not None else ""
    key = fold(name)
    exact = [m for m in members if key and fold(m.name) == key]
    if len(exact) == 1:
        return exact[0].partnership_id, None
    best, score = _closest(name, members)
    where = label or "(none)"
    if best is not None and score >= SIMILAR:
        reason = _reason("MG-REVIEW-001", item, name=name, suggestion=best.name, score=score, round=where)
        return None, replace(reason, suggested_partnership=best.partnership_id)
    return None, _reason("MG-REVIEW-002", item, name=name, round=where)


def _closest(name: str, members: Iterable[Member]) -> tuple[Member | None, float]:
    from rapidfuzz import fuzz  # only generic blanks need it

    target = _spaced(name)
    best, score = None, 0.0
    for m in members:
        found = fuzz.ratio(target, _spaced(m.name))
        if found > score:
            best, score = m, found
    return best, score


def _contact_check(item: Returned, ctx: Context, pid: str, label: str | None) -> ReviewReason | None:
    """A respondent email or sender that is another roster partnership's contact."""
    members = _candidates(ctx, label)
    own = next((m for m in members if m.partnership_id == pid), None)
    for address in (item.respondent_email, item.sender):
        address = address.strip().casefold()
        if not address or (own is not None and own.contact_email.strip().casefold() == address):
            continue
        other = next((m for m in members if m.partnership_id != pid
                      and m.contact_email.strip().casefold() == address), None)
        if other is not None:
            reason = _reason("MG-REVIEW-003", item, email=address, other=other.partnership_id, other_name=other.name,
                             partnership=pid)
            return replace(reason, suggested_partnership=pid)
    return None


def _unknown_sender(item: Returned, ctx: Context, pid: str, label: str | None) -> ReviewReason | None:
    """A file that came by email from an address that is no roster contact of the round: a person
    checks who sent it before it counts."""
    sender = item.sender.strip().casefold()
    if not sender:
        return None
    if any(m.contact_email.strip().casefold() == sender for m in _candidates(ctx, label)):
        return None
    reason = _reason("MG-REVIEW-010", item, sender=item.sender.strip(), round=label or "(none)")
    return replace(reason, suggested_partnership=pid)


def _attribute_rejected(item: Returned, ctx: Context, label: str | None) -> str | None:
    """Whose rejected file this is, where that can be told: its signature, the file name we
    issued (``<id>_<name>.xlsx``), or the sender's roster contact address."""
    ident = item.identity
    if ident is not None and item.verified and ident.partnership_id:
        return ident.partnership_id
    members = _candidates(ctx, label)
    ids = {m.partnership_id.casefold(): m.partnership_id for m in members} or {i.casefold(): i for i in ctx.known_ids}
    stem = item.file_name.rsplit("/", 1)[-1]
    head = stem.split("_", 1)[0]
    if "_" in stem and valid_label(head) and head.casefold() in ids:
        return ids[head.casefold()]
    sender = item.sender.strip().casefold()
    if sender:
        hit = [m for m in members if m.contact_email.strip().casefold() == sender]
        if len(hit) == 1:
            return hit[0].partnership_id
    return None


def _reason(code: str, item: Returned, **fields: object) -> ReviewReason:
    found = problem(code, item.file_name, **fields)
    return ReviewReason(found.code, found.message)
