"""Every background worker with two app processes on one PostgreSQL database: each item is acted on exactly once.

Two OS processes (tests/workers_process.py) run the workers' own round functions side by side, started at the same
moment, against work this test queued: mails in the outbox, unread notifications of offline users (the missed-
message scan), webhook deliveries, overdue tickets for an escalation rule, and one IMAP mailbox whose watcher lease
both want. The mail server (aiosmtpd) and the webhook receiver run here and count what arrives."""
from __future__ import annotations

import asyncio
import json
import os
import sys
from collections import Counter
from datetime import timedelta

import pytest
from aiohttp import web
from sqlalchemy import delete, func, select, update

from pulse_live import db
from pulse_live.config import reset_settings
from pulse_live.models import (
    BusinessCalendar,
    EscalationFiring,
    Mailbox,
    MailOutbox,
    Notification,
    SlaPolicy,
    Ticket,
    WebhookDelivery,
    utcnow,
)
from pulse_live.services import escalation_admin, webhooks
from pulse_live.services._uow import unit_of_work
from pulse_live.sla.calendar import make_calendar
from tests.conftest import PG_SCHEMA
from tests.factories import make_ticket

pytestmark = pytest.mark.usefixtures('fresh_presence')  # nobody is online: the missed scan mails everyone
MAILS, NOTIFICATIONS, HOOKS, OVERDUE = 60, 30, 30, 8
RUN_S = 25


@pytest.fixture
async def receiver():
    seen: list[str] = []

    async def handle(request: web.Request) -> web.Response:
        seen.append(request.headers['X-Pulse-Delivery'])
        await request.read()
        return web.Response(status=200)
    app = web.Application()
    app.router.add_post('/hook', handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, '127.0.0.1', 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f'http://127.0.0.1:{port}/hook', seen
    await runner.cleanup()


async def _queue_work(people, hook_url: str) -> int:
    now = utcnow()
    admin, anna = people.users['admin@pulse.demo'], people.users['anna@pulse.demo']
    # escalation: one policy (24/7, first response 1 h), one rule, tickets whose first response is long overdue
    async with db.session() as s, s.begin():
        await s.execute(delete(SlaPolicy))
        cal = BusinessCalendar(name='always', definition=make_calendar(always_open=True).to_dict())
        s.add(cal)
        await s.flush()
        s.add(SlaPolicy(name='Everything', position=1, active=True, conditions={}, calendar_id=cal.id,
                        first_response_minutes=60, resolution_minutes=240, update_minutes=120))
    await escalation_admin.save_rule(actor=admin, name='Late first response', criterion='breached',
                                     target='first_response', actions=[{'type': 'raise_level'}])
    overdue = [await make_ticket(people, title=f'Overdue {i}') for i in range(OVERDUE)]
    async with db.session() as s, s.begin():
        await s.execute(update(Ticket).where(Ticket.id.in_([t.id for t in overdue]))
                        .values(first_response_due_at=now - timedelta(hours=2)))
        await s.execute(MailOutbox.__table__.delete())
        # the outbox: mails due now, each with its own Message-ID
        for i in range(MAILS):
            s.add(MailOutbox(to_addr=f'reader{i}@example.org', ticket_id=overdue[0].id, subject='PL-TEST',
                             body_text='', message_id=f'<two-processes-{i}@pulse-live>', kind='update',
                             items=[{'text': f'item {i}'}], created_at=now, next_attempt_at=now))
        # unread in-app notifications of offline users, older than their delay: the missed scan mails each once
        for i in range(NOTIFICATIONS):
            s.add(Notification(user_id=anna.id, ticket_id=overdue[i % OVERDUE].id, text=f'missed {i}',
                               created_at=now - timedelta(hours=1)))
        box = Mailbox(name='Support', host='127.0.0.1', port=1, username='x', active=True)
        s.add(box)
        await s.flush()
        mailbox_id = box.id
    endpoint = await webhooks.create_endpoint(actor=admin, name='Pager', url=hook_url)
    async with unit_of_work() as uow:
        for i in range(HOOKS):
            webhooks.enqueue(uow.session, endpoint=endpoint, payload={'n': i}, ticket_id=None)
    return mailbox_id


async def test_each_item_is_acted_on_once_by_two_processes(people, database, smtp, receiver, tmp_path,
                                                            monkeypatch):
    if database != 'postgresql':
        pytest.skip('several processes need PostgreSQL; SQLite is one process by design')
    monkeypatch.setenv('PULSE_WEBHOOK_ALLOW_PRIVATE', 'true')
    monkeypatch.setenv('PULSE_MAIL_BATCH_WINDOW_S', '0')  # the missed scan's mails are due at once
    reset_settings()
    hook_url, hooks_seen = receiver
    mailbox_id = await _queue_work(people, hook_url)
    start_file = tmp_path / 'go'
    env = {k: v for k, v in os.environ.items() if k != 'PYTEST_CURRENT_TEST'}
    env.update(PULSE_DATABASE_SCHEMA=PG_SCHEMA, PULSE_TEST_START_FILE=str(start_file))
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    processes = [await asyncio.create_subprocess_exec(
        sys.executable, '-m', 'tests.workers_process', str(RUN_S), str(mailbox_id), cwd=repo, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE) for _ in range(2)]
    await asyncio.sleep(3)  # both have imported and connected
    start_file.write_text('go')
    outputs = [await p.communicate() for p in processes]
    for (_out, err), p in zip(outputs, processes, strict=True):
        assert p.returncode == 0, err.decode()[-3000:]
    reports = [json.loads(out.decode().strip().splitlines()[-1]) for out, _ in outputs]

    # mail sender: every outbox row went out once; the missed scan's mails too (each notification mailed once)
    async with db.session() as s:
        statuses = Counter((await s.execute(select(MailOutbox.status))).scalars())
        missed_items = sum(len(r.items or []) for r in (await s.execute(
            select(MailOutbox).where(MailOutbox.kind == 'missed'))).scalars())
        unmailed = (await s.execute(select(func.count()).select_from(Notification)
                                    .where(Notification.mailed_at.is_(None)))).scalar_one()
        rows = (await s.execute(select(func.count()).select_from(MailOutbox))).scalar_one()
    assert statuses == {'sent': rows}
    message_ids = Counter(m['Message-ID'] for m in smtp.messages)
    assert len(message_ids) == rows and set(message_ids.values()) == {1}, message_ids.most_common(3)
    assert (missed_items, unmailed) == (NOTIFICATIONS, 0)
    # webhooks: each delivery posted once
    assert sorted(Counter(hooks_seen).values()) == [1] * HOOKS
    async with db.session() as s:
        assert Counter((await s.execute(select(WebhookDelivery.status))).scalars()) == {'sent': HOOKS}
        levels = Counter((await s.execute(select(Ticket.escalation_level).where(Ticket.title.like('Overdue %'))))
                         .scalars())
        firings = (await s.execute(select(func.count()).select_from(EscalationFiring))).scalar_one()
        owners = (await s.execute(select(Mailbox.claimed_by).where(Mailbox.id == mailbox_id))).scalar_one()
    # escalation: one process at a time held the lock and acted (the other may take over when the first one ends
    # its run and releases it); each overdue ticket escalated once
    held = sorted(tuple(r['escalation_held']) for r in reports if r['escalation_steps'])
    assert held and all(earlier[1] < later[0] for earlier, later in zip(held, held[1:], strict=False)), reports
    assert (levels, firings) == ({1: OVERDUE}, OVERDUE)
    # mail import: one watcher holds the mailbox; the other was refused every time
    holder = [r for r in reports if r['mailbox_claims']]
    assert len(holder) == 1 and owners == f'test-process-{holder[0]["pid"]}', reports
    # and both processes did take part in the shared queues (the claims split the work, not one process alone)
    assert all(r['mails'] + r['webhooks'] + r['missed'] > 0 for r in reports), reports
