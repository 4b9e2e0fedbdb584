"""A real Dovecot IMAP server for the collect tests, and messages to put in it.

``.ci/run`` starts one (``.ci/services/dovecot.sh``) and exports its address. Without it, the tests
start their own with the same script when Dovecot is installed, and otherwise skip (under CI=true,
fail). Test modules import the fixtures by name: ``from imapserver import imap_server, mailbox``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from conftest import need_service

SCRIPT = Path(__file__).resolve().parent.parent / ".ci" / "services" / "dovecot.sh"
XLSX = ("application", "vnd.openxmlformats-officedocument.spreadsheetml.sheet")


@dataclass(frozen=True)
class ImapServer:
    host: str
    port: int
    ssl_port: int
    user: str
    password: str
    ca_file: str

    def env(self, security: str = "none", **extra: str) -> dict[str, str]:
        """The MATRIXGEN_IMAP_* settings for this server."""
        port = self.ssl_port if security == "ssl" else self.port
        return {"MATRIXGEN_IMAP_HOST": self.host, "MATRIXGEN_IMAP_PORT": str(port), "MATRIXGEN_IMAP_SECURITY": security,
                "MATRIXGEN_IMAP_USER": self.user, "MATRIXGEN_IMAP_PASSWORD": self.password,
                "MATRIXGEN_IMAP_CA_FILE": self.ca_file, **extra}

    def client(self):
        from imapclient import IMAPClient

        c = IMAPClient(self.host, self.port, ssl=False, timeout=30)
        c.login(self.user, self.password)
        return c


def _server(values: dict[str, str]) -> ImapServer:
    plain, tls = urlsplit(values["MATRIXGEN_TEST_IMAP_URL"]), urlsplit(values["MATRIXGEN_TEST_IMAPS_URL"])
    return ImapServer(plain.hostname, plain.port, tls.port, plain.username, plain.password,
                      values["MATRIXGEN_TEST_IMAP_CA_FILE"])


def start_own(**env: str) -> tuple[ImapServer | None, object]:
    """A server of this test session's own, by the CI script: (server, stop), or (None, why not).

    Its folder is made directly in the system's temporary folder, as .ci/run does: run as root, the
    server drops to the `dovecot` user, who cannot pass through pytest's private tmp_path folders."""
    folder = Path(tempfile.mkdtemp(prefix="matrixgen-test-dovecot-"))
    run_env = {**os.environ, "MATRIXGEN_CI_DOVECOT_NO_INSTALL": "1", **env}
    done = subprocess.run(["bash", str(SCRIPT), "start", str(folder)], capture_output=True, text=True, env=run_env,
                          timeout=120)
    if done.returncode != 0:
        subprocess.run(["bash", str(SCRIPT), "stop", str(folder)], capture_output=True, timeout=60)
        shutil.rmtree(folder, ignore_errors=True)
        return None, done.stderr.strip()
    values = dict(line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)

    def stop() -> None:
        subprocess.run(["bash", str(SCRIPT), "stop", str(folder)], capture_output=True, timeout=60)
        shutil.rmtree(folder, ignore_errors=True)

    return _server(values), stop


@pytest.fixture(scope="session")
def imap_server(tmp_path_factory):
    if os.environ.get("MATRIXGEN_TEST_IMAP_URL"):
        yield _server(os.environ)
        return
    server, stop = start_own()
    if server is None:
        need_service("Dovecot IMAP", "MATRIXGEN_TEST_IMAP_URL")  # skips, saying why (fails under CI)
    yield server
    stop()


@pytest.fixture
def mailbox(imap_server):
    """The test user's mailbox, emptied: INBOX only, no messages. Yields an IMAPClient."""
    c = imap_server.client()
    for flags, _, name in sorted(c.list_folders(), key=lambda f: -len(f[2])):
        if name.upper() != "INBOX" and b"\\Noselect" not in flags:  # a \Noselect parent goes with its last child
            c.delete_folder(name)
    c.select_folder("INBOX")
    uids = c.search("ALL")
    if uids:
        c.delete_messages(uids)
        c.expunge()
    yield c
    c.logout()


def message(sender: str, attachments: list[tuple[str, bytes]] = (), *, subject: str = "Our workbook",
            text: str = "Please find our workbook attached.", to: str = "sectors@example.org",
            headers: dict[str, str] | None = None, when: datetime | None = None) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = format_datetime(when or datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc))
    msg["Message-ID"] = make_msgid(domain="example.org")
    for name, value in (headers or {}).items():
        msg[name] = value
    msg.set_content(text)
    for name, data in attachments:
        msg.add_attachment(data, maintype=XLSX[0], subtype=XLSX[1], filename=name)
    return msg


def append(client, messages, folder: str = "INBOX") -> None:
    for m in messages:
        raw = m if isinstance(m, bytes) else m.as_bytes()
        client.append(folder, raw)
