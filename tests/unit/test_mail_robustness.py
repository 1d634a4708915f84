"""The mail outbox keeps going when one mail is bad: poison titles, mails that cannot be composed, refused
recipients, an online user's backlog of unread notifications, "Retry now" on a mail being sent.

Against a real SMTP server (aiosmtpd on 127.0.0.1), on SQLite and PostgreSQL like tests/unit/test_notifications.py."""
import re
import sys
import unicodedata
from collections import Counter
from datetime import timedelta
from email.message import EmailMessage

import pytest
from sqlalchemy import insert, select, update

from pulse_live import db, presence
from pulse_live.config import reset_settings
from pulse_live.errors import ValidationError
from pulse_live.models import MailOutbox, Notification, utcnow
from pulse_live.notify import compose, missed, sender
from pulse_live.services import chatter, notifications, tickets
from tests.helpers import drain, make_due, outbox

pytestmark = pytest.mark.usefixtures('fresh_presence')  # nobody is online, nobody views


async def _rows(specs: list[tuple[str, int | None]]) -> list[MailOutbox]:
    """Outbox rows due now, one per (recipient, ticket id), each with its own Message-ID."""
    now = utcnow()
    async with db.session() as s, s.begin():
        await s.execute(MailOutbox.__table__.delete())
        for i, (to_addr, ticket_id) in enumerate(specs):
            s.add(MailOutbox(to_addr=to_addr, ticket_id=ticket_id, subject='PL-TEST', body_text='',
                             message_id=f'<robust-{i}@pulse-live>', kind='update', items=[{'text': f'item {i}'}],
                             created_at=now, next_attempt_at=now))
    return await outbox()


# --- header values --------------------------------------------------------------------------------------------------

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


async def test_poison_titles_go_out_with_a_clean_subject(people, smtp):
    """U+2028, U+2029, NEL and C1 controls in a title once made composing raise, so no mail of the round was ever
    recorded (and all were sent again after each claim expiry)."""
    anna, carl = people.users['anna@pulse.demo'], people.users['carl@acme.demo']
    titles = {'Printer\u2028down': 'Printer down', 'VPN\u2029slow': 'VPN slow', 'Mail\x85bounces': 'Mail bounces',
              'Disk\x9b31mfull': 'Disk 31mfull', 'Normal ticket': 'Normal ticket'}
    created = [await tickets.create_ticket(actor=anna, title=title, customer_id=carl.id) for title in titles]
    for ticket in created:
        await chatter.post_message(actor=anna, ticket_id=ticket.id, body=f'news on {ticket.reference}')
    for _ in range(3):  # a few rounds, each after the claims ran out
        await make_due()
        await sender.send_due()
    rows = await outbox()
    assert rows and all(r.status == 'sent' and r.attempts == 1 for r in rows)
    assert set(smtp.per_message_id().values()) == {1}
    subjects = {m['Subject'] for m in smtp.to('daniel@pulse.demo')}
    assert subjects == {f'[{t.reference}] {titles[t.title]}' for t in created}


async def test_a_mail_that_cannot_be_composed_dies_alone_and_the_others_go_out_once(people, smtp, monkeypatch):
    """Whatever makes composing fail (here: yesterday's header cleaning, which let U+2028 through): that mail is
    dead with the reason, the other mails of the round are sent and recorded, and never sent twice."""
    monkeypatch.setattr(compose, 'clean_header', lambda value, limit=200: re.sub(r'[\x00-\x1f\x7f]+', ' ',
                                                                                  value or '').strip()[:limit])
    anna, carl = people.users['anna@pulse.demo'], people.users['carl@acme.demo']
    good = await tickets.create_ticket(actor=anna, title='Normal ticket', customer_id=carl.id)
    bad = await tickets.create_ticket(actor=anna, title='Printer\u2028down', customer_id=carl.id)
    rows = await _rows([(f'u{i}@example.org', bad.id if i == 3 else good.id) for i in range(8)])
    poison = rows[3]
    for _ in range(3):
        await make_due()  # stands for the claims running out between rounds
        await sender.send_due()
    by_id = {r.id: r for r in await outbox()}
    assert by_id[poison.id].status == 'dead' and by_id[poison.id].attempts == 1
    assert 'could not compose the mail' in by_id[poison.id].last_error
    assert 'ValueError' in by_id[poison.id].last_error and 'linefeed' in by_id[poison.id].last_error
    assert all(r.status == 'sent' and r.attempts == 1 and r.last_error == '' for r in by_id.values() if r is not
               by_id[poison.id])
    assert smtp.per_message_id() == Counter({r.message_id: 1 for r in rows if r.id != poison.id})


# --- refused recipients ---------------------------------------------------------------------------------------------

async def test_a_refused_recipient_fails_only_its_own_mail(people, smtp, monkeypatch):
    monkeypatch.setenv('PULSE_MAIL_MAX_ATTEMPTS', '2')
    reset_settings()
    smtp.refuse_rcpt = {'gone@example.org': '550 5.1.1 no such user', 'full@example.org': '452 4.2.2 mailbox full'}
    rows = await _rows([('gone@example.org', None), *[(f'ok{i}@example.org', None) for i in range(3)],
                        ('full@example.org', None), *[(f'ok{i}@example.org', None) for i in range(3, 6)]])
    assert await sender.send_due(connections=1) == 8  # all on one connection: the refusals come first
    by_addr = {r.to_addr: r for r in await outbox()}
    for addr, code in (('gone@example.org', '550'), ('full@example.org', '452')):
        refused = by_addr.pop(addr)
        assert refused.status == 'pending' and refused.attempts == 1  # retried with backoff like any refusal
        assert code in refused.last_error and addr in refused.last_error
        assert refused.next_attempt_at > utcnow()
    assert all(r.status == 'sent' and r.attempts == 1 and r.last_error == '' for r in by_addr.values())
    assert smtp.per_message_id() == Counter({r.message_id: 1 for r in rows if r.to_addr.startswith('ok')})
    await drain()  # the refusals go on: dead after the attempts; nothing else is sent again
    by_addr = {r.to_addr: r for r in await outbox()}
    assert by_addr['gone@example.org'].status == 'dead' and by_addr['gone@example.org'].attempts == 2
    assert '550' in by_addr['gone@example.org'].last_error
    assert by_addr['full@example.org'].status == 'dead' and by_addr['full@example.org'].attempts == 2
    assert set(smtp.per_message_id().values()) == {1} and len(smtp.messages) == 6


async def test_an_address_the_smtp_client_cannot_send_to_fails_alone(people, smtp):
    """aiosmtplib raises a plain UnicodeEncodeError for a non-ASCII address (no SMTPUTF8) after MAIL FROM: that mail
    fails, the envelope is reset, and the next mails on the same connection go out."""
    rows = await _rows([('ok0@example.org', None), ('j\u00f6rg@example.org', None), ('ok1@example.org', None),
                        ('ok2@example.org', None)])
    assert await sender.send_due(connections=1) == 4
    by_addr = {r.to_addr: r for r in await outbox()}
    odd = by_addr.pop('j\u00f6rg@example.org')
    assert odd.status == 'pending' and odd.attempts == 1 and 'UnicodeEncodeError' in odd.last_error
    assert all(r.status == 'sent' and r.attempts == 1 for r in by_addr.values())
    assert smtp.per_message_id() == Counter({r.message_id: 1 for r in rows if r.to_addr.startswith('ok')})


# --- missed-message mails -------------------------------------------------------------------------------------------

async def test_missed_scan_reaches_an_offline_user_behind_an_online_users_backlog(people, smtp):
    anna, ben, maria = (people.users[e] for e in ('anna@pulse.demo', 'ben@pulse.demo', 'maria@pulse.demo'))
    ticket = await tickets.create_ticket(actor=anna, title='VPN down', customer_id=people.users['carl@acme.demo'].id)
    old = utcnow() - timedelta(hours=1)
    async with db.session() as s, s.begin():
        await s.execute(MailOutbox.__table__.delete())
        await s.execute(Notification.__table__.delete())
        await s.execute(insert(Notification), [{'user_id': ben.id, 'ticket_id': ticket.id, 'text': f'for ben {i}',
                                                 'created_at': old} for i in range(1200)])
        s.add(Notification(user_id=maria.id, ticket_id=ticket.id, text='for maria', created_at=old))
    presence.connected(ben.id, 'ben-tab')  # Ben is online with 1200 old unread notifications
    assert await missed.mail_missed() == 1
    await drain()
    assert len(smtp.to('maria@pulse.demo')) == 1 and smtp.to('ben@pulse.demo') == []
    assert 'for maria' in smtp.to('maria@pulse.demo')[0].get_body(('plain',)).get_content()
    presence.disconnected(ben.id, 'ben-tab')  # Ben leaves: all of his are mailed (more than one page), in one mail
    assert await missed.mail_missed() == 1200
    await drain()
    assert len(smtp.to('ben@pulse.demo')) == 1
    body = smtp.to('ben@pulse.demo')[0].get_body(('plain',)).get_content()
    assert 'for ben 0' in body and 'for ben 1199' in body
    assert await missed.mail_missed() == 0


# --- retry now ------------------------------------------------------------------------------------------------------

async def test_retry_now_refuses_a_mail_that_is_being_sent(people, smtp):
    admin = people.users['admin@pulse.demo']
    [row] = await _rows([('x@example.org', None)])
    assert await sender._claim(10) == [row.id]  # a sender (another process) is sending it right now
    claimed_until = await _claimed_until(row.id)
    with pytest.raises(ValidationError, match='being sent right now'):
        await notifications.retry_now(actor=admin, outbox_id=row.id)
    assert await _claimed_until(row.id) == claimed_until > utcnow()  # the claim is kept
    assert await sender.send_due() == 0  # so no other round may take it
    async with db.session() as s, s.begin():  # that sender died; its claim runs out
        await s.execute(update(MailOutbox).values(locked_until=utcnow() - timedelta(seconds=1)))
    await notifications.retry_now(actor=admin, outbox_id=row.id)
    assert await sender.send_due() == 1
    assert len(smtp.messages) == 1 and (await outbox())[0].status == 'sent'
    with pytest.raises(ValidationError, match='sent already'):
        await notifications.retry_now(actor=admin, outbox_id=row.id)


async def _claimed_until(outbox_id: int):
    async with db.session() as s:
        return (await s.execute(select(MailOutbox.locked_until).where(MailOutbox.id == outbox_id))).scalar_one()
