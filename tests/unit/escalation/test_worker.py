"""The escalation worker with an injected clock (no sleeping): each rule fires once per ticket per clock cycle across
restarts, time the app was down is caught up, business hours hold a rule, a staff reply restarts "no update" at once,
a ticket waiting for the customer is never late, the actions go through the services as the rule, two workers on
PostgreSQL: one acts; bad rules are refused."""
from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime, timedelta

import pytest
from sqlalchemy import delete, select, text, update

from pulse_live import db, escalation_worker
from pulse_live.errors import PermissionDenied, ValidationError
from pulse_live.escalation_worker import Worker
from pulse_live.events import BusResumed, TicketChanged
from pulse_live.models import (
    BusinessCalendar,
    EscalationRule,
    EscalationSchedule,
    MailOutbox,
    Notification,
    SlaPolicy,
    Status,
    TeamMember,
    Ticket,
    TicketEvent,
    WebhookDelivery,
)
from pulse_live.services import chatter, escalation, escalation_admin, tickets
from pulse_live.sla.calendar import make_calendar
from tests.factories import load_ticket, make_ticket, priority_id, queue_ids

FIRST_RESPONSE_MIN, RESOLUTION_MIN, UPDATE_MIN = 60, 240, 120


async def _policy(calendar) -> None:
    """One policy for every ticket under ``calendar``: first response 1 h, resolution 4 h, update every 2 h."""
    async with db.session() as s, s.begin():
        await s.execute(delete(SlaPolicy))
        cal = BusinessCalendar(name=f'cal-{id(calendar)}', definition=calendar.to_dict())
        s.add(cal)
        await s.flush()
        s.add(SlaPolicy(name='Everything', position=1, active=True, conditions={}, calendar_id=cal.id,
                        first_response_minutes=FIRST_RESPONSE_MIN, resolution_minutes=RESOLUTION_MIN,
                        update_minutes=UPDATE_MIN))


@pytest.fixture
async def always(people):
    await _policy(make_calendar(always_open=True))
    return people


async def _rule(people, name='Late first response', **values) -> EscalationRule:
    values.setdefault('criterion', 'breached')
    values.setdefault('target', 'first_response')
    values.setdefault('actions', [{'type': 'raise_level'}])
    return await escalation_admin.save_rule(actor=people.users['admin@pulse.demo'], name=name, **values)


async def _history_by_rules(ticket_id: int) -> list[TicketEvent]:
    async with db.session() as s:
        return list((await s.execute(select(TicketEvent).where(
            TicketEvent.ticket_id == ticket_id, TicketEvent.actor_id.is_(None),
            TicketEvent.body.like('Escalation rule%')).order_by(TicketEvent.id))).scalars())


async def _set_times(ticket_id: int, **values) -> None:
    async with db.session() as s, s.begin():
        await s.execute(update(Ticket).where(Ticket.id == ticket_id).values(**values))


async def _escalation_mails() -> list[MailOutbox]:
    async with db.session() as s:
        rows = (await s.execute(select(MailOutbox))).scalars().all()
    return [r for r in rows if any('escalated by rule' in (i.get('text') or '') for i in r.items or [])]


async def _scheduled(ticket_id: int) -> datetime | None:
    async with db.session() as s:
        return (await s.execute(select(EscalationSchedule.due_at)
                                .where(EscalationSchedule.ticket_id == ticket_id))).scalar_one_or_none()


async def test_a_rule_fires_once_and_a_restart_neither_repeats_nor_misses_it(always):
    people = always
    await _rule(people, actions=[{'type': 'raise_level'},
                                 {'type': 'notify', 'managers': True, 'channels': ['in_app', 'mail']}])
    ticket = await make_ticket(people)
    due = (await load_ticket(ticket.id)).first_response_due_at
    assert due == ticket.created_at + timedelta(minutes=FIRST_RESPONSE_MIN)
    before = Worker(clock=lambda: due - timedelta(minutes=1))
    assert await before.step() == due  # sleeps until the breach
    assert (await load_ticket(ticket.id)).escalation_level == 0
    worker = Worker(clock=lambda: due + timedelta(seconds=5))
    await worker.step()
    assert (await load_ticket(ticket.id)).escalation_level == 1
    rows = await _history_by_rules(ticket.id)
    assert [r.body for r in rows] == ['Escalation rule “Late first response” raised the escalation level 0 → 1 '
                                      '(first response breached)']
    assert rows[0].data['rule'] == 'Late first response' and rows[0].data['by'] == 'system'
    async with db.session() as s:
        maria = people.users['maria@pulse.demo']
        notes = list((await s.execute(select(Notification).where(Notification.user_id == maria.id))).scalars())
        mails = list((await s.execute(select(MailOutbox).where(MailOutbox.to_user_id == maria.id))).scalars())
    assert any('escalated by rule “Late first response”' in n.text for n in notes)
    assert mails
    for minutes in (1, 60, 600):  # the app restarts (a new worker), later and later: the rule stays fired
        await Worker(clock=lambda m=minutes: due + timedelta(minutes=m)).step()
    assert (await load_ticket(ticket.id)).escalation_level == 1
    assert len(await escalation.firings(ticket.id)) == 1


async def test_time_the_app_was_down_is_caught_up_once(always):
    people = always
    await _rule(people, 'Half of first response', criterion='target_share', share_percent=50)
    await _rule(people, 'First response breached')
    await _rule(people, 'Resolution breached', target='resolution')
    ticket = await make_ticket(people)
    # nothing ran for three hours: both first-response rules are overdue, resolution is not yet
    await Worker(clock=lambda: ticket.created_at + timedelta(hours=3)).step()
    fired = await escalation.firings(ticket.id)
    assert [f.due_at - ticket.created_at for f in fired] == [timedelta(minutes=30), timedelta(minutes=60)]
    assert (await load_ticket(ticket.id)).escalation_level == 2
    assert await _scheduled(ticket.id) == ticket.created_at + timedelta(minutes=RESOLUTION_MIN)
    await Worker(clock=lambda: ticket.created_at + timedelta(hours=5)).step()
    assert (await load_ticket(ticket.id)).escalation_level == 3
    assert len(await escalation.firings(ticket.id)) == 3


async def test_a_business_hours_rule_waits_for_the_next_working_moment_unless_24_7(people):
    await _policy(make_calendar(timezone='UTC', hours={d: ['08:00-17:00'] for d in ('mon', 'tue', 'wed', 'thu',
                                                                                   'fri')}))
    await _rule(people, 'Office hours', actions=[{'type': 'raise_level'},
                                                 {'type': 'notify', 'user_ids': [people.users['maria@pulse.demo'].id],
                                                  'channels': ['mail']}])
    ticket = await make_ticket(people)
    friday_16, friday_17 = datetime(2026, 12, 4, 16, 0), datetime(2026, 12, 4, 17, 0)
    await _set_times(ticket.id, created_at=friday_16, first_response_due_at=friday_17)
    worker = Worker(clock=lambda: datetime(2026, 12, 5, 0, 30))  # Saturday, half past midnight
    assert await worker.step() == datetime(2026, 12, 7, 8, 0)  # next: Monday 08:00
    assert await escalation.firings(ticket.id) == []
    assert await _escalation_mails() == []
    await _rule(people, 'Pager 24/7', round_the_clock=True)
    await Worker(clock=lambda: datetime(2026, 12, 5, 0, 31)).step()
    assert [f.rule_id for f in await escalation.firings(ticket.id)] == [2]  # only the 24/7 rule, at night
    await Worker(clock=lambda: datetime(2026, 12, 7, 8, 0)).step()
    assert len(await escalation.firings(ticket.id)) == 2
    mail, = await _escalation_mails()
    assert mail.to_user_id == people.users['maria@pulse.demo'].id


async def test_a_staff_public_reply_restarts_no_update_at_once(always):
    people = always
    await _rule(people, 'Silence', criterion='no_update', target=None, minutes=120)
    ticket = await make_ticket(people)
    start = ticket.created_at
    worker = Worker(clock=lambda: start + timedelta(minutes=100))
    worker.listen()
    try:
        assert await worker.step() == start + timedelta(minutes=120)
        entry = await chatter.post_message(actor=people.users['anna@pulse.demo'], ticket_id=ticket.id,
                                           body='Looking into it', internal=False)
        async with db.session() as s, s.begin():
            await s.execute(update(TicketEvent).where(TicketEvent.id == entry.id)
                            .values(created_at=start + timedelta(minutes=100)))
            # the policy's "update every 2 h" restarted with the reply too (the worker wakes for its due time)
            await s.execute(update(Ticket).where(Ticket.id == ticket.id)
                            .values(next_update_due_at=start + timedelta(minutes=100 + UPDATE_MIN)))
        assert ticket.id in worker.dirty  # the change woke the worker
        assert await worker.step() == start + timedelta(minutes=220)
    finally:
        worker.unlisten()
    await Worker(clock=lambda: start + timedelta(minutes=130)).step()
    assert await escalation.firings(ticket.id) == []
    await Worker(clock=lambda: start + timedelta(minutes=221)).step()
    assert len(await escalation.firings(ticket.id)) == 1


async def test_an_internal_note_is_not_an_update(always):
    people = always
    await _rule(people, 'Silence', criterion='no_update', target=None, minutes=120)
    ticket = await make_ticket(people)
    await chatter.post_message(actor=people.users['anna@pulse.demo'], ticket_id=ticket.id, body='note to self',
                               internal=True)
    await Worker(clock=lambda: ticket.created_at + timedelta(minutes=121)).step()
    assert len(await escalation.firings(ticket.id)) == 1


async def test_a_ticket_waiting_for_the_customer_is_not_overdue(always):
    people = always
    await _rule(people, 'Resolution late', target='resolution')
    ticket = await make_ticket(people)
    current = await load_ticket(ticket.id)
    await tickets.change_status(actor=people.users['anna@pulse.demo'], ticket_id=ticket.id,
                                expected_version=current.version, status=Status.WAITING.value)
    await Worker(clock=lambda: ticket.created_at + timedelta(hours=10)).step()
    assert await escalation.firings(ticket.id) == []
    assert (await load_ticket(ticket.id)).escalation_level == 0


async def test_actions_go_through_the_services_as_the_rule_and_show_in_the_history(always, monkeypatch):
    people = always
    admin = people.users['admin@pulse.demo']
    monkeypatch.setenv('PULSE_WEBHOOK_ALLOW_PRIVATE', 'true')
    from pulse_live.config import reset_settings
    from pulse_live.services import webhooks
    reset_settings()
    hook = await webhooks.create_endpoint(actor=admin, name='Pager', url='http://127.0.0.1:9/hook')
    queues = await queue_ids()
    ben, maria = people.users['ben@pulse.demo'], people.users['maria@pulse.demo']
    await _rule(people, 'Escalate to 2nd level', actions=[
        {'type': 'raise_level'}, {'type': 'move_queue', 'queue_id': queues['2nd level']},
        {'type': 'assign', 'user_id': ben.id}, {'type': 'raise_priority'},
        {'type': 'add_team', 'user_ids': [maria.id]}, {'type': 'webhook', 'endpoint_id': hook.id}])
    ticket = await make_ticket(people, priority_id=await priority_id('Minor'))
    await Worker(clock=lambda: ticket.created_at + timedelta(minutes=61)).step()
    after = await load_ticket(ticket.id)
    assert (after.escalation_level, after.queue_id, after.assignee_id) == (1, queues['2nd level'], ben.id)
    assert after.priority_id == await priority_id('Major')
    async with db.session() as s:
        team = set((await s.execute(select(TeamMember.user_id).where(TeamMember.ticket_id == ticket.id))).scalars())
        deliveries = list((await s.execute(select(WebhookDelivery))).scalars())
    assert maria.id in team
    assert [(d.ticket_id, d.payload['rule'], d.payload['ticket']['reference']) for d in deliveries] == \
        [(ticket.id, 'Escalate to 2nd level', ticket.reference)]
    bodies = [r.body for r in await _history_by_rules(ticket.id)]
    assert bodies[0].startswith('Escalation rule “Escalate to 2nd level” raised the escalation level 0 → 1')
    assert any('assigned the ticket to Ben Okafor' in b for b in bodies)
    assert any('Queue' in b and '2nd level' in b for b in bodies)
    assert any('Priority' in b and 'Major' in b for b in bodies)
    assert any('added Maria Rossi to the team' in b for b in bodies)
    firing, = await escalation.firings(ticket.id)
    assert firing.status == 'done'


async def test_a_crash_between_the_firing_and_its_follow_ups_is_resumed_once(always, monkeypatch):
    people = always
    queues = await queue_ids()
    await _rule(people, 'Move', actions=[{'type': 'raise_level'},
                                         {'type': 'move_queue', 'queue_id': queues['Network']}])
    ticket = await make_ticket(people)

    async def crash(*args, **kwargs):
        raise RuntimeError('the process died here')
    monkeypatch.setattr(escalation, '_carry_out', crash)
    with pytest.raises(RuntimeError):
        await escalation.fire_due_for(ticket.id, ticket.created_at + timedelta(minutes=61))
    monkeypatch.undo()
    assert (await load_ticket(ticket.id)).queue_id != queues['Network']
    await Worker(clock=lambda: ticket.created_at + timedelta(minutes=62)).step()  # the restarted app
    assert (await load_ticket(ticket.id)).queue_id == queues['Network']
    assert (await load_ticket(ticket.id)).escalation_level == 1
    firing, = await escalation.firings(ticket.id)
    assert firing.status == 'done'


async def test_a_firing_whose_ticket_write_fails_is_not_kept(always, monkeypatch):
    """The firing's row and the ticket change are one transaction: when the change fails after the row was written
    (on SQLite a savepoint's release committed the row on its own), nothing is kept and the next round fires."""
    people = always
    await _rule(people, 'Late first response', actions=[{'type': 'raise_level'}])
    ticket = await make_ticket(people)
    from pulse_live.services import ticket_write as tw

    async def failing_record_change(self, *args, **kwargs):
        raise RuntimeError('the write failed half way')
    monkeypatch.setattr(tw.TicketWrite, 'record_change', failing_record_change)
    with pytest.raises(RuntimeError):
        await escalation.fire_due_for(ticket.id, ticket.created_at + timedelta(minutes=61))
    assert await escalation.firings(ticket.id) == []
    monkeypatch.undo()
    await Worker(clock=lambda: ticket.created_at + timedelta(minutes=62)).step()
    assert (await load_ticket(ticket.id)).escalation_level == 1
    assert len(await escalation.firings(ticket.id)) == 1


async def test_two_firings_of_the_same_rule_at_once_make_one(always):
    people = always
    rule = await _rule(people)
    ticket = await make_ticket(people)
    at = ticket.created_at + timedelta(minutes=60)
    results = await asyncio.gather(escalation.fire(rule, ticket.id, 1, at), escalation.fire(rule, ticket.id, 1, at),
                                   return_exceptions=True)
    assert sorted(r is True for r in results) == [False, True]
    assert (await load_ticket(ticket.id)).escalation_level == 1


async def test_a_reopened_ticket_is_a_new_cycle(always):
    people = always
    await _rule(people, 'Reopened', criterion='reopened', target=None)
    ticket = await make_ticket(people)
    anna = people.users['anna@pulse.demo']
    await Worker(clock=lambda: ticket.created_at + timedelta(minutes=1)).step()
    assert await escalation.firings(ticket.id) == []
    await tickets.change_status(actor=anna, ticket_id=ticket.id, expected_version=(await load_ticket(ticket.id))
                                .version, status=Status.RESOLVED.value, resolution_text='Fixed the toner',
                                resolution_code_id=1)
    await tickets.change_status(actor=anna, ticket_id=ticket.id, expected_version=(await load_ticket(ticket.id))
                                .version, status=Status.OPEN.value)
    assert (await load_ticket(ticket.id)).sla_cycle == 2
    from pulse_live.models import utcnow
    await Worker(clock=utcnow).step()
    assert [f.cycle for f in await escalation.firings(ticket.id)] == [2]


async def test_two_workers_on_postgresql_only_one_acts(always, database):
    if database != 'postgresql':
        pytest.skip('the advisory lock is PostgreSQL; SQLite is one process')
    first, second = Worker(), Worker()
    try:
        assert await first.acquire() is True
        assert await second.acquire() is False
        await first.release()
        assert await second.acquire() is True
        assert await first.acquire() is False
    finally:
        await first.release()
        await second.release()


HOLDER = """
import asyncio, sys
import asyncpg

async def main():
    conn = await asyncpg.connect(sys.argv[1])
    print('locked' if await conn.fetchval('SELECT pg_try_advisory_lock($1)', int(sys.argv[2])) else 'refused',
          flush=True)
    await asyncio.sleep(600)

asyncio.run(main())
"""


async def test_a_worker_in_another_process_holds_the_installation_and_a_crash_hands_it_over(always, database):
    """Two app processes on PostgreSQL: while the other process holds the installation's lock this one's worker
    stands by (its round never runs); when that process dies, its session ends and this worker takes over."""
    import subprocess
    import sys

    from pulse_live import escalation_worker
    if database != 'postgresql':
        pytest.skip('the advisory lock is PostgreSQL; SQLite is one process')
    url = db.engine().url.render_as_string(hide_password=False).replace('postgresql+asyncpg', 'postgresql')
    other = subprocess.Popen([sys.executable, '-c', HOLDER, url, str(escalation_worker.lock_key())],
                             stdout=subprocess.PIPE, text=True)
    worker = Worker()
    try:
        assert other.stdout is not None and other.stdout.readline().strip() == 'locked'
        assert await worker.acquire() is False  # stands by
        rounds = []
        worker.step = lambda: rounds.append(1)  # type: ignore[method-assign]
        task = asyncio.create_task(worker.run_forever())
        await asyncio.sleep(0.5)
        assert rounds == []  # the standby never runs a round
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        other.kill()  # the acting process crashes
        other.wait(timeout=30)
        for _ in range(100):
            if await worker.acquire():
                break
            await asyncio.sleep(0.1)
        assert worker._lock_conn is not None  # noqa: SLF001 - it holds the lock now
        assert worker.full  # a new holder starts from the database
    finally:
        if other.poll() is None:
            other.kill()
        await worker.release()


@pytest.mark.parametrize(('values', 'message'), [
    ({'criterion': 'target_share', 'target': 'resolution', 'share_percent': 0}, '0 %'),
    ({'criterion': 'unassigned', 'target': None, 'minutes': 0}, 'more than zero'),
    ({'criterion': 'breached', 'conditions': {'queue_ids': [999]}}, 'can never match'),
    ({'criterion': 'breached', 'conditions': {'tiers': ['platinum']}}, 'can never match'),
    ({'criterion': 'breached', 'actions': [{'type': 'assign', 'user_id': 6}]}, 'active agent'),
    ({'criterion': 'breached', 'actions': [{'type': 'notify', 'managers': True, 'channels': []}]}, 'in-app'),
    ({'criterion': 'breached', 'actions': [{'type': 'webhook', 'endpoint_id': 42}]}, 'existing webhook'),
    ({'criterion': 'breached', 'actions': []}, 'does nothing'),
])
async def test_bad_rules_are_refused_and_nothing_is_stored(always, values, message):
    with pytest.raises(ValidationError, match=message):
        await _rule(always, **values)
    async with db.session() as s:
        assert (await s.execute(select(EscalationRule))).scalars().all() == []


async def test_a_rule_on_update_every_n_needs_a_policy_that_sets_it(people):
    async with db.session() as s, s.begin():
        await s.execute(update(SlaPolicy).values(update_minutes=None))
    with pytest.raises(ValidationError, match='can never match'):
        await _rule(people, criterion='breached', target='next_update')


async def test_only_admins_change_rules(always):
    with pytest.raises(PermissionDenied):
        await escalation_admin.save_rule(actor=always.users['maria@pulse.demo'], name='x', criterion='reopened',
                                         actions=[{'type': 'raise_level'}])


async def test_a_staff_reply_satisfies_update_every_n_at_once(always):
    people = always
    await _rule(people, 'No update', criterion='breached', target='next_update')
    ticket = await make_ticket(people)
    anna = people.users['anna@pulse.demo']
    await chatter.post_message(actor=anna, ticket_id=ticket.id, body='We are on it', internal=False)
    assert (await load_ticket(ticket.id)).next_update_due_at is not None  # "every 2 h" from the first reply
    early = (await load_ticket(ticket.id)).next_update_due_at - timedelta(hours=1)
    await _set_times(ticket.id, next_update_due_at=early)  # that reply was an hour ago
    worker = Worker(clock=lambda: early - timedelta(minutes=5))
    worker.listen()
    try:
        assert await worker.step() == early
        await chatter.post_message(actor=anna, ticket_id=ticket.id, body='Still on it', internal=False)
        later = (await load_ticket(ticket.id)).next_update_due_at
        assert later > early + timedelta(minutes=50)
        assert ticket.id in worker.dirty  # the reply woke the worker
        await worker.step()
        assert await _scheduled(ticket.id) == later  # and moved the escalation at once
    finally:
        worker.unlisten()
    await Worker(clock=lambda: early + timedelta(seconds=1)).step()
    assert await escalation.firings(ticket.id) == []
    await Worker(clock=lambda: later + timedelta(seconds=1)).step()
    assert len(await escalation.firings(ticket.id)) == 1


async def test_changes_published_while_the_bus_was_away_are_read_again_when_it_resumes(always):
    """Another process made a ticket while Redis was away: its TicketChanged never arrived here. When the bus says
    it resumed, the worker reads everything again, so the ticket's 50 % rule still fires."""
    people = always
    await _rule(people, 'Half of first response', criterion='target_share', share_percent=50)
    first = await make_ticket(people)
    worker = Worker(clock=lambda: first.created_at)
    await worker.step()  # up to date
    missed = await make_ticket(people)  # no event reaches this worker
    await worker.on_event(BusResumed())
    worker.clock = lambda: missed.created_at + timedelta(minutes=45)
    await worker.step()
    assert [f.due_at - missed.created_at for f in await escalation.firings(missed.id)] == [timedelta(minutes=30)]


async def test_a_failed_round_drops_none_of_the_changes_it_had_taken(always, monkeypatch):
    """The round that took a ticket's change fails (the database went away for a moment): the next round still
    schedules that ticket."""
    people = always
    await _rule(people, 'Half of first response', criterion='target_share', share_percent=50)
    ticket = await make_ticket(people)
    worker = Worker(clock=lambda: ticket.created_at)
    worker.full = False  # as after its first round
    worker.listen = worker.unlisten = lambda: None  # type: ignore[method-assign]
    await worker.on_event(TicketChanged(ticket_id=ticket.id, kind='created', actor_id=None))
    real, calls = escalation.reschedule, []

    async def failing_once(*args, **kwargs):
        calls.append(args)
        if len(calls) == 1:
            raise OSError('connection reset')
        return await real(*args, **kwargs)
    monkeypatch.setattr(escalation, 'reschedule', failing_once)
    monkeypatch.setattr(escalation_worker, 'FAILED_ROUND_S', 0.05)
    task = asyncio.create_task(worker.run_forever())
    try:
        for _ in range(100):
            if await _scheduled(ticket.id) is not None:
                break
            await asyncio.sleep(0.05)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert len(calls) >= 2 and await _scheduled(ticket.id) == ticket.created_at + timedelta(minutes=30)


async def test_a_standby_tries_for_the_lock_every_standby_interval_not_in_a_loop(always, monkeypatch):
    """Another process acts: this worker asks for the lock once per STANDBY_S, not several times a second."""
    worker = Worker()
    attempts: list[float] = []

    async def refused() -> bool:
        attempts.append(asyncio.get_running_loop().time())
        return False
    worker.acquire = refused  # type: ignore[method-assign]
    worker.listen = worker.unlisten = lambda: None  # type: ignore[method-assign]
    task = asyncio.create_task(worker.run_forever())
    await asyncio.sleep(1.0)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert len(attempts) == 1


async def test_a_leader_whose_lock_connection_was_cut_no_longer_acts(always, database):
    """PostgreSQL: the acting worker's lock connection is cut (idle timeout, failover, an admin's kill), so the
    lock is free and another process takes it; the first worker notices and stands by instead of acting too."""
    if database != 'postgresql':
        pytest.skip('the advisory lock is PostgreSQL; SQLite is one process')
    first, second = Worker(), Worker()
    try:
        assert await first.acquire() is True
        assert await second.acquire() is False
        assert first._lock_conn is not None
        pid = (await first._lock_conn.execute(text('SELECT pg_backend_pid()'))).scalar_one()
        await first._lock_conn.commit()
        async with db.engine().connect() as c:
            await c.execute(text('SELECT pg_terminate_backend(:p)'), {'p': pid})
            await c.commit()
        for _ in range(50):  # the server frees the lock as the session ends
            if await second.acquire():
                break
            await asyncio.sleep(0.1)
        assert await second.acquire() is True
        assert await first.acquire() is False
        await second.release()
        assert await first.acquire() is True  # and takes over when it is free again
    finally:
        await first.release()
        await second.release()
