"""`matrixgen collect` through the CLI: exact output and exit codes; a run killed mid-batch; --watch."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import CROWD, KEY, all_answers
from imapserver import append, imap_server, mailbox, message  # noqa: F401  (fixtures)
from mailserver import mail_server, tls_ca  # noqa: F401  (fixtures)
from matrixgen.cli import main
from matrixgen.simulate import fill

HEADER = "id,name,region,sector,contact_name,contact_email\n"
ROSTER = HEADER + "".join(f"{p.id},{p.name},{p.region},{p.sector},{p.contact_name},{p.contact_email}\n" for p in CROWD)


@pytest.fixture
def home(tmp_path, monkeypatch, imap_server, mail_server):
    smtp = mail_server()
    for name in list(os.environ):
        if name.startswith(("MATRIXGEN_SMTP_", "MATRIXGEN_MAIL_", "MATRIXGEN_IMAP_")) or name in ("MATRIXGEN_DB",):
            monkeypatch.delenv(name)
    env = {"MATRIXGEN_HOME": str(tmp_path / "data"), "MATRIXGEN_SECRET": KEY.decode(),
           "MATRIXGEN_MAIL_FROM": "Sector Team <sectors@example.org>", "MATRIXGEN_SMTP_HOST": "127.0.0.1",
           "MATRIXGEN_SMTP_PORT": str(smtp.port), "MATRIXGEN_SMTP_SECURITY": "none",
           "COLUMNS": "200", **imap_server.env("none")}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "roster.csv").write_text(ROSTER)
    assert CliRunner().invoke(main, ["round", "open", "2026", "--roster", "roster.csv"]).exit_code == 0
    return tmp_path, smtp, env


def returned(crowd, i: int, answers=None) -> bytes:
    return fill(crowd[i], answers or all_answers())


def test_cli_collect__a_round__table_totals_and_exit_0(home, mailbox, crowd):
    tmp_path, smtp, _ = home
    append(mailbox, [message(CROWD[0].contact_email, [("P-01_workbook.xlsx", returned(crowd, 0))]),
                     message(CROWD[1].contact_email, subject="When is it due?"),
                     message(CROWD[2].contact_email, headers={"Auto-Submitted": "auto-replied"})])
    result = CliRunner().invoke(main, ["collect"])
    assert result.exit_code == 0, result.output
    out = result.stdout.split("Wrote ")[0]
    assert out == (
        "message  from                   outcome  files                        receipt\n"
        "1        contact01@example.org  scored   P-01_workbook.xlsx (scored)  sent\n"
        "2        contact02@example.org  review   -                            sent\n"
        "3        contact03@example.org  ignored  -                            -\n"
        "\n"
        "3 messages: 1 scored, 1 review, 1 ignored; 2 receipt(s) sent; 3 moved to the done folder\n"
        "  2: an email from contact02@example.org with no workbook attached (subject 'When is it due?'); read it and "
        "answer the sender, then reject it with a note to take it off the queue\n"
        "  3: an automatic reply (Auto-Submitted: auto-replied): recorded, never answered\n")
    assert len(smtp.inbox.received) == 2
    review = CliRunner().invoke(main, ["review"])
    assert review.exit_code == 1 and "   they wrote: Please find our workbook attached.\n" in review.stdout
    again = CliRunner().invoke(main, ["collect"])
    assert (again.exit_code, again.stdout) == (0, "No new mail in imap://office@127.0.0.1:"
                                               f"{os.environ['MATRIXGEN_IMAP_PORT']}/INBOX.\n")


def test_cli_collect__dry_run__lists_and_changes_nothing(home, mailbox, crowd):
    tmp_path, smtp, _ = home
    append(mailbox, [message(CROWD[0].contact_email, [("P-01.xlsx", returned(crowd, 0))])])
    result = CliRunner().invoke(main, ["collect", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        "message  from                   outcome      files                    receipt\n"
        "-        contact01@example.org  would score  P-01.xlsx (would score)  -\n"
        "\n"
        "1 message: 1 would score\n"
        "Dry run: nothing was stored, answered or moved.\n")
    assert smtp.inbox.received == []


def test_cli_collect__bad_settings__every_problem_and_exit_1(home, monkeypatch):
    monkeypatch.delenv("MATRIXGEN_IMAP_PASSWORD")
    monkeypatch.setenv("MATRIXGEN_IMAP_SECURITY", "tls")
    result = CliRunner().invoke(main, ["collect"])
    assert result.exit_code == 1
    assert result.stderr == (
        "error: MATRIXGEN_IMAP_PASSWORD: MATRIXGEN_IMAP_PASSWORD is not set; set the mailbox's password in the "
        "environment (never in a file) [MG-MAIL-006]\n"
        "error: MATRIXGEN_IMAP_SECURITY: 'tls' is not a security mode; use ssl, starttls or none [MG-MAIL-002]\n"
        "Nothing was collected: fix the mailbox settings and run again.\n")


def test_cli_collect__wrong_password__refused_login_and_exit_1(home, monkeypatch):
    monkeypatch.setenv("MATRIXGEN_IMAP_PASSWORD", "not-it")
    result = CliRunner().invoke(main, ["collect", "--no-receipts"])
    assert result.exit_code == 1
    assert "[MG-MAIL-021]" in result.stderr and "not-it" not in result.output


def test_cli_collect__watch_with_from__usage_error(home, tmp_path):
    result = CliRunner().invoke(main, ["collect", "--watch", "--from", str(tmp_path)])
    assert result.exit_code == 2 and "--watch reads the mailbox" in result.output


# --- a real process: killed mid-batch, and --watch -----------------------------------------------------


def cli(env: dict, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "matrixgen", "collect", *args], env={**os.environ, **env},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def store_count(tmp_path: Path, sql: str) -> int:
    try:
        with sqlite3.connect(f"file:{tmp_path / 'data' / 'matrixgen.db'}?mode=ro", uri=True, timeout=5) as conn:
            return conn.execute(sql).fetchone()[0]
    except sqlite3.OperationalError:
        return 0


@pytest.mark.parametrize("kill_when", ["recorded", "answering"])
def test_cli_collect__killed_mid_batch_then_run_again__each_message_once_each_receipt_at_most_once(
        kill_when, home, mailbox, crowd):
    tmp_path, smtp, env = home
    n = 14
    files = [returned(crowd, i) for i in range(n)]
    append(mailbox, [message(p.contact_email, [(f"{p.id}.xlsx", files[i])], subject=f"return {i}")
                     for _ in range(3) for i, p in enumerate(CROWD[:n])])  # each partnership three times: 42 messages
    proc = cli(env, "-s")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if kill_when == "recorded" and store_count(tmp_path, "SELECT count(*) FROM mail_messages") > 0:
            break
        if kill_when == "answering" and smtp.inbox.received:
            break
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(30) == -signal.SIGKILL  # it was killed mid-run, not already done
    done = subprocess.run([sys.executable, "-m", "matrixgen", "collect", "-s"], env={**os.environ, **env},
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert store_count(tmp_path, "SELECT count(*) FROM mail_messages") == 3 * n
    assert store_count(tmp_path, "SELECT count(DISTINCT uid) FROM mail_messages") == 3 * n
    assert store_count(tmp_path, "SELECT count(*) FROM mail_messages WHERE state = 'processed'") == 3 * n
    assert store_count(tmp_path, "SELECT count(*) FROM submissions") == n  # the same file three times: stored once
    # At most one receipt a message: a receipt whose run died mid-send is not sent again.
    per_message = {}
    for r in smtp.inbox.received:
        per_message[r.message["In-Reply-To"]] = per_message.get(r.message["In-Reply-To"], 0) + 1
    assert max(per_message.values()) == 1
    unknown = store_count(tmp_path, "SELECT count(*) FROM sent_messages WHERE status = 'sending'")
    # A receipt recorded as still sending when the run died may or may not have gone out; every other one did.
    assert unknown <= 1 and 3 * n - unknown <= len(per_message) <= 3 * n
    mailbox.select_folder("INBOX")
    assert mailbox.search("ALL") == []


def test_cli_collect__watch__collects_what_arrives_and_ctrl_c_stops_cleanly(home, mailbox, crowd):
    tmp_path, smtp, env = home
    proc = cli(env, "--watch", "--poll", "30")
    try:
        time.sleep(3)  # it has started and waits in IDLE
        append(mailbox, [message(CROWD[0].contact_email, [("P-01.xlsx", returned(crowd, 0))])])
        deadline = time.monotonic() + 30
        while store_count(tmp_path, "SELECT count(*) FROM mail_messages WHERE moved_at != ''") < 1 \
                and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(1)  # it reports the run once the message is moved; Ctrl-C after that
        assert len(smtp.inbox.received) == 1
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert out.startswith("Watching imap://office@") and out.rstrip().endswith("Stopped.")
    assert "scored" in out
