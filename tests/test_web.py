"""The web app's safety: signing in and out, the rate limit, CSRF, roles, headers, and `user`/`serve`."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from webapp import HTML, PASSWORD, STAFF, VIEWER, post, site, staff, token, viewer  # noqa: F401 (fixtures)

from matrixgen.cli import main
from matrixgen.store import Store
from matrixgen.web.accounts import MAX_FAILURES_PER_ACCOUNT, MAX_FAILURES_PER_ADDRESS, Accounts

PAGES = ("/rounds", "/rounds/2026", "/review", "/partnerships", "/partnerships/NE-IT", "/rubric", "/jobs", "/audit")
# (path, form) of every POST that changes something.
CHANGES = (
    ("/rounds/2026/close", {}), ("/rounds/2026/reopen", {}), ("/rounds/2026/issue", {}),
    ("/rounds/2026/send/blanks", {}), ("/rounds/2026/reports", {}), ("/rounds/2026/upload", {}),
    ("/review/1/reject", {"reason": "no"}), ("/review/1/undo", {}), ("/rounds/open", {"label": "2027"}),
)


# --- signing in -----------------------------------------------------------------------------------

def test_signin__right_password__session_cookie_and_back_to_the_page(site):
    c = site.client()
    assert c.get("/rounds/2026").headers["location"] == "/signin?next=/rounds/2026"
    r = c.post("/signin", data={"csrf": token(c, "/signin"), "email": " Staff@Example.gov ", "password": PASSWORD,
                                "next": "/rounds/2026"})
    assert (r.status_code, r.headers["location"]) == (303, "/rounds/2026")
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "max-age=36000" in cookie
    assert c.get("/rounds/2026").status_code == 200


def test_signin__wrong_password_or_unknown_email__401_and_no_session(site):
    c = site.client()
    for email, password in ((STAFF, PASSWORD + "x"), ("nobody@example.gov", PASSWORD)):
        r = c.post("/signin", data={"csrf": token(c, "/signin"), "email": email, "password": password})
        assert r.status_code == 401 and "do not match an account" in r.text
    assert c.get("/rounds").status_code == 303


def test_signin__next_elsewhere__stays_on_this_site(site):
    c = site.client()
    r = c.post("/signin", data={"csrf": token(c, "/signin"), "email": STAFF, "password": PASSWORD,
                                "next": "//evil.example/x"})
    assert r.headers["location"] == "/rounds"


def test_signout__the_old_cookie__no_longer_signs_in(site, staff):
    cookie = staff.cookies.get("matrixgen_session")
    assert post(staff, "/signout").headers["location"] == "/signin"
    again = site.client()
    again.cookies.set("matrixgen_session", cookie)
    assert again.get("/rounds").status_code == 303  # the session ended in the store, not only in the browser


def test_signin__too_many_failures_for_an_account__refused_even_with_the_right_password(site):
    c = site.client()
    for _ in range(MAX_FAILURES_PER_ACCOUNT):
        assert c.post("/signin", data={"csrf": token(c, "/signin"), "email": STAFF, "password": "wrong one here"}
                      ).status_code == 401
    r = c.post("/signin", data={"csrf": token(c, "/signin"), "email": STAFF, "password": PASSWORD})
    assert r.status_code == 429 and "Too many failed sign-ins" in r.text
    # Another account from the same address is not locked out by these.
    r = c.post("/signin", data={"csrf": token(c, "/signin"), "email": VIEWER, "password": PASSWORD})
    assert r.status_code == 303


def test_signin__too_many_failures_from_an_address__refused_for_every_account(site):
    c = site.client()
    for i in range(MAX_FAILURES_PER_ADDRESS):
        c.post("/signin", data={"csrf": token(c, "/signin"), "email": f"guess{i}@example.gov", "password": "x" * 12})
    r = c.post("/signin", data={"csrf": token(c, "/signin"), "email": VIEWER, "password": PASSWORD})
    assert r.status_code == 429
    assert not Accounts(site.store.engine).limited(VIEWER, "another-address")


# --- nothing without signing in ---------------------------------------------------------------------

@pytest.mark.parametrize("path", PAGES + ("/rounds/2026/export.csv", "/submissions/1/original", "/jobs/1.json"))
def test_pages__signed_out__html_to_signin_others_401(site, path):
    c = site.client()
    assert c.get(path).status_code == 303
    r = c.get(path, headers={"accept": "application/json"})
    assert r.status_code == 401 and r.text == "Sign in first.\n"


def test_healthz__signed_out__ok(site):
    r = site.client().get("/healthz")
    assert (r.status_code, r.text) == (200, "ok\n")


def test_pages__signed_in__every_page_answers_with_the_security_headers(staff):
    for path in PAGES + ("/signin",):
        r = staff.get(path, follow_redirects=True)
        assert r.status_code == 200, path
        csp = r.headers["content-security-policy"]
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["referrer-policy"] == "same-origin"
        assert "<script>" not in r.text and "style=" not in r.text  # nothing inline: the CSP holds


# --- CSRF --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("path,form", CHANGES + (("/signout", {}), ("/signin", {"email": STAFF, "password": PASSWORD})))
def test_post__without_a_csrf_token__403(staff, path, form):
    r = staff.post(path, data=form)
    assert r.status_code == 403 and "expired" in r.text


def test_post__with_another_sessions_token_or_from_another_site__403(site, staff):
    other = site.client(VIEWER)
    assert staff.post("/rounds/2026/close", data={"csrf": token(other)}).status_code == 403
    r = staff.post("/rounds/2026/close", data={"csrf": token(staff)}, headers={"origin": "https://evil.example"})
    assert r.status_code == 403
    assert site.store.round("2026").state == "open"


# --- roles ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("path,form", CHANGES)
def test_viewer__any_change__403_and_nothing_changes(site, viewer, path, form):
    r = post(viewer, path, form)
    assert r.status_code == 403 and "change nothing" in r.text
    assert site.store.round("2026").state == "open" and site.store.round("2027") is None


@pytest.mark.parametrize("path", ("/rounds/2026/issue", "/rounds/2026/send/blanks", "/rounds/2026/reports",
                                  "/rounds/2026/upload", "/submissions/1/original"))
def test_viewer__action_pages_and_originals__403(viewer, path):
    assert viewer.get(path).status_code == 403


def test_viewer__pages__shown_without_any_action(viewer):
    page = viewer.get("/rounds/2026").text
    assert "Round export (Excel)" in page and "Upload returns" not in page and "Close the round" not in page


# --- limits ---------------------------------------------------------------------------------------------

def test_form__over_a_megabyte__413(staff):
    r = staff.post("/rounds/2026/close", data={"csrf": token(staff), "x": "y" * (1024 * 1024 + 10)})
    assert r.status_code == 413


# --- the command line ---------------------------------------------------------------------------------------

def test_user_add__password_from_stdin__added_and_listed(tmp_path):
    db = str(tmp_path / "m.db")
    runner = CliRunner()
    r = runner.invoke(main, ["user", "add", "Ann@Example.gov", "--role", "viewer", "--password-stdin", "--db", db],
                      input=PASSWORD + "\n")
    assert (r.exit_code, r.output.splitlines()[-1]) == (0, "Added viewer user ann@example.gov.")
    r = runner.invoke(main, ["user", "list", "--db", db])
    assert r.exit_code == 0 and r.output.splitlines()[0].split() == ["email", "role", "added"]
    assert r.output.splitlines()[1].split()[:2] == ["ann@example.gov", "viewer"]
    r = runner.invoke(main, ["user", "add", "ann@example.gov", "--password-stdin", "--db", db], input=PASSWORD + "\n")
    assert r.exit_code == 1 and "ann@example.gov is a user already" in r.output


def test_user_add__short_password__refused(tmp_path):
    r = CliRunner().invoke(main, ["user", "add", "a@example.gov", "--password-stdin", "--db", str(tmp_path / "m.db")],
                           input="short\n")
    assert r.exit_code == 1 and "error: a password needs at least 12 characters" in r.output


def test_user_add__asked_twice__must_match(tmp_path):
    r = CliRunner().invoke(main, ["user", "add", "a@example.gov", "--db", str(tmp_path / "m.db")],
                           input=f"{PASSWORD}\n{PASSWORD}\n")
    assert r.exit_code == 0 and "Added staff user a@example.gov." in r.output


def test_user_remove__ends_its_sessions(site, staff, tmp_path):
    url = site.store.url
    r = CliRunner().invoke(main, ["user", "remove", STAFF, "--db", url])
    assert (r.exit_code, r.output) == (0, f"Removed {STAFF}; its sessions are ended.\n")
    assert staff.get("/rounds").status_code == 303
    r = CliRunner().invoke(main, ["user", "remove", STAFF, "--db", url])
    assert r.exit_code == 1 and f"there is no user {STAFF}" in r.output


def test_serve__network_address_and_no_user__refused(tmp_path, monkeypatch):
    monkeypatch.setenv("MATRIXGEN_HOME", str(tmp_path))
    r = CliRunner().invoke(main, ["serve", "--host", "0.0.0.0", "--db", str(tmp_path / "m.db")])
    assert r.exit_code == 1
    assert "error: refusing to listen on 0.0.0.0 while no user exists" in r.output


def test_is_loopback__addresses():
    from matrixgen.cli.web import is_loopback

    assert [is_loopback(h) for h in ("127.0.0.1", "localhost", "::1", "127.0.0.2", "0.0.0.0", "10.1.2.3",
                                     "office.example")] == [True, True, True, True, False, False, False]


def test_store__opened_without_web_tables__gets_them_by_migration(tmp_path):
    store = Store.open(tmp_path / "x.db", tmp_path)
    assert Accounts(store.engine).count() == 0
    store.close()
