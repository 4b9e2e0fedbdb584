"""Two at once, on SQLite: `matrixgen score` on a folder in its own process while the web app
takes an upload into the same store, and two uploads from two members of staff together."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

from conftest import CROWD, KEY, RUBRIC, all_answers, upto

from matrixgen.simulate import fill
from matrixgen.store import Store

import pytest

pytest.importorskip("starlette", reason="the web app's tests need the [web] extra")
from starlette.testclient import TestClient  # noqa: E402
from webapp import HTML, PASSWORD, token  # noqa: E402

from matrixgen.web import create_app  # noqa: E402
from matrixgen.web.accounts import Accounts  # noqa: E402

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def site(tmp_path):
    store = Store.open(tmp_path / "matrixgen.db", tmp_path)
    store.open_round("2026", CROWD)
    Accounts(store.engine).add("a@example.gov", PASSWORD)
    Accounts(store.engine).add("b@example.gov", PASSWORD)
    return store, create_app(store, rubric=RUBRIC, key=KEY, data_dir=tmp_path)


def signed_in(app, who: str) -> TestClient:
    c = TestClient(app, headers=HTML, follow_redirects=False)
    c.post("/signin", data={"csrf": token(c, "/signin"), "email": who, "password": PASSWORD})
    return c


def upload(app, c: TestClient, files: list[tuple[str, bytes]]):
    r = c.post("/rounds/2026/upload", data={"csrf": token(c)}, files=[("files", (n, d, XLSX)) for n, d in files])
    assert r.status_code == 303, r.text
    return app.state.web.jobs.wait(int(r.headers["location"].rsplit("/", 1)[1]), timeout=120)


def test_two_at_once__cli_scoring_a_folder_while_the_server_takes_an_upload__nothing_lost(tmp_path, crowd):
    store, app = site(tmp_path)
    c = signed_in(app, "a@example.gov")
    folder = tmp_path / "inbox"
    folder.mkdir()
    by_cli, by_web = crowd[:7], crowd[7:]
    for i, data in enumerate(by_cli):
        (folder / f"{CROWD[i].id}.xlsx").write_bytes(fill(data, upto("emerging")))
    env = {**os.environ, "MATRIXGEN_SECRET": KEY.decode(), "MATRIXGEN_HOME": str(tmp_path / "cli")}
    cli = subprocess.Popen([sys.executable, "-m", "matrixgen", "score", str(folder), "--db", str(tmp_path / "matrixgen.db"),
                            "--round", "2026", "-s"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    job = upload(app, c, [(f"{CROWD[7 + i].id}.xlsx", fill(d, all_answers())) for i, d in enumerate(by_web)])
    out, err = cli.communicate(timeout=120)
    assert cli.returncode == 0, out + err
    assert job.state == "done" and job.result["counts"]["scored"] == 7
    stored = store.submissions("2026", current_only=True)
    assert sorted(s.partnership.partnership_id for s in stored) == sorted(p.id for p in CROWD[:14])
    assert all(s.status == "scored" for s in stored)
    store.close()


def test_two_at_once__two_staff_upload_together__both_stored(tmp_path, crowd):
    store, app = site(tmp_path)
    a, b = signed_in(app, "a@example.gov"), signed_in(app, "b@example.gov")
    jobs = {}

    def send(name, client, part):
        jobs[name] = upload(app, client, [(f"{CROWD[i].id}.xlsx", fill(crowd[i], all_answers())) for i in part])

    threads = [threading.Thread(target=send, args=("a", a, range(0, 7))),
               threading.Thread(target=send, args=("b", b, range(7, 14)))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert jobs["a"].state == jobs["b"].state == "done"
    assert {jobs["a"].started_by, jobs["b"].started_by} == {"a@example.gov", "b@example.gov"}
    assert len(store.submissions("2026", current_only=True)) == 14
    store.close()
