"""Bringing a store's schema up to date when it is opened: Alembic migrations, run in one transaction.

A state office keeps years of history in one store and upgrades matrixgen in place, so every
schema change is a migration in ``migrations/versions`` and nothing is ever created any other
way. Opening a store that is already current costs two small queries and never imports Alembic
(``matrixgen score`` opens the store on its hot path); only an upgrade does.

Stores made by the releases before Alembic (schema versions 1 and 2, recorded in
``matrixgen_meta``) are stamped at the matching revision first, then upgraded like any other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import inspect, select, text
from sqlalchemy.engine import Connection, Engine

from ..errors import problem
from .model import StoreError

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
HEAD = "0005"  # the newest revision; a test checks it is the head of migrations/versions
META = "matrixgen_meta"
# The releases before Alembic wrote their schema version here; revisions 0001 and 0002 are those versions.
LEGACY_REVISIONS = {1: "0001", 2: "0002"}


@dataclass
class Upgrade:
    """What opening the store did to its schema, to tell the user."""

    created: bool = False
    from_revision: str | None = None
    to_revision: str = HEAD
    steps: list[tuple[str, str]] = field(default_factory=list)  # (revision, summary) applied

    @property
    def upgraded(self) -> bool:
        return bool(self.steps) and not self.created


def prepare(engine: Engine, shown: str, create: bool) -> Upgrade:
    """Check the schema and apply what is missing; refuse a newer one, or (``create`` False) a store
    that has no matrixgen tables yet."""
    with engine.connect() as conn:
        current = _revision(conn, shown)
    if current == HEAD:
        return Upgrade(from_revision=HEAD)
    if current is None and not create:
        raise StoreError(problem("MG-STORE-005", shown, url=shown))
    if current is not None and (not current.isdigit() or int(current) > int(HEAD)):
        raise StoreError(problem("MG-STORE-003", shown, url=shown, found=current, expected=HEAD))
    with engine.begin() as conn:
        steps = _upgrade(conn, current)
        _record_version(conn)
    return Upgrade(created=current is None, from_revision=current, steps=steps)


def _revision(conn: Connection, shown: str) -> str | None:
    """The store's revision: Alembic's, else the legacy schema version's, else None (no store yet)."""
    tables = set(inspect(conn).get_table_names())
    if "alembic_version" in tables:
        found = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
        return str(found) if found else None
    if META in tables:
        version = conn.execute(text(f"SELECT value FROM {META} WHERE key = 'schema_version'")).scalar()
        try:
            return LEGACY_REVISIONS[int(version)]
        except (KeyError, TypeError, ValueError):
            raise StoreError(problem("MG-STORE-003", shown, url=shown, found=version, expected=HEAD)) from None
    return None


def _upgrade(conn: Connection, current: str | None) -> list[tuple[str, str]]:
    from alembic import command
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = conn
    if current is not None and not inspect(conn).has_table("alembic_version"):
        command.stamp(config, current)  # a legacy store: it is at this revision already
    command.upgrade(config, HEAD)
    script = ScriptDirectory.from_config(config)
    applied = [r for r in script.iterate_revisions(HEAD, current or "base")]
    return [(r.revision, str(getattr(r.module, "summary", ""))) for r in reversed(applied)]


def _record_version(conn: Connection) -> None:
    """The revision as a number in ``matrixgen_meta`` too: the releases before Alembic read it there,
    and refuse a store newer than they are instead of misreading it."""
    found = conn.execute(text(f"SELECT value FROM {META} WHERE key = 'schema_version'")).first()
    if found is None:
        conn.execute(text(f"INSERT INTO {META} (key, value) VALUES ('schema_version', :v)"), {"v": str(int(HEAD))})
    else:
        conn.execute(text(f"UPDATE {META} SET value = :v WHERE key = 'schema_version'"), {"v": str(int(HEAD))})


def revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return conn.execute(select(text("version_num")).select_from(text("alembic_version"))).scalar()
