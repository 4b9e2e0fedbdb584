"""Ctrl-C for real: each long command run as a process, sent SIGINT mid-run the way a terminal
sends it (to the whole process group, worker processes included), then run again."""

from __future__ import annotations

import os
import re
import shutil
import signal
import sqlite3
import struct
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import pytest
from click.testing import CliRunner

from conftest import KEY, all_answers
from mailserver import mail_server, tls_ca  # noqa: F401 (fixtures)
from matrixgen import interrupt
from matrixgen.cli import main
from matrixgen.simulate import fill
from matrixgen.store import Store

LEFT_BEHIND = re.compile(r"\.(part|tmp)$")


@pytest.fixture
def home(tmp_path, monkeypatch):
    """The environment of the commands run here, in-process and as processes."""
    monkeypatch.setenv("MATRIXGEN_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("MATRIXGEN_SECRET", KEY.decode())
    monkeypatch.delenv("MATRIXGEN_DB", raising=False)
    monkeypatch.delenv("COLUMNS", raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run(*args: str):
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == 0, result.output
    return result


def interrupted_when(ready: Callable[[], bool], *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """``matrixgen ARGS`` as a process, sent SIGINT as soon as ``ready()`` (the run is under way)."""
    process = subprocess.Popen([sys.executable, "-m", "matrixgen", *args], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.monotonic() + timeout
    while process.poll() is None and not ready() and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        os.killpg(process.pid, signal.SIGINT)  # a terminal's Ctrl-C: every process of the command
    except ProcessLookupError:
        pass  # it ended first: the exit code below says so
    out, err = process.communicate(timeout=timeout)
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


def stopped_cleanly(done: subprocess.CompletedProcess) -> str:
    """Exit 130, one line saying what was finished, nothing else from Python or click."""
    assert done.returncode == 130, (done.returncode, done.stdout, done.stderr)
    for noise in ("Traceback", "KeyboardInterrupt", "Aborted!"):
        assert noise not in done.stderr + done.stdout
    [line] = [line for line in done.stderr.splitlines() if line.startswith("Interrupted")]
    return line


def left_behind(*folders: Path) -> list[Path]:
    return [p for folder in folders if folder.exists() for p in folder.rglob("*") if LEFT_BEHIND.search(p.name)]


def count(folder: Path, pattern: str) -> int:
    return len(list(folder.glob(pattern))) if folder.exists() else 0


# --- the building blocks -----------------------------------------------------------------------------------


def test_held__ctrl_c_inside__raised_once_the_block_has_finished():
    steps = []
    with pytest.raises(KeyboardInterrupt):
        with interrupt.held():
            os.kill(os.getpid(), signal.SIGINT)
            steps.append("finished")
    assert steps == ["finished"] and signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_deferred__first_ctrl_c__waits_for_the_checkpoint_second_stops_at_once():
    with interrupt.deferred() as held:
        held.checkpoint()
        os.kill(os.getpid(), signal.SIGINT)
        with pytest.raises(KeyboardInterrupt):
            held.checkpoint()
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(1)  # not reached: the second Ctrl-C ends the sleep


def test_starting_workers__a_new_interpreter__ignores_ctrl_c_from_its_first_instruction():
    with interrupt.starting_workers():
        child = subprocess.run([sys.executable, "-c", "import signal; print(signal.getsignal(signal.SIGINT) is signal.SIG_IGN)"],
                               capture_output=True, text=True)
    assert child.stdout.strip() == "True"
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


# --- score --------------------------------------------------------------------------------------------------


def distinct_copies(data: bytes, n: int, folder: Path) -> None:
    """``n`` files of one filled workbook, each with its own bytes (a different zip comment)."""
    folder.mkdir()
    assert data[-22:-18] == b"PK\x05\x06" and data[-2:] == b"\x00\x00"  # an end record without a comment
    for i in range(n):
        comment = f"copy {i}".encode()
        (folder / f"return-{i:04d}.xlsx").write_bytes(data[:-2] + struct.pack("<H", len(comment)) + comment)


def stored(db: Path) -> int:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=0.1) as conn:
            return conn.execute("SELECT count(*) FROM submissions").fetchone()[0]
    except sqlite3.Error:
        return 0


def test_interrupt__score_mid_run__one_line_exit_130_store_consistent_rerun_completes(home, issued):
    n = 1500
    distinct_copies(fill(issued["alpha"], all_answers()), n, home / "inbox")
    db = home / "data" / "matrixgen.db"
    done = interrupted_when(lambda: stored(db) > 0, "score", "inbox", "--out", "scores", "-s")
    line = stopped_cleanly(done)
    found = re.fullmatch(r"Interrupted: (\d+) of 1500 files scored into the store, (\d+) not, and no summary written; "
                         r"run the same command again to score the rest", line)
    assert found, line
    assert int(found[1]) == stored(db) and int(found[1]) + int(found[2]) == n  # what it says is what is stored
    assert not (home / "scores").exists() and left_behind(home / "data", home / "scores") == []

    again = subprocess.run([sys.executable, "-m", "matrixgen", "score", "inbox", "--out", "scores", "-s"],
                           capture_output=True, text=True)
    # Exit 1: one partnership's many files in a batch wait in review together; every file is stored.
    assert again.returncode == 1 and "Traceback" not in again.stderr, again.stderr
    assert stored(db) == n and len(list((home / "scores").glob("*/summary.csv"))) == 1


# --- report -------------------------------------------------------------------------------------------------


def test_interrupt__report_mid_run__workers_quiet_no_partial_pdf_rerun_completes(home, demo_run):
    db = home / "copy.db"
    shutil.copyfile(demo_run.store_path, db)
    pdfs = home / "reports" / "2026"
    done = interrupted_when(lambda: count(pdfs, "*.pdf") > 0, "report", "--db", str(db), "--round", "2026",
                            "--out", "reports", "-s")
    line = stopped_cleanly(done)
    found = re.fullmatch(r"Interrupted: (\d+) of (\d+) reports written to reports/2026, (\d+) not; "
                         r"run the same command again to write them all", line)
    assert found, line
    total = int(found[2])
    assert int(found[1]) == count(pdfs, "*.pdf") < total and left_behind(home / "reports") == []

    again = subprocess.run([sys.executable, "-m", "matrixgen", "report", "--db", str(db), "--round", "2026",
                            "--out", "reports", "-s"], capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    assert count(pdfs, "*.pdf") == total


# --- generate -----------------------------------------------------------------------------------------------


def test_interrupt__generate_mid_run__whole_workbooks_none_recorded_rerun_records_all(home):
    n = 2500
    rows = "".join(f"P{i:04d},Partnership {i},Region,Sector,Contact,p{i}@example.org\n" for i in range(n))
    (home / "roster.csv").write_text("id,name,region,sector,contact_name,contact_email\n" + rows)
    run("round", "open", "2026", "--roster", "roster.csv")
    out = home / "wb"
    done = interrupted_when(lambda: count(out, "*.xlsx") > 0, "generate", "--round", "2026", "--out", "wb", "-s")
    line = stopped_cleanly(done)
    found = re.fullmatch(r"Interrupted: (\d+) of 2500 workbooks written to wb/, (\d+) not, and none recorded in "
                         r"the store; run the same command again to write and record them all", line)
    assert found, line
    assert int(found[1]) == count(out, "*.xlsx") < n and left_behind(out) == []
    assert Store.open(home / "data" / "matrixgen.db").issued("2026") == []

    again = subprocess.run([sys.executable, "-m", "matrixgen", "generate", "--round", "2026", "--out", "wb", "-s"],
                           capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    assert count(out, "*.xlsx") == n and len(Store.open(home / "data" / "matrixgen.db").issued("2026")) == n


# --- send ---------------------------------------------------------------------------------------------------


def test_interrupt__send_mid_run__each_message_sent_and_recorded_or_not_begun(home, mail_server, monkeypatch):
    server = mail_server()
    for name, value in {"HOST": "127.0.0.1", "PORT": str(server.port), "SECURITY": "none", "THROTTLE": "300"}.items():
        monkeypatch.setenv(f"MATRIXGEN_SMTP_{name}", value)  # 300 a minute: the run lasts a few seconds
    monkeypatch.setenv("MATRIXGEN_MAIL_FROM", "Sector Team <sectors@example.gov>")
    n = 20
    rows = "".join(f"P{i:02d},Partnership {i},Region,Sector,Contact,p{i}@example.org\n" for i in range(n))
    (home / "roster.csv").write_text("id,name,region,sector,contact_name,contact_email\n" + rows)
    run("round", "open", "2026", "--roster", "roster.csv")
    run("generate", "--round", "2026", "--out", "wb", "-s")
    done = interrupted_when(lambda: len(server.inbox.received) >= 2, "send", "blanks", "--round", "2026", "-s")
    line = stopped_cleanly(done)
    found = re.fullmatch(r"Interrupted: (\d+) of 20 messages sent \(or sent before\), (\d+) not attempted; "
                         r"run the same command again to send the rest", line)
    assert found, line
    sent = len(server.inbox.received)
    assert int(found[1]) == sent < n and int(found[2]) == n - sent
    from matrixgen.mail import SqlSendLog

    records = SqlSendLog(Store.open(home / "data" / "matrixgen.db").engine).records("2026")
    assert sorted(r.status for r in records) == ["sent"] * sent  # none left "sending": nothing to check by hand

    again = subprocess.run([sys.executable, "-m", "matrixgen", "send", "blanks", "--round", "2026", "-s"],
                           capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    recipients = [r.rcpt_tos[0] for r in server.inbox.received]
    assert sorted(recipients) == sorted(f"p{i}@example.org" for i in range(n))  # each exactly once
