"""Users, passwords, sessions and the sign-in rate limit, in the store.

Passwords are argon2id hashes (argon2-cffi's defaults, rehashed when those change). A session is a
random token: the browser holds it in a signed cookie, the store only its sha256 with an expiry,
so signing out, removing a user or a copy of the store leaking ends or grants nothing beyond
what it says. Failed sign-ins are counted per account and per address over a window; past the
limit, sign-in is refused until the window has moved on, even with the right password.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import and_, delete, func, insert, select, update
from sqlalchemy.engine import Engine

from ..store.model import now
from ..store.schema import web_sessions, web_signins, web_users

STAFF, VIEWER = "staff", "viewer"
ROLES = (STAFF, VIEWER)
MIN_PASSWORD = 12  # characters; NIST SP 800-63B asks for at least 8, and these accounts see every answer
MAX_PASSWORD = 1024  # hashing a megabyte per attempt would be a way to tie up the server
SESSION_HOURS = 10  # a working day; then sign in again
WINDOW_MINUTES = 15
MAX_FAILURES_PER_ACCOUNT = 5
MAX_FAILURES_PER_ADDRESS = 20

_hasher = PasswordHasher()
# Verified against when the email is unknown, so that a wrong email takes as long as a wrong password.
_DUMMY = _hasher.hash(secrets.token_urlsafe(16))


class AccountError(ValueError):
    """A user that cannot be added or removed; the message says why and what to do."""


@dataclass(frozen=True)
class User:
    pk: int
    email: str
    role: str
    created_at: str

    @property
    def staff(self) -> bool:
        return self.role == STAFF


def fold_email(email: str) -> str:
    return email.strip().lower()


def check_password(password: str) -> str | None:
    """Why the password cannot be used, or None."""
    if len(password) < MIN_PASSWORD:
        return f"a password needs at least {MIN_PASSWORD} characters"
    if len(password) > MAX_PASSWORD:
        return f"a password may have at most {MAX_PASSWORD} characters"
    return None


class Accounts:
    def __init__(self, engine: Engine):
        self.engine = engine

    # --- users ---

    def add(self, email: str, password: str, role: str = STAFF) -> User:
        email = fold_email(email)
        if "@" not in email or len(email) > 254 or any(c.isspace() for c in email):
            raise AccountError(f"{email!r} is not an email address; give the person's work address")
        if role not in ROLES:
            raise AccountError(f"{role!r} is not a role; use staff or viewer")
        why = check_password(password)
        if why:
            raise AccountError(why)
        with self.engine.begin() as conn:
            if conn.execute(select(web_users.c.pk).where(web_users.c.email == email)).first() is not None:
                raise AccountError(f"{email} is a user already; remove it first to change its password or role")
            conn.execute(insert(web_users).values(email=email, role=role, password_hash=_hasher.hash(password),
                                                  created_at=now()))
        found = self.user(email)
        assert found is not None
        return found

    def remove(self, email: str) -> bool:
        """Remove the user and end its sessions; False when there is no such user."""
        email = fold_email(email)
        with self.engine.begin() as conn:
            pk = conn.execute(select(web_users.c.pk).where(web_users.c.email == email)).scalar()
            if pk is None:
                return False
            conn.execute(delete(web_sessions).where(web_sessions.c.user_pk == pk))
            conn.execute(delete(web_users).where(web_users.c.pk == pk))
        return True

    def users(self) -> list[User]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(web_users.c.pk, web_users.c.email, web_users.c.role, web_users.c.created_at)
                                .order_by(web_users.c.email)).all()
        return [User(*r) for r in rows]

    def user(self, email: str) -> User | None:
        return next((u for u in self.users() if u.email == fold_email(email)), None)

    def count(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(web_users)).scalar() or 0)

    # --- signing in ---

    def limited(self, email: str, address: str, at: datetime | None = None) -> bool:
        """True while too many sign-ins failed lately for this account or from this address."""
        since = _stamp((at or _utc()) - timedelta(minutes=WINDOW_MINUTES))
        with self.engine.connect() as conn:
            def failures(where) -> int:
                return int(conn.execute(select(func.count()).select_from(web_signins).where(
                    and_(web_signins.c.at >= since, web_signins.c.ok.is_(False), where))).scalar() or 0)

            return (failures(web_signins.c.email == fold_email(email)) >= MAX_FAILURES_PER_ACCOUNT
                    or failures(web_signins.c.address == address) >= MAX_FAILURES_PER_ADDRESS)

    def sign_in(self, email: str, password: str, address: str) -> tuple[User | None, str]:
        """(the user, a new session token) when the password is right and no limit applies;
        (None, "") otherwise. Every attempt is recorded."""
        email = fold_email(email)[:254]
        if self.limited(email, address):
            return None, ""
        with self.engine.connect() as conn:
            row = conn.execute(select(web_users).where(web_users.c.email == email)).mappings().first()
        ok = False
        if len(password) <= MAX_PASSWORD:
            try:
                ok = _hasher.verify(row["password_hash"] if row else _DUMMY, password) and row is not None
            except (VerificationError, InvalidHashError):
                ok = False
        with self.engine.begin() as conn:
            conn.execute(insert(web_signins).values(at=now(), email=email, address=address[:100], ok=ok))
            # Attempts older than a day count for nothing: keep the table small.
            conn.execute(delete(web_signins).where(web_signins.c.at < _stamp(_utc() - timedelta(days=1))))
        if not ok or row is None:
            return None, ""
        if _hasher.check_needs_rehash(row["password_hash"]):
            with self.engine.begin() as conn:
                conn.execute(update(web_users).where(web_users.c.pk == row["pk"])
                             .values(password_hash=_hasher.hash(password)))
        token = secrets.token_urlsafe(32)
        with self.engine.begin() as conn:
            conn.execute(insert(web_sessions).values(
                token_hash=_digest(token), user_pk=row["pk"], created_at=now(),
                expires_at=_stamp(_utc() + timedelta(hours=SESSION_HOURS)), address=address[:100]))
            conn.execute(delete(web_sessions).where(web_sessions.c.expires_at < now()))
        return User(row["pk"], row["email"], row["role"], row["created_at"]), token

    def session_user(self, token: str) -> User | None:
        """The user of an unexpired session, else None."""
        if not token:
            return None
        with self.engine.connect() as conn:
            row = conn.execute(
                select(web_users.c.pk, web_users.c.email, web_users.c.role, web_users.c.created_at)
                .join(web_sessions, web_sessions.c.user_pk == web_users.c.pk)
                .where(and_(web_sessions.c.token_hash == _digest(token), web_sessions.c.expires_at > now()))).first()
        return User(*row) if row else None

    def sign_out(self, token: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(web_sessions).where(web_sessions.c.token_hash == _digest(token)))


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _utc() -> datetime:
    return datetime.now(timezone.utc)


def _stamp(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")
