"""The mail sender (notify/sender.py) against a real SMTP server: outages lose and double nothing, refusals end in
the dead letter with "Retry now", each bad mail fails alone, a restart between claim and send sends once."""
import asyncio
import re
from collections import Counter
from datetime import timedelta

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select, update

from pulse_live import db
from pulse_live.config import reset_settings
from pulse_live.errors import ValidationError
from pulse_live.models import MailOutbox, Ticket, utcnow
from pulse_live.notify import compose, sender
from pulse_live.services import chatter, notifications, tickets
from tests.factories import make_ticket
from tests.helpers import clear_outbox, drain, make_due, outbox

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


async def _claimed_until(outbox_id: int):
    async with db.session() as s:
        return (await s.execute(select(MailOutbox.locked_until).where(MailOutbox.id == outbox_id))).scalar_one()


async def test_server_down_then_back_nothing_lost_nothing_doubled(people, smtp):
    anna = people.users['anna@pulse.demo']
    ticket = await make_ticket(people, 'VPN down')
    await clear_outbox()
    smtp.controller.stop()  # the mail server is down
    await chatter.post_message(actor=anna, ticket_id=ticket.id, body='while the server is down')
    await make_due()
    before = utcnow()
    assert await sender.send_due() > 0
    rows = await outbox()
    assert rows and all(r.status == 'pending' and r.attempts == 1 and r.last_error for r in rows)
    # backoff: at least half the base (1 s here) after the round began, however slow the machine is
    assert all(r.next_attempt_at >= before + timedelta(seconds=0.5) for r in rows)
    smtp.controller = Controller(smtp, hostname='127.0.0.1', port=smtp.controller.port)
    smtp.controller.start()  # back
    await drain()
    rows = await outbox()
    assert all(r.status == 'sent' for r in rows)
    assert sorted(m['To'] for m in smtp.messages) == sorted(r.to_addr for r in rows)
    assert len({m['Message-ID'] for m in smtp.messages}) == len(smtp.messages)


async def test_an_outage_is_logged_once_and_its_end_once(people, smtp, caplog, monkeypatch):
    monkeypatch.setattr(sender, '_server_down', False)  # whatever an earlier test left behind
    anna = people.users['anna@pulse.demo']
    ticket = await make_ticket(people, 'VPN down')
    await clear_outbox()
    smtp.controller.stop()
    caplog.set_level('WARNING', logger='pulse_live.notify.sender')
    for attempt in range(3):  # three rounds of retries while the server is down
        await chatter.post_message(actor=anna, ticket_id=ticket.id, body=f'down {attempt}')
        await make_due()
        await sender.send_due()
    down = [r for r in caplog.records if 'unavailable' in r.getMessage()]
    assert len(down) == 1 and 'retried' in down[0].getMessage()
    smtp.controller = Controller(smtp, hostname='127.0.0.1', port=smtp.controller.port)
    smtp.controller.start()
    await drain()
    back = [r for r in caplog.records if 'answers again' in r.getMessage()]
    assert len(back) == 1
    assert all(r.status == 'sent' for r in await outbox())


async def test_refusing_server_leads_to_dead_letter_and_retry_now(people, smtp, monkeypatch):
    monkeypatch.setenv('PULSE_MAIL_MAX_ATTEMPTS', '2')
    reset_settings()
    anna, admin = people.users['anna@pulse.demo'], people.users['admin@pulse.demo']
    ticket = await make_ticket(people, 'VPN down')
    await clear_outbox()
    await chatter.post_message(actor=anna, ticket_id=ticket.id, body='refused')
    smtp.refuse = True
    await drain()
    rows = await outbox()
    assert rows and all(r.status == 'dead' and '451' in r.last_error for r in rows)
    smtp.refuse = False
    with pytest.raises(Exception, match='not allowed'):
        await notifications.retry_now(actor=anna, outbox_id=rows[0].id)
    await notifications.retry_now(actor=admin, outbox_id=rows[0].id)
    await sender.send_due()
    assert [r.status for r in await outbox()][0] == 'sent'
    assert len(smtp.messages) == 1


async def test_restart_between_claim_and_send_sends_once(people, smtp):
    """A process that claimed mails and died: after the claim expires another sends them, once each."""
    anna = people.users['anna@pulse.demo']
    ticket = await make_ticket(people, 'VPN down')
    await clear_outbox()
    await chatter.post_message(actor=anna, ticket_id=ticket.id, body='before the crash')
    await make_due()
    claimed = await sender._claim(100)  # the "old process" claims, then crashes before sending
    assert claimed
    assert await sender.send_due() == 0  # claimed rows are not sent twice meanwhile
    await db.restart()
    async with db.session() as s, s.begin():  # the claim runs out
        await s.execute(update(MailOutbox).values(locked_until=utcnow()))
    await drain()
    await drain()
    assert len(smtp.messages) == len(claimed)
    assert all(r.status == 'sent' for r in await outbox())


async def test_a_mail_that_cannot_be_composed_dies_alone_and_the_others_go_out_once(people, smtp, monkeypatch):
    """Whatever makes composing fail (here: yesterday's header cleaning, which let U+2028 through): that mail is
    dead with the reason, the other mails of the round are sent and recorded, and never sent twice."""
    monkeypatch.setattr(compose, 'clean_header', lambda value, limit=200: re.sub(r'[\x00-\x1f\x7f]+', ' ',
                                                                                  value or '').strip()[:limit])
    anna, carl = people.users['anna@pulse.demo'], people.users['carl@acme.demo']
    good = await tickets.create_ticket(actor=anna, title='Normal ticket', customer_id=carl.id)
    bad = await tickets.create_ticket(actor=anna, title='Printer down', customer_id=carl.id)
    async with db.session() as s, s.begin():  # as stored before the services folded titles to one line
        await s.execute(update(Ticket).where(Ticket.id == bad.id).values(title='Printer\u2028down'))
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


async def test_a_refused_recipient_fails_only_its_own_mail(people, smtp, monkeypatch):
    monkeypatch.setenv('PULSE_MAIL_MAX_ATTEMPTS', '2')
    reset_settings()
    smtp.refuse_rcpt = {'gone@example.org': '550 5.1.1 no such user', 'full@example.org': '452 4.2.2 mailbox full'}
    rows = await _rows([('gone@example.org', None), *[(f'ok{i}@example.org', None) for i in range(3)],
                        ('full@example.org', None), *[(f'ok{i}@example.org', None) for i in range(3, 6)]])
    before = utcnow()
    assert await sender.send_due(connections=1) == 8  # all on one connection: the refusals come first
    by_addr = {r.to_addr: r for r in await outbox()}
    for addr, code in (('gone@example.org', '550'), ('full@example.org', '452')):
        refused = by_addr.pop(addr)
        assert refused.status == 'pending' and refused.attempts == 1  # retried with backoff like any refusal
        assert code in refused.last_error and addr in refused.last_error
        assert refused.next_attempt_at >= before + timedelta(seconds=0.5)  # half the 1 s base at least
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


async def test_a_round_longer_than_its_claim_keeps_it_and_no_other_process_sends_its_mails_again(people, smtp,
                                                                                                 monkeypatch):
    """A slow server makes the round outlast CLAIM_S: the round extends its claim while it runs (and marks what went
    out as sent on the way), so another process polling all along finds nothing to take; every mail arrives once."""
    monkeypatch.setattr(sender, 'CLAIM_S', 3)
    real_data = smtp.handle_DATA

    async def slow_data(server, session, envelope):
        await asyncio.sleep(0.6)  # a slow server: 8 mails on one connection take ~5 s, longer than the claim
        return await real_data(server, session, envelope)
    smtp.handle_DATA = slow_data
    rows = await _rows([(f'slow{i}@example.org', None) for i in range(8)])
    round_one = asyncio.create_task(sender.send_due(connections=1))
    while not any(r.locked_until for r in await outbox()):  # round one has claimed the rows
        await asyncio.sleep(0.05)
    seen_sent: set[int] = set()
    others = 0
    while not round_one.done():  # "another process": a round of its own every quarter second
        others += await sender.send_due(connections=1)
        seen_sent |= {r.id for r in await outbox() if r.status == 'sent'}
        await asyncio.sleep(0.25)
    assert await round_one == 8 and others == 0
    assert smtp.per_message_id() == Counter({r.message_id: 1 for r in rows})
    after = await outbox()
    assert all(r.status == 'sent' and r.attempts == 1 and r.locked_until is None for r in after)
    assert seen_sent  # some were marked sent while the round was still running (at a renewal), not only at its end


async def test_a_round_that_lost_its_claim_leaves_the_rows_to_the_process_that_took_them(people, smtp):
    """The round stalled past its claim and another process took the rest: the first round sends none of those and
    records nothing on them."""
    rows = await _rows([(f'lost{i}@example.org', None) for i in range(3)])
    until = utcnow() + timedelta(seconds=sender.CLAIM_S)
    ids = await sender._claim(10, until)
    claim = sender._Claim(ids, until)
    async with db.session() as s, s.begin():  # another process's claim replaced ours on the last two rows
        await s.execute(update(MailOutbox).where(MailOutbox.id.in_(ids[1:]))
                        .values(locked_until=utcnow() + timedelta(seconds=60)))
    await claim.renew([])
    assert claim.held == {ids[0]}
    assert await claim.may_send(ids[0], []) and not await claim.may_send(ids[1], [])
    async with claim.lock:
        await sender._record([(r, None, None, None) for r in rows], [], {r.id: 'x' for r in rows}, set(), set(),
                             claim)
    by_id = {r.id: r for r in await outbox()}
    assert by_id[ids[0]].attempts == 1 and by_id[ids[0]].locked_until is None
    assert all(by_id[i].attempts == 0 and by_id[i].locked_until is not None for i in ids[1:])
