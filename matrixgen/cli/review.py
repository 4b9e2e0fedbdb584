"""`matrixgen review`: the returns that need a person, and the decisions on them."""

from __future__ import annotations

import getpass
import json

import click

from .common import CONTEXT, check_label, db_option, echo_problems, format_table, main, open_store_or_exit, round_option


def _by_option(f):
    return click.option("--by", "by", default=None, metavar="NAME",
                        help="Who decides, for the record (default: the operating-system user).")(f)


def _who(by: str | None) -> str:
    if by:
        return by
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def item_dict(item) -> dict:
    sp, dp = item.suggested_partnership, item.decided_partnership
    return {
        "item": item.pk,
        "file": item.file,
        "round": item.round_label,
        "received": item.received_at,
        "reason_code": item.reason_code,
        "reason": item.reason,
        "suggested_partnership": sp.partnership_id if sp else None,
        "suggested_round": item.suggested_round,
        "state": item.state,
        "partnership": dp.partnership_id if dp else None,
        "decided_round": item.decided_round,
        "decision_reason": item.decision_reason,
        "decided_by": item.decided_by,
        "decided_at": item.decided_at,
        "email": {"sender": item.message.sender, "subject": item.message.subject, "sent_at": item.message.sent_at,
                  "text": item.message.text} if item.message is not None else None,
    }


@main.group("review", context_settings=CONTEXT, invoke_without_command=True)
@round_option(help="Only this round's items.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of objects instead of a table.")
@click.option("--all", "show_all", is_flag=True, help="Decided items too, with their decisions.")
@db_option
@click.pass_context
def review(ctx, round_label, as_json, show_all, db) -> None:
    """List the returns waiting for a person: why, and what matrixgen suggests.

    Exit code 0 when nothing waits, 1 when something does. Decide with the subcommands."""
    if ctx.invoked_subcommand is not None:
        ctx.obj = {"db": db}
        return
    store = open_store_or_exit(db)
    items = store.review_items(round_label or None, waiting_only=not show_all)
    waiting = [i for i in items if i.waiting]
    if as_json:
        click.echo(json.dumps([item_dict(i) for i in items], indent=2))
    elif not items:
        click.echo("Nothing waits for review" + (f" in round {round_label}." if round_label else "."))
    else:
        header = ("item", "received", "file", "round", "reason", "suggested", "state")
        rows = []
        for i in items:
            suggested = " / ".join(x for x in (i.suggested_partnership.partnership_id if i.suggested_partnership
                                               else "", i.suggested_round or "") if x) or "-"
            rows.append((i.pk, i.received_at[:16].replace("T", " "), i.file or "-", i.round_label or "-",
                         i.reason_code, suggested, i.state))
        click.echo(format_table(header, rows, shrink=("file",)))
        click.echo("")
        for i in items:
            click.echo(f"{i.pk}: {i.reason}")
            if i.message is not None and i.message.text:  # what the sender wrote, to answer them
                text = " ".join(i.message.text.split())
                click.echo(f"   they wrote: {text[:300]}{'…' if len(text) > 300 else ''}")
            if not i.waiting:
                who = i.decided_partnership.partnership_id if i.decided_partnership else "-"
                reason = f" ({i.decision_reason})" if i.decision_reason else ""
                click.echo(f"   {i.state} by {i.decided_by} on {i.decided_at[:16].replace('T', ' ')}: "
                           f"{who}, round {i.decided_round or '-'}{reason}")
        if waiting:
            click.echo(f"\n{len(waiting)} waiting: `matrixgen review assign ITEM --partnership ID`, "
                       "`review accept ITEM`, or `review reject ITEM --reason TEXT`.")
    if waiting:
        raise SystemExit(1)


def _decide(db, item: int, action: str, by: str | None, **options) -> None:
    from ..store import StoreError

    store = open_store_or_exit(db)
    try:
        if action == "undo":
            found = store.undo(item, by=_who(by))
        else:
            found = store.decide(item, action, by=_who(by), **options)
    except StoreError as exc:
        echo_problems([exc.problem])
        raise SystemExit(1)
    who = found.decided_partnership.partnership_id if found.decided_partnership else None
    if action == "undo":
        click.echo(f"Item {item}: the decision was undone; it waits for review again.")
    elif action == "reject":
        to = f"; {who}'s next reminder gives the reason" if who else ""
        click.echo(f"Item {item} rejected by {found.decided_by}{to}.")
    else:
        current = found.submission is not None and found.submission.status != "rejected"
        made = "its current submission" if current else "attributed to it (the file itself was rejected)"
        click.echo(f"Item {item} {action}ed by {found.decided_by}: {who}, round {found.decided_round}: {made}.")


@review.command("assign", context_settings=CONTEXT)
@click.argument("item", type=int)
@click.option("--partnership", "partnership_id", required=True, metavar="ID", callback=check_label,
              help="The partnership it belongs to (its id on the roster).")
@round_option(help="The round it belongs to (default: the one it arrived in or was suggested for).")
@_by_option
@db_option
@click.pass_obj
def review_assign(obj, item, partnership_id, round_label, by, db) -> None:
    """Link ITEM to a partnership (and round): it becomes that partnership's current submission."""
    _decide(db or obj["db"], item, "assign", by, partnership_id=partnership_id, round_label=round_label or None)


@review.command("accept", context_settings=CONTEXT)
@click.argument("item", type=int)
@_by_option
@db_option
@click.pass_obj
def review_accept(obj, item, by, db) -> None:
    """Take ITEM as matrixgen read it: the suggested partnership and round."""
    _decide(db or obj["db"], item, "accept", by)


@review.command("reject", context_settings=CONTEXT)
@click.argument("item", type=int)
@click.option("--reason", required=True, help="Why; the partnership's next reminder says it.")
@_by_option
@db_option
@click.pass_obj
def review_reject(obj, item, reason, by, db) -> None:
    """Reject ITEM: it counts for no one, and the reason goes into the partnership's next reminder."""
    _decide(db or obj["db"], item, "reject", by, reason=reason)


@review.command("undo", context_settings=CONTEXT)
@click.argument("item", type=int)
@_by_option
@db_option
@click.pass_obj
def review_undo(obj, item, by, db) -> None:
    """Reverse ITEM's last decision: the file goes back to where it was and the item waits again."""
    _decide(db or obj["db"], item, "undo", by)
