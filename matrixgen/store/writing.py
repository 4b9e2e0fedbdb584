"""Storing returned files: whole files per transaction, in bulk, with the current submission of
each partnership and round kept right and a review item for every file that needs a person.

A file is stored with its answers, scores and problems in the same transaction, so a run that is
killed leaves every file either fully stored or not at all, and a re-run completes it.
"""

from __future__ import annotations

import json
from functools import lru_cache
from itertools import chain
from typing import Iterator, Sequence

from sqlalchemy import Table, and_, bindparam, insert, select, update
from sqlalchemy.engine import Connection

from ..errors import Problem, problem
from ..rubric import normalise_answer_text
from .model import WAITING, NewSubmission, StoreError, now
from .schema import answers, partnerships, problems, review_items, rounds, scores, submissions


def add_all(conn: Connection, new: Sequence[NewSubmission]) -> list[tuple[int, list[Problem]]]:
    """Insert whole files in bulk (a handful of statements per call, not per row)."""
    labels = {n.round_label for n in new if n.round_label} | {n.review.suggested_round for n in new
                                                              if n.review and n.review.suggested_round}
    known = set(conn.execute(select(rounds.c.label).where(rounds.c.label.in_(labels))).scalars()) if labels else set()
    if labels - known:  # match.py only attributes rounds the office opened: this is a caller's mistake
        raise StoreError(problem("MG-STORE-006", "round", value=sorted(labels - known)[0], known=", ".join(sorted(known))))
    pks = _partnership_pks(conn, new)
    owner_pk = [pks.get(n.partnership_id) if n.partnership_id else None for n in new]

    # The current submission of each (partnership, round): stored ones first, then this call's in order.
    involved = {pk for pk in owner_pk if pk is not None}
    current: dict[tuple[int, str | None], dict] = {}
    if involved:
        for row in conn.execute(select(submissions.c.pk, submissions.c.partnership_pk, submissions.c.round_label,
                                       submissions.c.file_name, submissions.c.received_at)
                                .where(and_(submissions.c.partnership_pk.in_(involved), submissions.c.is_current.is_(True)))):
            current[(row.partnership_pk, row.round_label)] = dict(pk=row.pk, file_name=row.file_name,
                                                                   received_at=row.received_at, row=None)
    rows, notes_all, replaced = [], [], []
    stored_at = now()  # the transaction's time, for every file in it
    for n, pk_partnership in zip(new, owner_pk):
        notes: list[Problem] = []
        is_current, reason = False, _not_current_reason(n, pk_partnership)
        if n.status != "rejected" and n.review is None and pk_partnership is not None and n.round_label:
            key = (pk_partnership, n.round_label)
            earlier = current.get(key)
            if earlier is None:
                is_current, reason = True, "the first file received for this partnership and round"
            elif n.received_at >= earlier["received_at"]:
                is_current = True
                reason = f"received after {earlier['file_name']} ({earlier['received_at']}), which it replaces"
                old_reason = f"replaced by {n.file_name}, received later ({n.received_at})"
                if earlier["row"] is not None:  # stored earlier in this same call
                    earlier["row"].update(is_current=False, current_reason=old_reason)
                else:
                    replaced.append(dict(b_pk=earlier["pk"], b_reason=old_reason))
                notes.append(problem("MG-STORE-002", n.file_name, file=earlier["file_name"], when=earlier["received_at"],
                                     partnership=n.partnership_id, round=n.round_label))
            else:
                reason = f"received before {earlier['file_name']} ({earlier['received_at']}), which stays current"
        overall = next((sc for sc in n.scores if sc.dimension_id == ""), None)
        r = n.respondent
        ident = n.identity
        row = dict(
            file_name=n.file_name, sha256=n.sha256, size=n.size, received_at=n.received_at, scored_at=stored_at,
            status=n.status, kind=n.kind, identity_source=n.identity_source, verified=n.verified,
            partnership_pk=pk_partnership, round_label=n.round_label or None, rubric_hash=n.rubric_hash,
            archive_path=n.archive_path, is_current=is_current, current_reason=reason,
            respondent_name=r.get("respondent_name", ""), respondent_role=r.get("respondent_role", ""),
            respondent_email=r.get("respondent_email", ""), completed_on=r.get("completed_on", ""),
            overall_stage=overall.stage_id if overall else None,
            points=overall.points if overall else None, possible=overall.possible if overall else None,
            claimed_id=ident.partnership_id if ident else "", claimed_name=ident.partnership_name if ident else "",
        )
        if is_current:
            current[(pk_partnership, n.round_label)] = dict(pk=None, file_name=n.file_name, received_at=n.received_at,
                                                            row=row)
        rows.append(row)
        notes_all.append(notes)

    if replaced:
        conn.execute(update(submissions).where(submissions.c.pk == bindparam("b_pk"))
                     .values(is_current=False, current_reason=bindparam("b_reason")), replaced)
    # In bulk, then each pk found again by its sha256 (unique): RETURNING is not on every backend,
    # and an INSERT per file cost more than everything else stored with it.
    columns = list(rows[0]) if rows else []
    bulk_insert(conn, submissions, columns, [tuple(row.values()) for row in rows])
    pk_of: dict[str, int] = {}
    for chunk in chunks([row["sha256"] for row in rows], 500):
        pk_of.update(conn.execute(select(submissions.c.sha256, submissions.c.pk)
                                  .where(submissions.c.sha256.in_(chunk))).all())
    sub_pks = [int(pk_of[row["sha256"]]) for row in rows]
    answer_rows, score_rows, problem_rows, item_rows = [], [], [], []
    steps_json: dict[tuple[str, ...], str] = {}  # next steps repeat across files: one json.dumps each
    for pk, n, notes in zip(sub_pks, new, notes_all):
        answer_rows += [(pk, a.criterion_id, a.raw, a.answer, a.points, a.met, a.evidence, a.cell) for a in n.answers]
        for sc in n.scores:
            steps = steps_json.get(sc.next_steps)
            if steps is None:
                steps = steps_json[sc.next_steps] = json.dumps(list(sc.next_steps))
            score_rows.append((pk, sc.dimension_id, sc.stage_id, sc.next_stage_id, steps, sc.points, sc.possible))
        problem_rows += [(pk, i, p.code, p.severity.value, p.location, p.message)
                         for i, p in enumerate([*n.problems, *notes])]
        if n.review is not None:
            suggested = pks.get(n.review.suggested_partnership) if n.review.suggested_partnership else None
            item_rows.append((pk, n.round_label or None, n.review.code, n.review.reason, suggested,
                              n.review.suggested_round, n.received_at, stored_at, WAITING, "", "", ""))
    bulk_insert(conn, answers, ANSWER_COLUMNS, answer_rows)
    bulk_insert(conn, scores, SCORE_COLUMNS, score_rows)
    bulk_insert(conn, problems, PROBLEM_COLUMNS, problem_rows)
    bulk_insert(conn, review_items, ITEM_COLUMNS, item_rows)
    return list(zip(sub_pks, notes_all))


def _not_current_reason(n: NewSubmission, pk_partnership: int | None) -> str:
    if n.status == "rejected":
        return "rejected"
    if n.review is not None:
        return f"waiting for review ({n.review.code})"
    if pk_partnership is None:
        return "not attributed to a partnership"
    return "no round"


ANSWER_COLUMNS = ("submission_pk", "criterion_id", "raw", "answer", "points", "met", "evidence", "cell")
SCORE_COLUMNS = ("submission_pk", "dimension_id", "stage_id", "next_stage_id", "next_steps", "points", "possible")
PROBLEM_COLUMNS = ("submission_pk", "seq", "code", "severity", "location", "message")
ITEM_COLUMNS = ("submission_pk", "round_label", "reason_code", "reason", "suggested_partnership_pk", "suggested_round",
                "received_at", "created_at", "state", "decision_reason", "decided_by", "decided_at")


def _partnership_pks(conn: Connection, new: Sequence[NewSubmission]) -> dict[str, int]:
    """pk of every partnership id the files are attributed to or suggested for. An id the store does
    not know is added from a file's signed identity (the office issued it); nothing else adds one."""
    ids = {n.partnership_id for n in new if n.partnership_id}
    ids |= {n.review.suggested_partnership for n in new if n.review and n.review.suggested_partnership}
    if not ids:
        return {}

    def lookup() -> dict[str, int]:
        return dict(conn.execute(select(partnerships.c.partnership_id, partnerships.c.pk)
                                 .where(partnerships.c.partnership_id.in_(ids))).all())

    found = lookup()
    missing: dict[str, tuple] = {}
    for n in new:
        pid, ident = n.partnership_id, n.identity
        if pid and pid not in found and pid not in missing:
            signed = ident is not None and n.verified and ident.partnership_id == pid
            name = ident.partnership_name if signed else pid
            missing[pid] = (pid, name, normalise_answer_text(name), ident.region if signed else "",
                            ident.sector if signed else "", "", "", True)
    if missing:
        bulk_insert(conn, partnerships, PARTNERSHIP_COLUMNS, list(missing.values()))
        found = lookup()
    return found


PARTNERSHIP_COLUMNS = ("partnership_id", "name", "name_key", "region", "sector", "contact_name", "contact_email",
                       "verified")


def bulk_insert(conn: Connection, table: Table, columns: Sequence[str], rows: list[tuple]) -> None:
    """executemany straight to the driver, one tuple a row in ``columns`` order: ~25 rows per file,
    and SQLAlchemy's per-row parameter processing would cost more than the rest of storing them.
    The statement is still compiled by SQLAlchemy for the connection's dialect and runs inside
    the same transaction."""
    if not rows:
        return
    sql, order = _insert_sql(conn.dialect, table, tuple(columns))
    if order is None:  # named parameters (e.g. psycopg's %(name)s)
        conn.exec_driver_sql(sql, [dict(zip(columns, row)) for row in rows])
        return
    if order != tuple(range(len(columns))):
        rows = [tuple(row[i] for i in order) for row in rows]
    if conn.dialect.paramstyle == "qmark" and sql.endswith(_qmarks(len(columns))):
        # SQLite: many rows per INSERT ... VALUES (...), (...) take ~30% less time than one each.
        per = min(MULTI_ROWS, SQLITE_MAX_PARAMETERS // len(columns))
        whole = len(rows) - len(rows) % per
        if whole:
            many = sql[:-len(_qmarks(len(columns)))] + ", ".join([_qmarks(len(columns))] * per)
            conn.exec_driver_sql(many, [tuple(chain.from_iterable(rows[i:i + per])) for i in range(0, whole, per)])
        rows = rows[whole:]
        if not rows:
            return
    conn.exec_driver_sql(sql, rows)


MULTI_ROWS = 100
SQLITE_MAX_PARAMETERS = 999  # the lowest limit any SQLite build has


def _qmarks(count: int) -> str:
    return "(" + ", ".join(["?"] * count) + ")"


@lru_cache(maxsize=64)
def _insert_sql(dialect, table: Table, columns: tuple[str, ...]) -> tuple[str, tuple[int, ...] | None]:
    """The INSERT for ``columns`` (every column it needs a value for) in the dialect's own SQL, and
    for positional parameter styles where each column's value goes; compiled once per dialect,
    table and columns."""
    compiled = insert(table).compile(dialect=dialect, column_keys=list(columns))
    if compiled.positiontup is None:
        return str(compiled), None
    return str(compiled), tuple(columns.index(key) for key in compiled.positiontup)


def chunks(items: Sequence, size: int) -> Iterator[Sequence]:
    for i in range(0, len(items), size):
        yield items[i:i + size]
