"""Fixtures of the unit tests: a real SMTP server (aiosmtpd on 127.0.0.1) that records what it receives."""
import email
import socket
from collections import Counter
from email import policy

import pytest
from aiosmtpd.controller import Controller

from pulse_live.config import reset_settings


class Sink:
    """Accepts every mail, unless told to refuse: all data (``refuse``, a temporary 451) or the recipients listed
    in ``refuse_rcpt`` (answered with their SMTP reply); the connection is cut on the mails whose Message-ID is in
    ``drop_ids`` (the client sees the connection lost, as in an outage)."""

    def __init__(self):
        self.messages: list[email.message.EmailMessage] = []
        self.refuse = False
        self.refuse_rcpt: dict[str, str] = {}
        self.drop_ids: set[str] = set()
        self.controller: Controller | None = None

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse_rcpt:
            return self.refuse_rcpt[address]
        envelope.rcpt_tos.append(address)
        return '250 OK'

    async def handle_DATA(self, server, session, envelope):
        if self.refuse:
            return '451 try again later'
        message = email.message_from_bytes(envelope.content, policy=policy.default)
        if message['Message-ID'] in self.drop_ids:
            server.transport.close()
            return '421 closing'
        self.messages.append(message)
        return '250 OK'

    def to(self, addr: str) -> list:
        return [m for m in self.messages if m['To'] == addr]

    def per_message_id(self) -> Counter:
        return Counter(m['Message-ID'] for m in self.messages)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp(monkeypatch) -> Sink:
    """The mail server the app sends to (``PULSE_SMTP_PORT``); the test may stop and restart ``smtp.controller``."""
    port = free_port()
    monkeypatch.setenv('PULSE_SMTP_PORT', str(port))
    monkeypatch.setenv('PULSE_MAIL_BATCH_WINDOW_S', '60')
    monkeypatch.setenv('PULSE_MAIL_RETRY_BASE_S', '1')
    reset_settings()
    sink = Sink()
    sink.controller = Controller(sink, hostname='127.0.0.1', port=port)
    sink.controller.start()
    yield sink
    try:
        sink.controller.stop()
    except Exception:  # the test stopped it already
        pass
