"""CI must not hide what it skips: services that cannot start fail under CI=true, with their log."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from conftest import need_service

ROOT = Path(__file__).resolve().parent.parent
POSTGRES = ROOT / ".ci" / "services" / "postgres.sh"


def test_need_service__variable_set__returns_it(monkeypatch):
    monkeypatch.setenv("MATRIXGEN_TEST_X_URL", "x://here")
    assert need_service("X", "MATRIXGEN_TEST_X_URL") == "x://here"


def test_need_service__missing_outside_ci__skips_saying_why(monkeypatch):
    monkeypatch.delenv("MATRIXGEN_TEST_X_URL", raising=False)
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="MATRIXGEN_TEST_X_URL is not set"):
        need_service("X", "MATRIXGEN_TEST_X_URL")


def test_need_service__missing_under_ci__fails(monkeypatch):
    monkeypatch.delenv("MATRIXGEN_TEST_X_URL", raising=False)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true and no X server"):
        need_service("X", "MATRIXGEN_TEST_X_URL")


def _start(**env: str) -> subprocess.CompletedProcess:
    # Where .ci/run makes it (pytest's own temporary folders are closed to the postgres user).
    folder = tempfile.mkdtemp(prefix="matrixgen-test-postgres.")
    try:
        return subprocess.run(["bash", str(POSTGRES), "start", folder], capture_output=True, text=True,
                              env={**os.environ, **env}, timeout=120)
    finally:
        subprocess.run(["bash", str(POSTGRES), "stop", folder], capture_output=True, env={**os.environ, **env})
        shutil.rmtree(folder, ignore_errors=True)


def test_postgres_service__no_binaries__fails_saying_where_it_looked():
    done = _start(MATRIXGEN_CI_PG_BIN="/nonexistent/bin")
    assert done.returncode == 1 and done.stdout == ""
    assert "no initdb and pg_ctl in /nonexistent/bin" in done.stderr


def _installed_bin() -> str:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if not found or (os.geteuid() == 0 and shutil.which("su") is None):
        pytest.skip("PostgreSQL is not installed here (.ci/run installs it)")
    return str(found[-1].parent)


def test_postgres_service__port_taken__fails_with_the_server_log():
    bin_dir = _installed_bin()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = _start(MATRIXGEN_CI_PG_BIN=bin_dir, MATRIXGEN_CI_PG_PORT=str(port))
    assert done.returncode == 1 and done.stdout == ""
    assert f"the server did not start on port {port}" in done.stderr
    assert "server.log" in done.stderr and "could not bind" in done.stderr  # the server's own words


def test_dovecot_service__no_binary__fails_saying_where_it_looked():
    folder = tempfile.mkdtemp(prefix="matrixgen-test-dovecot.")
    try:
        done = subprocess.run(["bash", str(ROOT / ".ci" / "services" / "dovecot.sh"), "start", folder],
                              capture_output=True, text=True, timeout=60,
                              env={**os.environ, "MATRIXGEN_CI_DOVECOT_BIN": "/nonexistent/dovecot"})
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    assert done.returncode == 1 and done.stdout == ""
    assert "no dovecot binary at /nonexistent/dovecot" in done.stderr


def test_ci_run__service_cannot_start_under_ci__fails_with_its_log_before_testing(tmp_path):
    ready = shutil.which("make") and subprocess.run(
        ["python3", "-c", "import sys, ensurepip, venv; assert sys.version_info >= (3, 11)"],
        capture_output=True).returncode == 0
    if not ready or sys.platform != "linux":
        pytest.skip(".ci/run would install make or python3 from Debian first")
    done = subprocess.run([str(ROOT / ".ci" / "run")], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "CI": "true", "MATRIXGEN_CI_PG_BIN": "/nonexistent/bin",
                               "MATRIXGEN_CI_SERVICES": "postgres", "TMPDIR": str(tmp_path)})
    assert done.returncode == 1
    assert "CI=true and the postgres service could not start" in done.stderr
    assert "no initdb and pg_ctl in /nonexistent/bin" in done.stderr
    assert "test session starts" not in done.stdout + done.stderr  # stopped before the tests
    assert list(tmp_path.iterdir()) == []  # its private folders removed
