"""A real dovecot for the intake tests (one per module), a fresh folder and mailbox per test, and small helpers."""
from __future__ import annotations

import asyncio
import imaplib
import itertools
import time
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

import pytest
from sqlalchemy import select

from pulse_live import db
from pulse_live.config import reset_settings
from pulse_live.models import ImportedMail, Mailbox, Ticket, TicketEvent
from pulse_live.services import mailboxes
from tests.dovecot import Dovecot, dovecot_available
from tests.factories import queue_ids

_folders = itertools.count(1)
OAUTH_TOKEN = 'ya29.a0-test-access-token'


@pytest.fixture(scope='module')
def imap_server():
    if not dovecot_available():
        pytest.skip('dovecot is not installed (scripts/find-dovecot.sh installs it)')
    # an OAuth2 account: dovecot checks the XOAUTH2 bearer token like a password (standing in for the provider)
    server = Dovecot(users={'helpdesk': 'secret', 'o365@acme.example': OAUTH_TOKEN}).start()
    yield server
    server.close()


@pytest.fixture(autouse=True)
async def _no_trimmer_left():
    """A test that trimmed a long body in the worker process (pulse_live/mail_trim.py) stops it with its loop."""
    yield
    from pulse_live import mail_trim
    await mail_trim.shutdown()


@pytest.fixture(autouse=True)
def _fast_intake(monkeypatch):
    monkeypatch.setenv('PULSE_MAIL_INTAKE_POLL_S', '5')
    monkeypatch.setenv('PULSE_MAIL_INTAKE_RECONNECT_MAX_S', '1')
    monkeypatch.setenv('PULSE_MAIL_INTAKE_CLAIM_S', '30')
    reset_settings()


class Box:
    """A test's mailbox: its own folder in the dovecot, its row in the database."""

    def __init__(self, server: Dovecot, folder: str, mailbox_id: int) -> None:
        self.server, self.folder, self.id = server, folder, mailbox_id

    async def deliver(self, *raws: bytes) -> None:
        await asyncio.to_thread(self.server.append_many, list(raws), folder=self.folder)

    async def import_now(self) -> None:
        """Connect to the IMAP server, import everything new once (what a watcher does on each wake-up)."""
        from pulse_live.intake.mail import catch_up
        from pulse_live.intake.mail.imap import settings_of
        from pulse_live.services.mailboxes import connect_mailbox
        async with db.session() as s:
            box = await s.get(Mailbox, self.id)
            conf, last = settings_of(box), box.last_uid
        connection, validity, _ = await connect_mailbox(conf)
        try:
            await catch_up(connection, self.id, validity, last)
        finally:
            await connection.close()


def new_folder(server: Dovecot, user: str = 'helpdesk') -> str:
    folder = f'T{int(time.time() * 1000) % 10**8}-{next(_folders)}'
    client = server.connect(user)
    try:
        client.create(folder)
    finally:
        client.logout()
    return folder


@pytest.fixture
async def box(people, imap_server) -> Box:
    folder = await asyncio.to_thread(new_folder, imap_server)
    queues = await queue_ids()
    row = await mailboxes.save_mailbox(actor=people.users['admin@pulse.demo'], name=f'Support {folder}',
                                       host=imap_server.host, port=imap_server.port, security='none',
                                       username='helpdesk', secret='secret', folder=folder,
                                       queue_id=queues['2nd level'])
    return Box(imap_server, folder, row.id)


def mail(*, sender: str = 'Carl Jensen <carl@acme.demo>', to: str = 'support@pulse.demo', subject: str = 'VPN down',
         body: str = 'The VPN drops every five minutes.', message_id: str | None = '', html: str | None = None,
         headers: dict[str, str] | None = None, attachments: list[tuple[str, str, bytes]] | None = None,
         charset: str = 'utf-8') -> bytes:
    """A mail as a client would send it. ``message_id`` '' makes one, None leaves it out."""
    message = EmailMessage()
    message['From'] = sender
    message['To'] = to
    message['Subject'] = subject
    message['Date'] = formatdate(localtime=False)
    if message_id is not None:
        message['Message-ID'] = message_id or make_msgid(domain='acme.demo')
    for name, value in (headers or {}).items():
        message[name] = value
    message.set_content(body, charset=charset)
    if html is not None:
        message.add_alternative(html, subtype='html')
    for name, ctype, data in attachments or []:
        maintype, subtype = ctype.split('/')
        message.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return message.as_bytes()


async def imported(mailbox_id: int) -> list[ImportedMail]:
    async with db.session() as s:
        return list((await s.execute(select(ImportedMail).where(ImportedMail.mailbox_id == mailbox_id)
                                     .order_by(ImportedMail.uid))).scalars())


async def email_tickets() -> list[Ticket]:
    async with db.session() as s:
        return list((await s.execute(select(Ticket).where(Ticket.channel == 'email').order_by(Ticket.id))).scalars())


async def entries(ticket_id: int, kind: str = 'message') -> list[TicketEvent]:
    async with db.session() as s:
        return list((await s.execute(select(TicketEvent).where(TicketEvent.ticket_id == ticket_id,
                                                               TicketEvent.kind == kind)
                                     .order_by(TicketEvent.id))).scalars())


async def until(check, timeout: float = 20.0, every: float = 0.1):
    """Wait (without asserting on time) until ``check()`` gives something true; its last answer otherwise."""
    end = time.monotonic() + timeout
    while True:
        result = await check()
        if result or time.monotonic() > end:
            return result
        await asyncio.sleep(every)


__all__ = ['Box', 'email_tickets', 'entries', 'imaplib', 'imported', 'mail', 'until']
