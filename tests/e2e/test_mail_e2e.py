"""E-mail in, end to end in the real server: an admin connects a mailbox of a real IMAP server (Debian's dovecot) on
the admin page; a customer's mail appears as a new ticket live in an agent's open ticket list (IDLE), and the
customer's reply by mail appears live on the agent's open ticket page — with its quoted history trimmed."""
from __future__ import annotations

import asyncio
import re
import uuid
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

import pytest
from playwright.async_api import expect

from tests.dovecot import Dovecot, dovecot_available

from .conftest import screenshot

pytestmark = pytest.mark.e2e


@pytest.fixture
def imap_server():
    if not dovecot_available():  # CI installs it (scripts/find-dovecot.sh): there this never skips
        pytest.skip('dovecot is not installed (scripts/find-dovecot.sh installs it)')
    server = Dovecot().start()
    yield server
    server.close()


def _mail(subject: str, body: str, **headers: str) -> bytes:
    message = EmailMessage()
    message['From'] = 'Carl Jensen <carl@acme.demo>'
    message['To'] = 'support@pulse.demo'
    message['Subject'] = subject
    message['Date'] = formatdate(localtime=False)
    message['Message-ID'] = make_msgid(domain='acme.demo')
    for name, value in headers.items():
        message[name] = value
    message.set_content(body)
    return message.as_bytes()


async def test_a_mail_becomes_a_ticket_live_and_its_reply_a_live_entry(e2e, imap_server) -> None:
    admin = await e2e.login('admin@pulse.demo')
    page = admin.page
    await page.goto(e2e.url + '/admin/mailboxes')
    await page.get_by_role('button', name='Connect a mailbox').click()
    await page.get_by_label('Name').fill('Support (e2e)')
    await page.get_by_label('IMAP server').fill(imap_server.host)
    await page.get_by_label('Port').fill(str(imap_server.port))
    await page.get_by_label('Security').click()
    await page.locator('.q-menu').get_by_role('option', name='None (trusted network only)').click()
    await page.get_by_label('User', exact=True).fill('helpdesk')
    await page.get_by_label('Password or access token').fill('secret')
    await page.locator('.q-dialog').get_by_role('button', name='Save').click()
    await expect(page.get_by_text('Mailbox saved')).to_be_visible(timeout=20_000)

    anna = await e2e.login('anna@pulse.demo')
    await anna.page.goto(e2e.url + '/tickets?sort=newest')  # a new ticket comes first (the list has more pages)
    tag = uuid.uuid4().hex[:6]
    subject = f'Scanner on floor 2 jams ({tag})'
    await asyncio.to_thread(imap_server.append, _mail(subject, 'Every second page jams since this morning.'))
    row = anna.page.get_by_text(subject)
    await expect(row).to_be_visible(timeout=30_000)  # live in the open list: nobody reloaded

    link = anna.page.locator('div.grid', has=row).locator('a[href^="/tickets/PL-"]').last  # the row's reference
    ref = (await link.inner_text()).strip()
    await link.click()
    await expect(anna.page).to_have_url(re.compile(f'/tickets/{ref}$'), timeout=20_000)
    description = anna.page.get_by_role('textbox', name='Description')
    await expect(description).to_have_value('Every second page jams since this morning.')
    reply = (f'It works again after a restart ({tag}).\n\nOn Mon, 1 Dec 2026 at 10:00, Pulse Live '
             f'<support@pulse.demo> wrote:\n> Please restart the scanner.\n> Anna')
    await asyncio.to_thread(imap_server.append, _mail(f'Re: [{ref}] {subject}', reply))
    await expect(anna.page.get_by_text(f'It works again after a restart ({tag}).')).to_be_visible(timeout=30_000)
    await expect(anna.page.get_by_text('Please restart the scanner.')).to_have_count(0)  # the quote trimmed
    await screenshot(anna.page, 'mail-reply-live.png')


async def test_a_logged_call_appears_live_for_a_colleague(e2e) -> None:
    # "Log a call" in real browsers: the agent fills the dialog, the colleague on the same ticket sees the entry
    from .conftest import reference
    ref = reference(3)  # open (4 is closed: a call on it is refused)
    anna = await e2e.login('anna@pulse.demo')
    ben = await e2e.login('ben@pulse.demo')
    await e2e.open_ticket(anna, ref)
    await e2e.open_ticket(ben, ref)
    note = f'Walked the customer through the printer reset ({uuid.uuid4().hex[:6]})'
    await anna.page.get_by_role('button', name='Log a call').click()
    await anna.page.get_by_text('Outbound (we called)').click()
    await anna.page.get_by_label('Duration').fill('7:45')
    await anna.page.get_by_label('Note (markdown)').fill(note)
    await anna.page.locator('.q-dialog').get_by_role('button', name='Log call').click()
    for page in (anna.page, ben.page):
        await expect(page.get_by_text(note)).to_be_visible(timeout=15_000)
        await expect(page.get_by_text('Outbound call').first).to_be_visible()
        await expect(page.get_by_text('7:45').first).to_be_visible()
    await screenshot(ben.page, 'call-logged-live.png', full_page=False)
