from __future__ import annotations

import os

import pytest
from conftest import (
    ALPHA,
    BETA,
    KEY,
    OPTIONS,
    RUBRIC,
    _rubric_v2,
    empty_postgresql,
    need_service,
    upto,
)
from sqlalchemy import text

from matrixgen.batch import score_paths
from matrixgen.generate import generate_workbooks
from matrixgen.simulate import fill
from matrixgen.store import SCHEMA_VERSION, Store, StoreError, store_url


@pytest.fixture
def store(tmp_path):
    s = Store.open(tmp_path / "matrixgen.db")
    yield s
    s.close()


def test_store__new_file__schema_created_with_its_version(store):
    assert store.schema_version() == SCHEMA_VERSION
    assert store.rounds() == [] and store.latest_round() is None


def test_store__newer_schema_version__refused_with_a_located_problem(tmp_path, store):
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": f"{SCHEMA_VERSION + 1:04}"})
    with pytest.raises(StoreError) as caught:
        Store.open(tmp_path / "matrixgen.db")
    assert (caught.value.problem.code, caught.value.problem.location) == ("MG-STORE-003",
                                                                          f"sqlite:///{tmp_path / 'matrixgen.db'}")


def test_store__missing_file_and_create_false__refused_and_nothing_made(tmp_path):
    with pytest.raises(StoreError) as caught:
        Store.open(tmp_path / "no-such-folder" / "x.db", create=False)
    assert caught.value.problem.code == "MG-STORE-005"
    assert not (tmp_path / "no-such-folder").exists()


def test_store__new_file__private_whatever_the_umask(tmp_path):
    old = os.umask(0)
    try:
        s = Store.open(tmp_path / "data" / "matrixgen.db")
        s.open_round("2026", [ALPHA])  # writes through the WAL
        modes = {p.name: oct(p.stat().st_mode & 0o777) for p in (tmp_path / "data").iterdir()}
        s.close()
    finally:
        os.umask(old)
    assert oct((tmp_path / "data").stat().st_mode & 0o777) == "0o700"
    assert modes == {"matrixgen.db": "0o600", "matrixgen.db-wal": "0o600", "matrixgen.db-shm": "0o600"}


def test_store__url__path_url_and_environment(tmp_path, monkeypatch):
    monkeypatch.delenv("MATRIXGEN_DB", raising=False)
    assert store_url(None, tmp_path) == f"sqlite:///{tmp_path / 'matrixgen.db'}"
    assert store_url("sqlite:///:memory:") == "sqlite:///:memory:"
    monkeypatch.setenv("MATRIXGEN_DB", str(tmp_path / "env.db"))
    assert store_url(None, tmp_path) == f"sqlite:///{tmp_path / 'env.db'}"


def test_store__rubric_versions__rebuilt_exactly_from_canonical_json(store):
    old = _rubric_v2()
    store.record_rubric(RUBRIC)
    store.record_rubric(old)
    store.record_rubric(RUBRIC)  # idempotent
    rebuilt = store.rubrics()
    assert set(rebuilt) == {RUBRIC.content_hash, old.content_hash}
    assert rebuilt[RUBRIC.content_hash] == RUBRIC
    assert store.rubric(old.content_hash).version == "2099-01-01"
    assert store.rubric("0" * 64) is None


def test_store__record_issue__round_never_opened__refused_and_no_round_made(tmp_path, store):
    made = generate_workbooks(RUBRIC, [ALPHA], tmp_path / "wb", OPTIONS, KEY)
    with pytest.raises(StoreError) as caught:
        store.record_issue("2026", RUBRIC, made)
    assert caught.value.problem.code == "MG-STORE-006" and store.rounds() == []


def test_store__record_issue__round_roster_and_which_workbook_went_to_whom(tmp_path, store):
    made = generate_workbooks(RUBRIC, [ALPHA, BETA], tmp_path / "wb", OPTIONS, KEY)
    store.open_round("2026", [])
    store.record_issue("2026", RUBRIC, made)
    store.record_issue("2026", RUBRIC, made)  # a re-run changes nothing
    [info] = store.rounds()
    assert (info.label, info.rubric_hash, info.roster_size, info.submissions, info.returned) == (
        "2026", RUBRIC.content_hash, 2, 0, 0)
    assert [p.partnership_id for p in store.roster("2026")] == ["NE-IT", "WC-AG"]
    assert {(i.sha256, i.partnership_id) for i in store.issued("2026")} == {(m.sha256, m.partnership.id) for m in made}
    assert store.partnership("NE-IT").contact_email == "ann@example.org"
    assert [p.partnership_id for p in store.not_returned("2026")] == ["NE-IT", "WC-AG"]


def test_store__results_and_history__what_reports_need(tmp_path, store, issued):
    made = issued["made"]
    store.open_round("2026", [ALPHA, BETA])
    store.record_issue("2026", RUBRIC, made)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "alpha.xlsx").write_bytes(fill(issued["alpha"], upto("emerging")))
    score_paths([inbox], store, RUBRIC, KEY, tmp_path / "archive", workers=0)
    [detail] = store.results("2026")
    assert detail.info.partnership.partnership_id == "NE-IT" and detail.info.current
    assert detail.info.overall_stage == "emerging"
    assert [a.criterion_id for a in detail.answers] == [c.id for c in RUBRIC.criteria]
    assert detail.score().stage_id == "emerging"
    assert detail.score("neutral-convener").stage_id == "emerging"
    assert detail.score().next_stage_id == "operational"
    assert [p.partnership_id for p in store.not_returned("2026")] == ["WC-AG"]
    assert [s.round_label for s in store.history("NE-IT")] == ["2026"]
    assert store.rounds()[0].returned == 1


def test_store__postgresql__the_same_batch_stores_and_reads_back(tmp_path, issued):
    url = need_service("PostgreSQL", "MATRIXGEN_TEST_PG_URL")
    pytest.importorskip("psycopg")
    empty_postgresql(url)
    pg = Store.open(url)
    pg.open_round("2026", [ALPHA, BETA])
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "alpha.xlsx").write_bytes(fill(issued["alpha"], upto("operational")))
    result = score_paths([inbox], pg, RUBRIC, KEY, tmp_path / "archive", workers=0)
    assert result.outcomes[0].status == "scored"
    [detail] = pg.results("2026")
    assert detail.score().stage_id == "operational" and len(detail.answers) == len(RUBRIC.criteria)
    pg.close()
