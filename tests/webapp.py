"""The web app's test setup: a store with round 2026 open for ALPHA and BETA, two users, and a
client signed in as either. Test modules import the fixtures by name:
``from webapp import site, staff, viewer``."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import ALPHA, BETA, KEY, RUBRIC, empty_postgresql, need_service

from matrixgen.store import Store

pytest.importorskip("starlette", reason="the web app's tests need the [web] extra")
from starlette.testclient import TestClient  # noqa: E402

from matrixgen.web import create_app  # noqa: E402
from matrixgen.web.accounts import Accounts  # noqa: E402

PASSWORD = "correct horse battery staple"
STAFF, VIEWER = "staff@example.gov", "viewer@example.gov"
HTML = {"accept": "text/html"}
TOKEN_RE = re.compile(r'name="csrf" value="([^"]+)"')


@dataclass
class Site:
    app: object
    store: Store
    home: Path

    @property
    def web(self):
        return self.app.state.web

    def client(self, who: str | None = None) -> TestClient:
        c = TestClient(self.app, headers=HTML, follow_redirects=False)
        if who is not None:
            r = c.post("/signin", data={"csrf": token(c, "/signin"), "email": who, "password": PASSWORD, "next": "/"})
            assert r.status_code == 303, r.text
        return c


def token(c: TestClient, page: str = "/rounds") -> str:
    """The CSRF token of the client's session, as a page's forms carry it."""
    found = TOKEN_RE.search(c.get(page, follow_redirects=True).text)
    assert found, "no form on the page"
    return found.group(1)


def post(c: TestClient, path: str, data: dict | None = None, files=None, page: str = "/rounds"):
    return c.post(path, data={"csrf": token(c, page), **(data or {})}, files=files)


def make_site(url: str, home: Path) -> Site:
    store = Store.open(url, home)
    store.open_round("2026", [ALPHA, BETA], due="March 31, 2027")
    accounts = Accounts(store.engine)
    accounts.add(STAFF, PASSWORD, "staff")
    accounts.add(VIEWER, PASSWORD, "viewer")
    app = create_app(store, rubric=RUBRIC, key=KEY, data_dir=home)
    return Site(app, store, home)


@pytest.fixture(params=["sqlite"])
def site(request, tmp_path):
    made = make_site(f"sqlite:///{tmp_path / 'matrixgen.db'}", tmp_path)
    yield made
    made.web.jobs.shutdown()
    made.store.close()


@pytest.fixture
def pg_site(tmp_path):
    url = need_service("PostgreSQL", "MATRIXGEN_TEST_PG_URL")
    empty_postgresql(url)
    made = make_site(url, tmp_path)
    yield made
    made.web.jobs.shutdown()
    made.store.close()


@pytest.fixture
def staff(site):
    return site.client(STAFF)


@pytest.fixture
def viewer(site):
    return site.client(VIEWER)
