"""A real SMTP server on localhost (aiosmtpd) for the send tests.

Test modules import the fixtures by name: ``from mailserver import mail_server, tls_ca``.
"""

from __future__ import annotations

import socket
import ssl
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy

import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

SMTP_USER = "office"
SMTP_PASSWORD = "pa55-Wörd-that-must-not-leak"


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    peer: tuple

    @property
    def message(self) -> EmailMessage:
        return message_from_bytes(self.data, policy=default_policy)


@dataclass
class Inbox:
    """The server's side: what arrived, and which recipients or senders it refuses (changeable
    while it runs, as a real server's configuration is)."""

    received: list[Received] = field(default_factory=list)
    refuse_rcpt: set[str] = field(default_factory=set)
    refuse_sender: set[str] = field(default_factory=set)
    logins: list[bytes] = field(default_factory=list)
    password: str = SMTP_PASSWORD

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        if address in self.refuse_sender:
            return "553 5.7.1 Sender address rejected: not owned by user"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse_rcpt:
            return "550 5.1.1 Recipient address rejected: mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content,
                                      session.peer))
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[EmailMessage]:
        return [r.message for r in self.received if address in r.rcpt_tos]


def _authenticator(inbox: Inbox):
    def check(server, session, envelope, mechanism, auth_data):
        if isinstance(auth_data, LoginPassword):
            inbox.logins.append(auth_data.login)
            ok = auth_data.login == SMTP_USER.encode() and auth_data.password == inbox.password.encode()
            # handled=False: aiosmtpd then answers 535 itself (its default is to answer nothing).
            return AuthResult(success=ok, handled=False)
        return AuthResult(success=False, handled=False)
    return check


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class MailServer:
    inbox: Inbox
    port: int
    ca_file: str = ""


@pytest.fixture(scope="session")
def tls_ca(tmp_path_factory):
    """A certificate authority of the test's own, and the server certificate it signs for 127.0.0.1."""
    ca = trustme.CA()
    folder = tmp_path_factory.mktemp("ca")
    ca_file = folder / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(server_ctx)
    return ca_file, server_ctx


@pytest.fixture
def mail_server(tls_ca):
    """Start servers on demand: ``mail_server()`` plain, ``mail_server("starttls")`` with STARTTLS
    required and a login, ``mail_server("ssl")`` with implicit TLS and a login; other keyword
    arguments go to aiosmtpd's SMTP class."""
    controllers: list[Controller] = []

    def start(mode: str = "none", **options) -> MailServer:
        inbox = Inbox()
        port = free_port()
        ca_file, server_ctx = tls_ca
        kwargs: dict = {}
        if mode == "starttls":
            kwargs = dict(tls_context=server_ctx, require_starttls=True, authenticator=_authenticator(inbox),
                          auth_required=True)
        elif mode == "ssl":
            kwargs = dict(ssl_context=server_ctx, authenticator=_authenticator(inbox), auth_required=True,
                          auth_require_tls=False)
        controller = Controller(inbox, hostname="127.0.0.1", port=port, **{**kwargs, **options})
        controller.start()
        controllers.append(controller)
        return MailServer(inbox, port, str(ca_file))

    yield start
    for c in controllers:
        c.stop()
