"""The review queue: each return that needs a person, why, what matrixgen suggests, and the
decisions (assign, accept, reject with a reason, undo), the same as `matrixgen review`."""

from __future__ import annotations

from starlette.responses import Response

from ...store import StoreError
from ..app import Ctx, Page
from ..permissions import CHANGE

ACTIONS = ("assign", "accept", "reject", "undo")


def queue(ctx: Ctx) -> Response:
    q = ctx.request.query_params
    label = q.get("round") or None
    show_all = q.get("show") == "all"
    items = ctx.store.review_items(label, waiting_only=not show_all)
    rounds = ctx.store.rounds()
    rosters = {r.label: ctx.store.members(r.label) for r in rounds}
    return ctx.render("review.html", items=items, rounds=rounds, rosters=rosters, chosen=label or "",
                      everyone=ctx.store.partnerships(),
                      show_all=show_all, waiting=sum(1 for i in items if i.waiting))


def decide(ctx: Ctx) -> Response:
    pk, action = int(ctx.params["pk"]), ctx.params["action"]
    if action not in ACTIONS:
        return ctx.error(404, "Not found", "There is no such decision.")
    back = ctx.field("back") if ctx.field("back").startswith("/review") else "/review"
    try:
        if action == "undo":
            item = ctx.store.undo(pk, by=ctx.user.email)
        else:
            item = ctx.store.decide(pk, action, by=ctx.user.email, partnership_id=ctx.field("partnership") or None,
                                    round_label=ctx.field("round") or None, reason=ctx.field("reason"))
    except StoreError as exc:
        return ctx.redirect(back, str(exc.problem), "error")
    who = item.decided_partnership.partnership_id if item.decided_partnership else "-"
    detail = "" if action == "undo" else f"{who}, round {item.decided_round or '-'}" + (
        f": {item.decision_reason}" if item.decision_reason else "")
    ctx.audit(f"review {action}", f"item {pk}", detail)
    said = {"undo": f"Item {pk}: the decision was undone; it waits again.",
            "reject": f"Item {pk} rejected" + (f"; {who}'s next reminder gives the reason." if who != "-" else "."),
            }.get(action, f"Item {pk} {action}ed: {who}, round {item.decided_round}.")
    return ctx.redirect(back, said)


PAGES = [
    Page("/review", queue),
    Page("/review/{pk:int}/{action}", decide, methods=("POST",), permission=CHANGE),
]
