"""Signing in and out."""

from __future__ import annotations

from starlette.responses import Response

from ..app import Ctx, Page
from ..permissions import PUBLIC, VIEW
from ..security import new_csrf


def _next(value: str) -> str:
    """Where to go after signing in: a path of this site only."""
    if value.startswith("/") and not value.startswith(("//", "/\\")) and "\n" not in value:
        return value
    return "/rounds"


def signin_form(ctx: Ctx) -> Response:
    if ctx.user is not None:
        return ctx.redirect(_next(ctx.request.query_params.get("next", "")))
    return ctx.render("signin.html", next=_next(ctx.request.query_params.get("next", "")), email="", error="")


def signin(ctx: Ctx) -> Response:
    email, password = ctx.field("email"), str(ctx.form.get("password", "")) if ctx.form else ""
    address = ctx.request.client.host if ctx.request.client else "unknown"
    target = _next(ctx.field("next"))
    if ctx.web.accounts.limited(email, address):
        return ctx.render("signin.html", http_status=429, next=target, email=email,
                          error="Too many failed sign-ins for this account or from this computer. "
                                "Wait 15 minutes and try again, or ask a colleague to check your account.")
    user, token = ctx.web.accounts.sign_in(email, password, address)
    if user is None:
        return ctx.render("signin.html", http_status=401, next=target, email=email,
                          error="That email and password do not match an account.")
    ctx.request.session.clear()
    ctx.request.session["sid"] = token
    new_csrf(ctx.request)
    ctx.user = user
    ctx.audit("sign in", user.email, f"from {address}")
    return ctx.redirect(target)


def signout(ctx: Ctx) -> Response:
    token = ctx.request.session.get("sid", "")
    if token:
        ctx.web.accounts.sign_out(token)
    if ctx.user is not None:
        ctx.audit("sign out", ctx.user.email)
    ctx.request.session.clear()
    new_csrf(ctx.request)
    return ctx.redirect("/signin", "You are signed out.")


def home(ctx: Ctx) -> Response:
    return ctx.redirect("/rounds")


PAGES = [
    Page("/signin", signin_form, permission=PUBLIC),
    Page("/signin", signin, methods=("POST",), permission=PUBLIC, name="signin-post"),
    Page("/signout", signout, methods=("POST",), permission=VIEW),
    Page("/", home),
]
