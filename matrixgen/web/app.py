"""The ASGI app: routes, the one wrapper every view runs through, templates and the app's state.

A view is a plain function ``view(ctx) -> Response`` that asks the library for data and renders
a template; it runs in a worker thread (the store is synchronous). ``endpoint`` does everything
else once, for every route: who is signed in, the route's permission (``permissions.py``), the
form with its limits, the CSRF token, and error pages.

To add a section (e.g. the messages that mail collection receives): a module in ``views/`` with
its ``PAGES``, listed in ``VIEWS`` below, and an entry in ``NAV``.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, AsyncIterator, Callable, Sequence
from urllib.parse import quote

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ..files import data_dir as default_data_dir
from ..rubric import Rubric, require_rubric
from ..store import Store
from . import audit
from .accounts import SESSION_HOURS, Accounts, User
from .jobs import Jobs
from .permissions import CHANGE, ORIGINALS, VIEW, allowed
from .security import BodyTooLarge, SecurityMiddleware, csrf_ok, csrf_token

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
WEB_TEMPLATES = TEMPLATES / "web"
UPLOAD_MAX_FILES = 1000  # files in one upload (a zip counts as one here; its entries are bounded in uploads.py)
FORM_MAX_FIELDS = 200
log = logging.getLogger("matrixgen.web")

# The header's sections, in order: (label, path, permission).
NAV = (
    ("Rounds", "/rounds", VIEW),
    ("Review queue", "/review", VIEW),
    ("Partnerships", "/partnerships", VIEW),
    ("Rubric", "/rubric", VIEW),
    ("Jobs", "/jobs", VIEW),
    ("Audit log", "/audit", VIEW),
)


@dataclass(frozen=True)
class Page:
    path: str
    view: Callable[["Ctx"], Response]
    methods: tuple[str, ...] = ("GET",)
    permission: str | None = VIEW
    name: str = ""


class Web:
    """What every view needs: the store and the services over it, the rubric, the key, the data folder."""

    def __init__(self, store: Store, *, rubric: Rubric | None = None, key: bytes | None = None,
                 data_dir: str | Path | None = None, settings_path: Path | None = None):
        from .. import identity

        self.store = store
        self.engine = store.engine
        self.data_dir = Path(data_dir) if data_dir is not None else default_data_dir()
        self.rubric = rubric or require_rubric()
        self.key = key if key is not None else identity.load_key(self.data_dir)
        self.settings_path = settings_path
        self.accounts = Accounts(store.engine)
        self.jobs = Jobs(store.engine)
        # auto_reload off: templates are part of the installed package, not edited under a running server.
        self.env = Environment(loader=FileSystemLoader(str(WEB_TEMPLATES)), autoescape=True, undefined=StrictUndefined,
                               trim_blocks=True, lstrip_blocks=True, auto_reload=False)
        self.env.filters["when"] = when
        self.env.filters["pct"] = lambda v: "" if v is None else f"{100 * float(v):.0f}%"
        self.env.globals["q"] = lambda v: quote(str(v), safe="")

    def audit(self, user: User, action: str, target: str = "", detail: str = "") -> None:
        audit.record(self.engine, user.email, action, target, detail)


def when(iso: str | None) -> str:
    """2026-03-02T09:00:00Z -> 2026-03-02 09:00 (times are UTC throughout)."""
    return iso[:16].replace("T", " ") if iso else "–"


@dataclass
class Ctx:
    """One request, as a view sees it."""

    web: Web
    request: Request
    user: User | None
    form: FormData | None = None
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def store(self) -> Store:
        return self.web.store

    def field(self, name: str, default: str = "") -> str:
        value = self.form.get(name) if self.form is not None else None
        return value.strip() if isinstance(value, str) else default

    def render(self, template: str, http_status: int = 200, headers: dict | None = None, **context: Any) -> HTMLResponse:
        nav = [(label, path) for label, path, permission in NAV if allowed(self.user, permission)]
        flashes = self.request.session.pop("flash", []) if "flash" in self.request.session else []
        html = self.web.env.get_template(template).render(
            user=self.user, nav=nav, path=self.request.url.path, csrf=csrf_token(self.request), flashes=flashes,
            can_change=allowed(self.user, CHANGE), can_originals=allowed(self.user, ORIGINALS), **context)
        return HTMLResponse(html, status_code=http_status, headers=headers)

    def flash(self, text: str, kind: str = "ok") -> None:
        self.request.session.setdefault("flash", []).append({"text": text, "kind": kind})

    def redirect(self, url: str, flash: str = "", kind: str = "ok") -> RedirectResponse:
        if flash:
            self.flash(flash, kind)
        return RedirectResponse(url, status_code=303)

    def audit(self, action: str, target: str = "", detail: str = "") -> None:
        assert self.user is not None
        self.web.audit(self.user, action, target, detail)

    def error(self, status: int, title: str, message: str) -> HTMLResponse:
        return self.render("error.html", http_status=status, title=title, message=message)


def wants_html(request: Request) -> bool:
    return "text/html" in request.headers.get("accept", "")


def endpoint(web: Web, page: Page) -> Callable:
    async def run(request: Request) -> Response:
        token = request.session.get("sid", "")
        user = await run_in_threadpool(web.accounts.session_user, token) if token else None
        if user is None and token:
            request.session.pop("sid", None)  # expired or ended elsewhere
        ctx = Ctx(web, request, user, params=dict(request.path_params))
        if page.permission is not None and user is None:
            if not wants_html(request):
                return PlainTextResponse("Sign in first.\n", status_code=401, headers={"www-authenticate": "Session"})
            return RedirectResponse(f"/signin?next={quote(request.url.path, safe='/')}", status_code=303)
        if not allowed(user, page.permission):
            return await run_in_threadpool(ctx.error, 403, "Not allowed",
                                           "Your account can look at everything but change nothing here. "
                                           "Ask a member of staff to do this.")
        if request.method == "POST":
            try:
                ctx.form = await request.form(max_files=UPLOAD_MAX_FILES, max_fields=FORM_MAX_FIELDS)
            except BodyTooLarge as exc:
                return await run_in_threadpool(ctx.error, 413, "Too large",
                                               f"That was {exc}, more than one request may carry. Send fewer files at once.")
            except HTTPException as exc:
                return await run_in_threadpool(ctx.error, 413 if "many" in str(exc.detail) else 400,
                                               "The form could not be read", str(exc.detail))
            if not csrf_ok(request, str(ctx.form.get("csrf", ""))):
                await ctx.form.close()
                return await run_in_threadpool(ctx.error, 403, "The form has expired",
                                               "This form was not sent from this page or has expired. "
                                               "Go back, reload the page and try again.")
        try:
            return await run_in_threadpool(page.view, ctx)
        finally:
            if ctx.form is not None:
                await ctx.form.close()

    run.__name__ = page.name or page.view.__name__
    return run


def healthz(_request: Request) -> Response:
    return PlainTextResponse("ok\n")


def create_app(store: Store, *, rubric: Rubric | None = None, key: bytes | None = None,
               data_dir: str | Path | None = None, secure_cookies: bool = False,
               settings_path: Path | None = None, pages: Sequence[Page] | None = None) -> Starlette:
    """The web app over ``store``. ``secure_cookies``: behind the office's HTTPS proxy, send the
    session cookie over HTTPS only."""
    from .views import PAGES

    web = Web(store, rubric=rubric, key=key, data_dir=data_dir, settings_path=settings_path)
    web.jobs.recover()
    routes: list = [Route("/healthz", healthz)]
    routes += [Route(p.path, endpoint(web, p), methods=list(p.methods), name=p.name or None) for p in (pages or PAGES)]
    routes += [
        Mount("/static/report", StaticFiles(directory=TEMPLATES / "report"), name="report-static"),
        Mount("/static/fonts", StaticFiles(directory=TEMPLATES / "fonts"), name="fonts"),
        Mount("/static", StaticFiles(directory=WEB_TEMPLATES / "static"), name="static"),
    ]
    # The session cookie is signed with a key derived from the office's key: no other file to keep.
    secret = hmac.new(web.key, b"matrixgen web session cookie", hashlib.sha256).hexdigest()
    middleware = [
        Middleware(SecurityMiddleware),
        Middleware(SessionMiddleware, secret_key=secret, session_cookie="matrixgen_session",
                   max_age=SESSION_HOURS * 3600, same_site="lax", https_only=secure_cookies),
    ]

    async def not_found(request: Request, exc: Exception) -> Response:
        status = getattr(exc, "status_code", 404)
        if not wants_html(request):
            return JSONResponse({"error": getattr(exc, "detail", "not found")}, status_code=status)
        return HTMLResponse(web.env.get_template("error.html").render(
            user=None, nav=[], path=request.url.path, csrf="", flashes=[], can_change=False, can_originals=False,
            title="Not found" if status == 404 else "Error", message=str(getattr(exc, "detail", ""))),
            status_code=status)

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        yield
        await run_in_threadpool(web.jobs.shutdown)  # a job that runs is finished, not cut off

    app = Starlette(routes=routes, middleware=middleware, exception_handlers={404: not_found, 405: not_found},
                    lifespan=lifespan)
    app.state.web = web
    return app
