"""The web app's work: uploads scored through the batch, the review queue, dry run then confirm,
background jobs, downloads, partnership pages; on SQLite and PostgreSQL."""

from __future__ import annotations

import io
import json
import zipfile

import pytest
from conftest import ALPHA, BETA, all_answers, bad_file, upto
from mailserver import mail_server, tls_ca  # noqa: F401 (fixtures)
from webapp import STAFF, pg_site, post, site, staff, token, viewer  # noqa: F401 (fixtures)

from matrixgen.mail import SqlSendLog
from matrixgen.simulate import fill
from matrixgen.web.audit import entries
from matrixgen.web.jobs import INTERRUPTED, Jobs

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def upload(site, c, files: list[tuple[str, bytes]], label: str = "2026"):
    """Upload and wait for the job; returns (response, job)."""
    r = c.post(f"/rounds/{label}/upload", data={"csrf": token(c)},
               files=[("files", (name, data, XLSX)) for name, data in files])
    assert r.status_code == 303, r.text
    pk = int(r.headers["location"].rsplit("/", 1)[1])
    return r, site.web.jobs.wait(pk, timeout=120)


def returns(issued):
    incomplete = all_answers()
    incomplete.pop("EE-2")
    return [("NE-IT_return.xlsx", fill(issued["alpha"], upto("emerging"))),
            ("WC-AG_return.xlsx", fill(issued["beta"], {**incomplete, "EE-2": ("", "")}))]


# --- uploads -----------------------------------------------------------------------------------------------

def test_upload__two_returns__scored_with_each_problem_at_its_cell(site, staff, issued):
    _, job = upload(site, staff, returns(issued))
    assert (job.state, job.started_by, job.done, job.total) == ("done", STAFF, 2, 2)
    rows = {o["file"]: o for o in job.result["outcomes"]}
    assert rows["NE-IT_return.xlsx"]["status"] == "scored" and rows["NE-IT_return.xlsx"]["partnership_id"] == "NE-IT"
    incomplete = rows["WC-AG_return.xlsx"]
    assert incomplete["status"] == "incomplete"
    assert any(p["code"] == "MG-READ-021" and p["location"].startswith("Assessment!E") for p in incomplete["problems"])
    page = staff.get(f"/jobs/{job.pk}").text
    assert "NE-IT_return.xlsx" in page and "Assessment!E" in page and "MG-READ-021" in page
    assert {s.file_name for s in site.store.submissions("2026")} == {"NE-IT_return.xlsx", "WC-AG_return.xlsx"}
    assert [(e.user_email, e.action) for e in entries(site.store.engine)][0] == (STAFF, "upload returns")


@pytest.mark.parametrize("kind", ["zip_bomb", "billion_laughs", "encrypted", "pdf", "forged", "huge_sheet", "csv"])
def test_upload__hostile_file__rejected_as_score_rejects_it(site, staff, issued, kind):
    name, data, code = bad_file(kind, issued)
    _, job = upload(site, staff, [(name, data)])
    (row,) = job.result["outcomes"]
    assert row["status"] == "rejected" and code in {p["code"] for p in row["problems"]}


def test_upload__client_file_name__never_a_path(site, staff, issued):
    data = fill(issued["alpha"], all_answers())
    _, job = upload(site, staff, [("../../../etc/evil.xlsx", data), ("~$lock.xlsx", b"lock")])
    assert [o["file"] for o in job.result["outcomes"]] == ["evil.xlsx"]
    assert [p["code"] for p in job.result["skipped"]] == ["MG-READ-031"]  # a lock file, told by its sender's name
    assert not (site.home.parent / "etc").exists()
    assert not any((site.home / "uploads").iterdir())  # staged files are gone once scored


def test_upload__a_zip_of_returns__each_scored_and_hostile_entries_refused(site, staff, issued):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("returns/../NE-IT.xlsx", fill(issued["alpha"], all_answers()))
        z.writestr("WC-AG.xlsx", fill(issued["beta"], all_answers()))
        z.writestr("__MACOSX/._WC-AG.xlsx", b"resource fork")
        z.writestr("bomb.bin", bytes(20 * 1024 * 1024))  # 20 MB of zeros, ~20 KB compressed
    _, job = upload(site, staff, [("returns.zip", buffer.getvalue())])
    files = {o["file"]: o["status"] for o in job.result["outcomes"]}
    assert files == {"returns.zip/NE-IT.xlsx": "scored", "returns.zip/WC-AG.xlsx": "scored"}
    assert [p["code"] for p in job.result["refused"]] == ["MG-WEB-002"]
    assert [p["code"] for p in job.result["skipped"]] == ["MG-READ-032"]


def test_upload__over_the_size_limit__413_and_nothing_stored(site, staff, monkeypatch):
    from matrixgen.web import security

    monkeypatch.setattr(security, "UPLOAD_LIMIT", 1024 * 1024)
    r = staff.post("/rounds/2026/upload", data={"csrf": token(staff)},
                   files=[("files", ("big.xlsx", bytes(2 * 1024 * 1024), XLSX))])
    assert r.status_code == 413
    assert site.store.submissions() == [] and site.web.jobs.jobs() == []


def test_upload__no_file_chosen__400(staff):
    assert post(staff, "/rounds/2026/upload").status_code == 400


# --- the review queue ---------------------------------------------------------------------------------------

def review_item(site, staff, issued, name="Three Rivers Tech Talent Netwrk"):
    data = fill(issued["blank"], all_answers(), typed={"Partnership name": name})
    _, job = upload(site, staff, [("typed.xlsx", data)])
    assert job.result["outcomes"][0]["status"] == "review"
    (item,) = site.store.review_items("2026")
    return item


def test_review__accept_then_undo__current_then_waiting_again(site, staff, issued):
    item = review_item(site, staff, issued)
    assert item.suggested_partnership.partnership_id == "NE-IT"
    page = staff.get("/review").text
    assert "Accept as NE-IT" in page and item.reason_code in page
    r = post(staff, f"/review/{item.pk}/accept", {"back": "/review"}, page="/review")
    assert r.headers["location"] == "/review"
    decided = site.store.review_item(item.pk)
    assert (decided.state, decided.decided_by) == ("accepted", STAFF) and decided.submission.pk
    assert site.store.submissions("2026", current_only=True)[0].partnership.partnership_id == "NE-IT"
    post(staff, f"/review/{item.pk}/undo", page="/review?show=all")
    assert site.store.review_item(item.pk).waiting
    assert [d.action for d in site.store.decisions(item.pk)] == ["accept", "undo"]
    assert [e.action for e in entries(site.store.engine)][:2] == ["review undo", "review accept"]


def test_review__assign_to_another_partnership__its_current_submission(site, staff, issued):
    item = review_item(site, staff, issued, name="Somebody Else Entirely")
    post(staff, f"/review/{item.pk}/assign", {"partnership": "WC-AG", "round": "2026"}, page="/review")
    decided = site.store.review_item(item.pk)
    assert (decided.state, decided.decided_partnership.partnership_id) == ("assigned", "WC-AG")


def test_review__reject_needs_a_reason__then_recorded(site, staff, issued):
    item = review_item(site, staff, issued)
    r = post(staff, f"/review/{item.pk}/reject", {"reason": "  "}, page="/review")
    assert r.status_code == 303 and site.store.review_item(item.pk).waiting
    post(staff, f"/review/{item.pk}/reject", {"reason": "filled in by another partnership"}, page="/review")
    decided = site.store.review_item(item.pk)
    assert (decided.state, decided.decision_reason) == ("rejected", "filled in by another partnership")


def test_review__original_file__exact_bytes_for_staff_not_for_viewers(site, staff, viewer, issued):
    item = review_item(site, staff, issued)
    r = staff.get(f"/submissions/{item.submission.pk}/original")
    assert r.status_code == 200 and 'filename="typed.xlsx"' in r.headers["content-disposition"]
    assert r.content == open(item.submission.archive_path, "rb").read()
    assert viewer.get(f"/submissions/{item.submission.pk}/original").status_code == 403
    assert "Download the file as received" not in viewer.get("/review").text


# --- dry run, then confirm ------------------------------------------------------------------------------------

@pytest.fixture
def smtp(mail_server, monkeypatch, tmp_path):
    server = mail_server()
    for var, value in (("HOST", "127.0.0.1"), ("PORT", str(server.port)), ("SECURITY", "none")):
        monkeypatch.setenv(f"MATRIXGEN_SMTP_{var}", value)
    monkeypatch.setenv("MATRIXGEN_MAIL_FROM", "Sector Team <sectors@example.gov>")
    for var in ("USER", "PASSWORD", "CA_FILE", "THROTTLE"):
        monkeypatch.delenv(f"MATRIXGEN_SMTP_{var}", raising=False)
    monkeypatch.chdir(tmp_path)
    return server


def test_issue__dry_run_then_confirm__workbooks_written_by_a_job(site, staff):
    page = staff.get("/rounds/2026/issue").text
    assert "NE-IT" in page and "WC-AG" in page and "Issue 2 workbooks" in page
    assert site.store.issued("2026") == [] and not (site.home / "blank").exists()
    r = post(staff, "/rounds/2026/issue", page="/rounds/2026/issue")
    job = site.web.jobs.wait(int(r.headers["location"].rsplit("/", 1)[1]), timeout=60)
    assert (job.kind, job.state, job.result["written"], job.started_by) == ("issue", "done", 2, STAFF)
    assert {w.partnership_id for w in site.store.issued("2026")} == {"NE-IT", "WC-AG"}


def test_send_blanks__dry_run_shows_each_message__then_confirm_sends_them(site, staff, smtp):
    post(staff, "/rounds/2026/issue", page="/rounds/2026/issue")
    site.web.jobs.wait(site.web.jobs.jobs()[0].pk, timeout=60)
    page = staff.get("/rounds/2026/send/blanks").text
    assert ALPHA.contact_email in page and BETA.contact_email in page and "Send 2 messages" in page
    assert ".xlsx" in page and "will be sent" in page
    assert smtp.inbox.received == [] and SqlSendLog(site.store.engine).records("2026") == []  # nothing sent or recorded
    r = post(staff, "/rounds/2026/send/blanks", page="/rounds/2026/send/blanks")
    job = site.web.jobs.wait(int(r.headers["location"].rsplit("/", 1)[1]), timeout=60)
    assert job.result["counts"]["sent"] == 2
    assert sorted(m.rcpt_tos[0] for m in smtp.inbox.received) == [ALPHA.contact_email, BETA.contact_email]
    assert "already sent" in staff.get("/rounds/2026/send/blanks").text


def test_send__no_mail_settings__says_what_is_missing_and_sends_nothing(staff, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    for var in ("MATRIXGEN_SMTP_HOST", "MATRIXGEN_MAIL_FROM"):
        monkeypatch.delenv(var, raising=False)
    page = staff.get("/rounds/2026/send/reminders").text
    assert "MATRIXGEN_MAIL_FROM is not set" in page and "Send " not in page.split("<table")[0].split("</h1>")[1]
    assert post(staff, "/rounds/2026/send/reminders", page="/rounds/2026/send/reminders").status_code == 303


# --- jobs -------------------------------------------------------------------------------------------------------

def test_job__progress_in_the_store__shown_to_anyone_who_opens_it(site, staff, viewer, issued):
    _, job = upload(site, staff, returns(issued))
    data = viewer.get(f"/jobs/{job.pk}.json").json()
    assert data == {"state": "done", "done": 2, "total": 2, "percent": 100, "message": "scoring", "finished": True}
    assert STAFF in viewer.get("/jobs").text


def test_job__running_when_the_server_stopped__marked_interrupted(site):
    pk = site.web.jobs.start("upload", "2026", STAFF, 1, lambda progress: {})
    site.web.jobs.wait(pk)
    from sqlalchemy import update

    from matrixgen.store.schema import web_jobs
    with site.store.engine.begin() as conn:
        conn.execute(update(web_jobs).where(web_jobs.c.pk == pk).values(state="running"))
    assert Jobs(site.store.engine).recover() == 1
    assert site.web.jobs.job(pk).state == INTERRUPTED


def test_job__work_that_fails__failed_with_its_reason(site):
    def broken(progress):
        raise RuntimeError("the disk is full")

    job = site.web.jobs.wait(site.web.jobs.start("reports", "2026", STAFF, 1, broken))
    assert (job.state, job.message) == ("failed", "RuntimeError: the disk is full")


# --- rounds, downloads, partnerships ---------------------------------------------------------------------------

def test_open_round__from_an_uploaded_roster__opened_and_audited(site, staff):
    roster = b"id,name,contact_email\nP-1,First Partnership,a@example.org\nP-2,Second One,b@example.org\n"
    r = staff.post("/rounds/open", data={"csrf": token(staff), "label": "2027", "due": "March 31, 2028"},
                   files={"roster": ("roster.csv", roster, "text/csv")})
    assert r.headers["location"] == "/rounds/2027"
    assert [p.id for p in site.store.members("2027")] == ["P-1", "P-2"] and site.store.round("2027").due
    assert entries(site.store.engine)[0].action == "round opened"


def test_open_round__bad_roster__every_problem_by_line_and_nothing_opened(site, staff):
    roster = b"id,name\nP-1,\nbad id!,Name\n"
    r = staff.post("/rounds/open", data={"csrf": token(staff), "label": "2027"},
                   files={"roster": ("roster.csv", roster, "text/csv")})
    assert r.status_code == 400 and "roster.csv line 2" in r.text and "roster.csv line 3" in r.text
    assert site.store.round("2027") is None


def test_round_page__sorted_and_filtered(site, staff, issued):
    upload(site, staff, returns(issued))
    page = staff.get("/rounds/2026?status=incomplete").text
    assert "WC-AG" in page and "/partnerships/NE-IT" not in page and "1 of 2 shown" in page
    page = staff.get("/rounds/2026?sort=partnership_id&dir=desc").text
    assert page.index("/partnerships/WC-AG") < page.index("/partnerships/NE-IT")
    assert 'aria-sort="descending"' in page


def test_downloads__export_reports_zip_and_blank(site, staff, viewer, issued):
    upload(site, staff, returns(issued))
    r = viewer.get("/rounds/2026/export.xlsx")
    assert r.status_code == 200 and r.content[:2] == b"PK" and "round-2026.xlsx" in r.headers["content-disposition"]
    csv = viewer.get("/rounds/2026/export.csv").text
    assert csv.splitlines()[0].startswith("\ufeffpartnership_id,name") and len(csv.splitlines()) == 3  # Excel's BOM
    assert "MG-READ-021" in viewer.get("/rounds/2026/export.problems.csv").text
    assert viewer.get("/rounds/2026/reports.zip").status_code == 404  # nothing rendered yet
    r = post(staff, "/rounds/2026/reports", page="/rounds/2026/reports")
    job = site.web.jobs.wait(int(r.headers["location"].rsplit("/", 1)[1]), timeout=120)
    assert [f["ok"] for f in job.result["files"]] == [True, True, True]
    with zipfile.ZipFile(io.BytesIO(viewer.get("/rounds/2026/reports.zip").content)) as z:
        assert sorted(z.namelist()) == ["portfolio-2026.pdf", "report-2026-NE-IT.pdf", "report-2026-WC-AG.pdf"]
    blank = viewer.get("/rounds/2026/blank.xlsx")
    assert blank.status_code == 200 and blank.content[:2] == b"PK"
    assert viewer.get("/rounds/2026/blank.xlsx").content == blank.content  # made once, then the same file


def test_partnership__history_report_as_html_and_pdf(site, staff, issued):
    upload(site, staff, returns(issued))
    page = staff.get("/partnerships/NE-IT").text
    assert "<svg class=\"chart\"" in page and "NE-IT_return.xlsx" in page and "/original" in page
    r = staff.get("/partnerships/NE-IT/rounds/2026/report")
    assert r.status_code == 200 and "Where you stand" in r.text and "Three Rivers Tech Talent Network" in r.text
    assert "style-src-attr 'unsafe-inline'" in r.headers["content-security-policy"]
    assert "script-src" not in r.headers["content-security-policy"]  # scripts stay 'self' only
    pdf = staff.get("/partnerships/NE-IT/rounds/2026/report.pdf")
    assert pdf.status_code == 200 and pdf.content[:5] == b"%PDF-"
    assert staff.get("/partnerships/NE-IT/rounds/2025/report").status_code == 404


def test_report_html__what_a_respondent_typed__escaped(site, staff, issued):
    evil = '<script>alert(1)</script><img src=x onerror=alert(2)>'
    upload(site, staff, [("evil.xlsx", fill(issued["alpha"], all_answers(evidence=evil)))])
    for path in ("/partnerships/NE-IT/rounds/2026/report", "/partnerships/NE-IT"):
        text = staff.get(path).text
        assert "<script>alert" not in text and "<img src=x" not in text


# --- PostgreSQL ------------------------------------------------------------------------------------------------

def test_postgresql__sign_in_upload_and_decide(pg_site, issued):
    from webapp import STAFF as who

    c = pg_site.client(who)
    _, job = upload(pg_site, c, returns(issued))
    assert {o["status"] for o in job.result["outcomes"]} == {"scored", "incomplete"}
    item = review_item(pg_site, c, issued)
    post(c, f"/review/{item.pk}/accept", page="/review")
    assert pg_site.store.review_item(item.pk).state == "accepted"
    assert c.get("/rounds/2026").status_code == 200
    assert json.loads(json.dumps(job.result))["counts"]["scored"] == 1
