"""Who may do what: the one place the web app decides it.

Every route names the permission it needs (``app.Page``); ``app.endpoint`` checks it before the
view runs, so a view never checks a role itself. Signed-out requests get the sign-in page (or
401 for a client that does not take HTML) everywhere except sign-in, ``/healthz`` and the static
files the sign-in page needs.
"""

from __future__ import annotations

from .accounts import STAFF, VIEWER, User

PUBLIC = None  # no sign-in needed
VIEW = "view"  # every page and download of what the office made: status, reports, exports, the rubric
CHANGE = "change"  # anything that writes: rounds, uploads, decisions, sending, issuing, rendering
ORIGINALS = "originals"  # the files respondents sent, byte for byte

GRANTS = {
    STAFF: frozenset({VIEW, CHANGE, ORIGINALS}),
    # A manager who only looks: everything the office made, nothing that changes it, and not the
    # respondents' own files.
    VIEWER: frozenset({VIEW}),
}


def allowed(user: User | None, permission: str | None) -> bool:
    if permission is PUBLIC:
        return True
    return user is not None and permission in GRANTS.get(user.role, frozenset())
