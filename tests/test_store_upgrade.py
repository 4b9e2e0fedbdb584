"""Upgrading a store in place: real stores written by release 0.1.0 (tests/fixtures/stores) keep
every row, on SQLite and on PostgreSQL, and the migrations arrive at exactly schema.py's tables."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text

from conftest import FIXTURES, empty_postgresql, need_service
from matrixgen.status import round_status
from matrixgen.store import SCHEMA_VERSION, Store
from matrixgen.store.schema import metadata
from matrixgen.store.upgrade import HEAD, MIGRATIONS

RELEASE_DB = FIXTURES / "stores" / "release-0.1.0.db"
RELEASE_SQL = FIXTURES / "stores" / "release-0.1.0.postgresql.sql"
TABLES = ("rubric_versions", "partnerships", "rounds", "roster", "issued_workbooks", "submissions", "answers",
          "scores", "problems", "reports", "sent_messages")


def rows_of(engine, table: str) -> list[tuple]:
    """Every row of a table, columns of release 0.1.0 only, in a stable order."""
    with engine.connect() as conn:
        old = [c for c in RELEASE_COLUMNS[table]]
        found = conn.execute(text(f"SELECT {', '.join(old)} FROM {table}")).all()
    return sorted(tuple(str(v) for v in row) for row in found)


def _release_columns() -> dict[str, list[str]]:
    # immutable: a WAL-mode file opened read-only would still get -wal and -shm files beside it.
    with sqlite3.connect(f"file:{RELEASE_DB}?immutable=1", uri=True) as conn:
        return {t: [r[1] for r in conn.execute(f"PRAGMA table_info({t})")] for t in TABLES}


RELEASE_COLUMNS = _release_columns()


def revisions_after(revision: str) -> list[str]:
    """Every migration newer than ``revision``, in order (numbered files in migrations/versions)."""
    found = sorted(p.name[:4] for p in (MIGRATIONS / "versions").glob("[0-9][0-9][0-9][0-9]_*.py"))
    return [r for r in found if r > revision]


@pytest.fixture
def release_sqlite(tmp_path) -> Path:
    path = tmp_path / "store.db"
    shutil.copyfile(RELEASE_DB, path)
    path.chmod(0o644)  # as release 0.1.0 left it under a usual umask
    return path


@pytest.fixture
def release_postgresql() -> str:
    url = need_service("PostgreSQL", "MATRIXGEN_TEST_PG_URL")
    empty_postgresql(url)
    # pg_dump's psql meta-commands (\restrict ...) are not SQL; the rest runs as one script.
    script = "\n".join(line for line in RELEASE_SQL.read_text(encoding="utf-8").splitlines()
                       if not line.startswith("\\"))
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql(script)
        conn.exec_driver_sql("SET search_path TO public")
    engine.dispose()
    return url


def before_rows(url: str) -> dict[str, list[tuple]]:
    engine = create_engine(url)
    found = {t: rows_of(engine, t) for t in TABLES}
    engine.dispose()
    return found


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_upgrade__release_store__every_row_kept_and_it_works(backend, request):
    url = (f"sqlite:///{request.getfixturevalue('release_sqlite')}" if backend == "sqlite"
           else request.getfixturevalue("release_postgresql"))
    before = before_rows(url)
    assert len(before["submissions"]) == 22 and len(before["sent_messages"]) == 13 and len(before["rounds"]) == 2

    store = Store.open(url)
    assert (store.upgrade.from_revision, store.upgrade.to_revision, store.upgrade.created) == ("0002", HEAD, False)
    assert [revision for revision, _ in store.upgrade.steps] == revisions_after("0002")
    after = {t: rows_of(store.engine, t) for t in TABLES}
    assert after == before  # every row, every value of the release's columns
    assert store.schema_version() == SCHEMA_VERSION

    # The upgraded store answers as a new one does: rounds in the order opened, all open, nothing to review.
    assert [(r.label, r.state, r.seq) for r in store.rounds()] == [("2026", "open", 2), ("2025", "open", 1)]
    assert store.review_items() == []
    status = round_status(store, "2026")
    assert status.totals()["partnerships"] == 12 and status.totals()["scored"] == 9
    assert len(store.results("2026")) == 10
    store.close()

    if backend == "sqlite":  # the release made it with the umask's mode: the upgrade makes it private
        assert oct(Path(url.removeprefix("sqlite:///")).stat().st_mode & 0o777) == "0o600"
    again = Store.open(url)  # upgrading is done once
    assert again.upgrade.steps == [] and not again.upgrade.upgraded
    again.close()


def test_upgrade__legacy_rows_without_a_round_or_partnership__wait_in_review(release_sqlite):
    with sqlite3.connect(release_sqlite) as conn:
        # What the release stored for a generic blank scored without --round, and for a typed name it made up.
        conn.execute("INSERT INTO partnerships (partnership_id, name, name_key, region, sector, contact_name, "
                     "contact_email, verified) VALUES (NULL, 'Ohio River Health Careers', 'ohio river health careers',"
                     " '', '', '', '', 0)")
        typed = conn.execute("SELECT pk FROM partnerships WHERE partnership_id IS NULL").fetchone()[0]
        first = conn.execute("SELECT * FROM submissions WHERE is_current = 1 ORDER BY pk LIMIT 2").fetchall()
        conn.execute("UPDATE submissions SET round_label = NULL WHERE pk = ?", (first[0][0],))
        conn.execute("UPDATE submissions SET partnership_pk = ? WHERE pk = ?", (typed, first[1][0]))
    store = Store.open(release_sqlite)
    items = store.review_items()
    assert sorted(i.reason_code for i in items) == ["MG-REVIEW-002", "MG-REVIEW-009"]
    typed_item = next(i for i in items if i.reason_code == "MG-REVIEW-002")
    assert typed_item.submission.claimed_name == "Ohio River Health Careers" and typed_item.submission.partnership is None
    assert not any(i.submission.current for i in items)


def test_upgrade__schema_version_1_store__upgraded_through_every_revision(tmp_path):
    """A store of the first release: revision 0001's tables and schema_version 1, no Alembic table."""
    url = f"sqlite:///{tmp_path / 'v1.db'}"
    Store.open(url).close()
    engine = create_engine(url)
    with engine.begin() as conn:
        for table in ("review_decisions", "review_items", "mail_attachments", "mail_messages", "sent_messages", "reports",
                      "alembic_version", "web_sessions", "web_users", "web_signins", "web_audit", "web_jobs"):
            conn.execute(text(f"DROP TABLE {table}"))
        for table, column in (("rounds", "due"), ("rounds", "seq"), ("rounds", "state"), ("rounds", "closed_at"),
                              ("issued_workbooks", "path"), ("submissions", "claimed_id"),
                              ("submissions", "claimed_name")):
            conn.execute(text(f"ALTER TABLE {table} DROP COLUMN {column}"))
        conn.execute(text("UPDATE matrixgen_meta SET value = '1'"))
        conn.execute(text("INSERT INTO rounds (label, created_at) VALUES ('2025', '2025-01-01T00:00:00Z')"))
    engine.dispose()
    store = Store.open(url)
    assert [revision for revision, _ in store.upgrade.steps] == revisions_after("0001")
    assert store.round("2025").due == "" and store.round("2025").state == "open"


def test_upgrade__old_release_reads_the_version__and_would_refuse_the_store(tmp_path):
    store = Store.open(tmp_path / "new.db")
    with store.engine.connect() as conn:
        assert conn.execute(text("SELECT value FROM matrixgen_meta WHERE key = 'schema_version'")).scalar() == str(int(HEAD))
    assert int(HEAD) > 2  # release 0.1.0 refuses schema versions above its own 2


def test_upgrade__head_constant__is_the_newest_migration():
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    assert ScriptDirectory.from_config(config).get_heads() == [HEAD]


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_upgrade__migrations_from_empty__match_schema_py(backend, tmp_path):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    if backend == "postgresql":
        url = need_service("PostgreSQL", "MATRIXGEN_TEST_PG_URL")
        empty_postgresql(url)
    else:
        url = f"sqlite:///{tmp_path / 'new.db'}"
    store = Store.open(url)
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    store.close()
    # Alembic's own version table is the only thing the migrations make that schema.py does not hold.
    assert [d for d in diff if not (d[0] == "remove_table" and d[1].name == "alembic_version")] == []
    assert {"matrixgen_meta", *metadata.tables} <= set(inspect(create_engine(url)).get_table_names())
