"""What every response and every request goes through: security headers, body limits, CSRF tokens.

- Headers: a Content-Security-Policy that allows only our own files (no inline script, no
  framing), ``nosniff``, ``Referrer-Policy: same-origin``, and ``no-store`` on pages, since they
  show respondents' answers.
- Limits: a request body over its limit is refused (413) before it is read, or as soon as it
  passes the limit when its length was not declared; uploads have a larger limit than forms.
- CSRF: each browser session holds a random token in its signed cookie; every form carries it,
  and a POST without the same token is refused (403). A POST whose Origin is another site is
  refused too.
"""

from __future__ import annotations

import hmac
import secrets

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSP = ("default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; "
       "frame-ancestors 'none'")
# The report's own template sets a bar's width in a style attribute (WeasyPrint needs it there);
# only the page that shows a report as HTML allows style attributes, never scripts.
CSP_REPORT = CSP + "; style-src 'self'; style-src-attr 'unsafe-inline'"
HEADERS = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "x-frame-options": "DENY",
    "cross-origin-opener-policy": "same-origin",
}
FORM_LIMIT = 1024 * 1024  # every form but an upload: a megabyte is generous
UPLOAD_LIMIT = 200 * 1024 * 1024  # an upload of many returns at once (a workbook is ~20 KB, at most 10 MB)
UPLOAD_PATHS = ("/upload", "/rounds/open")  # paths ending so take files


class BodyTooLarge(Exception):
    def __init__(self, limit: int):
        super().__init__(f"more than {limit // (1024 * 1024)} MB")
        self.limit = limit


def body_limit(path: str) -> int:
    return UPLOAD_LIMIT if path.endswith(UPLOAD_PATHS) else FORM_LIMIT


class SecurityMiddleware:
    """Security headers on every response, and the request body limit."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = body_limit(scope["path"])
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            await _too_large(send, limit)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge(limit)
            return message

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = message.setdefault("headers", [])
                present = {k.lower() for k, _ in headers}
                if b"content-security-policy" not in present:
                    headers.append((b"content-security-policy", CSP.encode()))
                for name, value in HEADERS.items():
                    if name.encode() not in present:
                        headers.append((name.encode(), value.encode()))
                if b"cache-control" not in present:
                    headers.append((b"cache-control", b"no-store"))
            await send(message)

        await self.app(scope, counted, with_headers)


async def _too_large(send: Send, limit: int) -> None:
    body = f"Too large: a request may have at most {limit // (1024 * 1024)} MB.\n".encode()
    await send({"type": "http.response.start", "status": 413, "headers": [
        (b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode()),
        (b"content-security-policy", CSP.encode()), *((k.encode(), v.encode()) for k, v in HEADERS.items())]})
    await send({"type": "http.response.body", "body": body})


# --- CSRF ---------------------------------------------------------------------------------------

CSRF_FIELD = "csrf"


def csrf_token(request: Request) -> str:
    """The session's token (made on first use), for the hidden field of every form."""
    token = request.session.get(CSRF_FIELD)
    if not token:
        token = request.session[CSRF_FIELD] = secrets.token_urlsafe(32)
    return token


def csrf_ok(request: Request, given: str) -> bool:
    expected = request.session.get(CSRF_FIELD, "")
    if not expected or not given or not hmac.compare_digest(str(given), expected):
        return False
    origin = request.headers.get("origin")
    if origin and origin != "null":
        # A browser names the page's origin on a POST: it must be this site.
        host = request.headers.get("host", "")
        if origin.split("://", 1)[-1] != host:
            return False
    return True


def new_csrf(request: Request) -> None:
    """A fresh token when who is signed in changes (sign-in, sign-out)."""
    request.session[CSRF_FIELD] = secrets.token_urlsafe(32)
