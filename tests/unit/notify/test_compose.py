"""Turning an outbox row into a mail (notify/compose.py): clean headers whatever the title, markdown rendered safely
with a clean plain part, threading headers."""
import sys
import unicodedata
from email.message import EmailMessage

import pytest
from sqlalchemy import select, update

from pulse_live import db
from pulse_live.models import MailOutbox, Notification, Ticket
from pulse_live.notify import compose, sender
from pulse_live.services import chatter, tickets, users
from tests.helpers import drain, make_due, outbox

pytestmark = pytest.mark.usefixtures('fresh_presence')  # nobody is online, nobody views


def test_clean_header_neutralises_every_character_the_email_package_would_refuse():
    breaking = [chr(c) for c in range(sys.maxunicode + 1) if not 0xD800 <= c <= 0xDFFF
                and (len(f'a{chr(c)}b'.splitlines()) > 1 or unicodedata.category(chr(c)) in ('Cc', 'Zl', 'Zp'))]
    assert {'\r', '\n', '\x0b', '\x0c', '\x1c', '\x85', '\x9b', '\u2028', '\u2029'} <= set(breaking)
    for ch in breaking:
        assert compose.clean_header(f'Printer{ch}down') == 'Printer down', repr(ch)
    message = EmailMessage()
    message['Subject'] = compose.clean_header('x'.join(breaking))  # one header with every one of them: accepted
    assert len(str(message['Subject']).splitlines()) == 1
    # ordinary text is kept: accents, emoji sequences (zero width joiner), right-to-left scripts
    kept = 'Drucker \u00e9t\u00e9 \U0001F469\u200D\U0001F4BB \u05e9\u05dc\u05d5\u05dd'
    assert compose.clean_header(kept) == kept


async def _store_title(ticket, title: str) -> None:
    """A title written before the services folded titles to one line (older data): the mail must still cope."""
    async with db.session() as s, s.begin():
        await s.execute(update(Ticket).where(Ticket.id == ticket.id).values(title=title))
    ticket.title = title


async def test_poison_titles_go_out_with_a_clean_subject(people, smtp):
    """U+2028, U+2029, NEL and C1 controls in a title once made composing raise, so no mail of the round was ever
    recorded (and all were sent again after each claim expiry)."""
    anna, carl = people.users['anna@pulse.demo'], people.users['carl@acme.demo']
    titles = {'Printer\u2028down': 'Printer down', 'VPN\u2029slow': 'VPN slow', 'Mail\x85bounces': 'Mail bounces',
              'Disk\x9b31mfull': 'Disk 31mfull', 'Normal ticket': 'Normal ticket'}
    created = [await tickets.create_ticket(actor=anna, title=title, customer_id=carl.id) for title in titles]
    for ticket, title in zip(created, titles, strict=True):  # as stored before titles were folded to one line
        await _store_title(ticket, title)
        await chatter.post_message(actor=anna, ticket_id=ticket.id, body=f'news on {ticket.reference}')
    for _ in range(3):  # a few rounds, each after the claims ran out
        await make_due()
        await sender.send_due()
    rows = await outbox()
    assert rows and all(r.status == 'sent' and r.attempts == 1 for r in rows)
    assert set(smtp.per_message_id().values()) == {1}
    subjects = {m['Subject'] for m in smtp.to('daniel@pulse.demo')}
    assert subjects == {f'[{t.reference}] {titles[t.title]}' for t in created}


async def test_header_injection_is_neutralised(people, smtp):
    anna = people.users['anna@pulse.demo']
    await users.update_card(actor=anna, display_name='Anna\r\nBcc: evil@example.org', handle='anna',
                            card_published=True)
    ticket = await tickets.create_ticket(actor=anna, title='Hello\r\nBcc: evil@example.org\nX-Evil: 1',
                                         customer_id=people.users['carl@acme.demo'].id)
    await chatter.post_message(actor=anna, ticket_id=ticket.id, body='x')
    await drain()
    assert smtp.messages
    for m in smtp.messages:
        assert m['Bcc'] is None and m['X-Evil'] is None
        assert '\n' not in m['Subject'] and '\r' not in m['Subject']


async def test_mail_renders_markdown_safely_with_a_clean_plain_part(people, smtp):
    anna, carl = people.users['anna@pulse.demo'], people.users['carl@acme.demo']
    ticket = await tickets.create_ticket(actor=anna, title='Mailbox full', customer_id=carl.id)
    async with db.session() as s, s.begin():
        await s.execute(MailOutbox.__table__.delete())
    await chatter.post_message(actor=anna, ticket_id=ticket.id, internal=False, body=(
        '**Fixed**: see <script>alert(1)</script> and [the guide](https://example.org/guide) '
        'or [this](javascript:alert(2))\n\n- archive old mail\n- empty *Deleted items*'))
    await drain()
    [mail] = smtp.to('carl@acme.demo')
    html = mail.get_body(('html',)).get_content()
    assert '<strong>Fixed</strong>' in html and '<em>Deleted items</em>' in html
    assert '<li>archive old mail</li>' in html and 'href="https://example.org/guide"' in html
    assert '<script>' not in html and '&lt;script&gt;' in html  # raw HTML is shown as text, never run
    assert 'href="javascript' not in html
    plain = mail.get_body(('plain',)).get_content().replace('\r\n', '\n')
    assert '**' not in plain and '*Deleted' not in plain
    assert 'Fixed: see <script>alert(1)</script> and the guide (https://example.org/guide)' in plain
    assert '  - archive old mail\n  - empty Deleted items' in plain
    async with db.session() as s:
        assert not (await s.execute(select(Notification).where(Notification.user_id == carl.id))).first()


def _build(**values):
    base = {'to_addr': 'carl@acme.demo', 'reference': 'PL-2026-000042', 'title': 'Printer on floor 3 is down',
            'ticket_id': 42, 'kind': 'update', 'message_id': '<m1@pulse-live>',
            'items': [{'text': 'Anna Keller replied', 'lead': 'Anna Keller replied', 'body': 'We are **on it**.'}]}
    return compose.build(**{**base, **values})


def test_every_mail_of_a_ticket_is_in_one_thread_and_other_tickets_in_theirs():
    first, second = _build(message_id='<m1@pulse-live>'), _build(message_id='<m2@pulse-live>')
    other = _build(ticket_id=43, reference='PL-2026-000043', message_id='<m3@pulse-live>')
    assert first['Message-ID'] == '<m1@pulse-live>' and second['Message-ID'] == '<m2@pulse-live>'
    thread = compose.ticket_thread_id(42)
    assert first['In-Reply-To'] == first['References'] == second['In-Reply-To'] == second['References'] == thread
    assert other['In-Reply-To'] == other['References'] == compose.ticket_thread_id(43) != thread
    assert first['X-Pulse-Ticket'] == 'PL-2026-000042' and first['Reply-To'] == first['From']


def test_a_mail_about_the_account_stands_alone():
    mail = compose.build(to_addr='carl@acme.demo', reference='', title='', ticket_id=None, kind='account', items=[],
                         message_id='<a1@pulse-live>', subject='Set your password',
                         text='Open https://desk.example/reset?t=abc\n\nThe link works once.')
    assert mail['In-Reply-To'] is None and mail['References'] is None and mail['X-Pulse-Ticket'] is None
    assert mail['Subject'] == 'Set your password' and mail['Message-ID'] == '<a1@pulse-live>'
    assert '<a href="https://desk.example/reset?t=abc">' in mail.get_body(('html',)).get_content()


def test_the_subject_names_the_ticket_a_mention_or_the_resolution():
    assert _build()['Subject'] == '[PL-2026-000042] Printer on floor 3 is down'
    mention = _build(items=[{'text': 'Anna mentioned you', 'lead': 'Anna Keller', 'body': '@carl look',
                             'why': ['mention'], 'by': 'Anna Keller'}])
    assert mention['Subject'] == '[PL-2026-000042] Anna Keller mentioned you: Printer on floor 3 is down'
    resolved = _build(kind='resolved', resolution='Toner replaced.')
    assert resolved['Subject'] == '[PL-2026-000042] Your request has been resolved: Printer on floor 3 is down'
    plain = resolved.get_body(('plain',)).get_content()
    assert 'Resolution:\nToner replaced.' in plain.replace('\r\n', '\n')


def test_no_value_can_add_a_header():
    evil = 'x\r\nBcc: evil@example.org\nX-Evil: 1'
    mail = _build(to_addr=f'carl@acme.demo{evil}', reference=f'PL-1{evil}', title=f'Hello{evil}',
                  message_id=f'<m1@pulse-live>{evil}')
    headers = mail.as_string().split('\n\n', 1)[0]  # the header block, up to the first empty line
    assert mail['Bcc'] is None and mail['X-Evil'] is None
    assert '\nBcc:' not in headers and '\nX-Evil:' not in headers
    flat = 'x Bcc: evil@example.org X-Evil: 1'  # the text is kept, on one line
    assert mail['Subject'] == f'[PL-1{flat}] Hello{flat}' and mail['X-Pulse-Ticket'] == f'PL-1{flat}'
    assert str(mail['To']).startswith('carl@acme.demox') and str(mail['Message-ID']).startswith('<m1@pulse-live>')
