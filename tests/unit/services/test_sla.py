"""The SLA clock on every ticket (services/sla.py), with an injected clock: due times from the matching policy and
its business calendar at creation, recomputed on a priority change keeping the paused time, paused while waiting for
the customer and resumed by their reply, stopped on resolve and resumed on reopen (a new cycle), first response met
by staff's first public reply, breaches recorded once by ``record_breaches``; customers see none of it."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from sqlalchemy import delete, func, select, update

from pulse_live import db
from pulse_live.bus import get_bus
from pulse_live.errors import ValidationError
from pulse_live.escalation_worker import Worker
from pulse_live.events import SlaRecomputeRequested, TicketChanged
from pulse_live.models import BusinessCalendar, SlaPolicy, Status
from pulse_live.queries import api as api_queries
from pulse_live.queries import sla as sla_queries
from pulse_live.queries.tickets import ticket_events
from pulse_live.services import chatter, sla, sla_admin, tickets
from tests.factories import load_ticket, make_ticket, priority_id
from tests.helpers import history, resolution_code_id, ticket_changes

T0 = datetime(2026, 12, 2, 10, 0)  # a Wednesday


@dataclass
class Clock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@pytest.fixture
def clock(monkeypatch) -> Clock:
    """The services' ``utcnow`` at a time the test moves (no sleeping)."""
    c = Clock(T0)
    import pulse_live.services.chatter as chatter_module
    import pulse_live.services.sla as sla_module
    import pulse_live.services.ticket_write as ticket_write_module
    import pulse_live.services.tickets as tickets_module
    for module in (tickets_module, chatter_module, sla_module, ticket_write_module):
        monkeypatch.setattr(module, 'utcnow', c)
    return c


async def _calendar_id(name: str) -> int:
    async with db.session() as s:
        return (await s.execute(select(BusinessCalendar.id).where(BusinessCalendar.name == name))).scalar_one()


@pytest.fixture
async def round_the_clock(people, clock) -> dict[str, int]:
    """The shipped policies replaced by 24/7 ones: Minor 60 / 600 min, Major 30 / 240 min (update every 45)."""
    async with db.session() as s, s.begin():
        await s.execute(delete(SlaPolicy))
    admin = people.users['admin@pulse.demo']
    always = await _calendar_id(sla_admin.ALWAYS_CALENDAR)
    minor = await sla_admin.save_policy(actor=admin, name='Minor 24/7', calendar_id=always,
                                        first_response_minutes=60, resolution_minutes=600,
                                        conditions={'priority_ids': [await priority_id('Minor')]})
    major = await sla_admin.save_policy(actor=admin, name='Major 24/7', calendar_id=always,
                                        first_response_minutes=30, resolution_minutes=240, update_minutes=45,
                                        conditions={'priority_ids': [await priority_id('Major')]})
    return {'minor': minor.id, 'major': major.id}


async def test_creation_sets_due_times_from_the_matching_policy_in_business_hours(people, clock):
    """Shipped defaults: Major counts in business hours (Mon–Fri 08:00–17:00 Zurich), Critical round the clock."""
    clock.now = datetime(2026, 12, 4, 16, 30)  # Friday 17:30 in Zurich: closed
    major = await make_ticket(people, priority_id=await priority_id('Major'))
    critical = await make_ticket(people, priority_id=await priority_id('Critical'))
    major, critical = await load_ticket(major.id), await load_ticket(critical.id)
    assert major.first_response_due_at == datetime(2026, 12, 7, 9, 0)   # Monday 08:00 CET + 2 h
    assert major.resolution_due_at == datetime(2026, 12, 8, 16, 0)      # two 9 h business days
    assert critical.first_response_due_at == datetime(2026, 12, 4, 17, 0)  # 30 min, 24/7
    assert critical.next_update_due_at is None  # "update every" starts with the first response
    async with db.session() as s:
        names = dict((await s.execute(select(SlaPolicy.id, SlaPolicy.name))).all())
    assert names[major.sla_policy_id] == 'Pulse · Major'
    assert names[critical.sla_policy_id] == 'Pulse · Critical'


async def test_priority_change_recomputes_keeping_the_paused_time(people, round_the_clock, clock):
    anna, carl = people.users['anna@pulse.demo'], people.users['carl@acme.demo']
    ticket = await make_ticket(people, priority_id=await priority_id('Minor'))
    assert (await load_ticket(ticket.id)).resolution_due_at == T0 + timedelta(minutes=600)
    clock.advance(minutes=10)
    ticket = await tickets.change_status(actor=anna, ticket_id=ticket.id, expected_version=ticket.version,
                                         status='waiting')
    clock.advance(minutes=60)
    await chatter.post_message(actor=carl, ticket_id=ticket.id, body='Here is the log you asked for.')
    clock.advance(minutes=10)
    ticket = await load_ticket(ticket.id)
    assert ticket.sla_paused_seconds == 3600
    await tickets.update_ticket(actor=anna, ticket_id=ticket.id, expected_version=ticket.version,
                                changes={'priority_id': await priority_id('Major')})
    ticket = await load_ticket(ticket.id)
    assert ticket.sla_policy_id == round_the_clock['major']
    assert ticket.sla_paused_seconds == 3600
    assert ticket.first_response_due_at == T0 + timedelta(minutes=30 + 60)
    assert ticket.resolution_due_at == T0 + timedelta(minutes=240 + 60)
    assert (await history(ticket.id))[-1].field == 'priority_id'  # the change itself is the history row


async def test_waiting_pauses_the_clock_and_a_customer_reply_resumes_it(people, round_the_clock, clock):
    anna, carl = people.users['anna@pulse.demo'], people.users['carl@acme.demo']
    ticket = await make_ticket(people, priority_id=await priority_id('Minor'))
    clock.advance(minutes=20)
    ticket = await tickets.change_status(actor=anna, ticket_id=ticket.id, expected_version=ticket.version,
                                         status='waiting')
    ticket = await load_ticket(ticket.id)
    assert ticket.status == Status.WAITING and ticket.sla_paused_since == T0 + timedelta(minutes=20)
    assert (await history(ticket.id, field='status'))[-1].new_value == 'Waiting for customer'
    view = await sla_queries.ticket_sla(anna, ticket.id)
    assert view is not None and view.main is not None and view.main.state == sla_queries.PAUSED
    assert view.main.remaining_s == 40 * 60  # frozen: 40 of the 60 minutes left
    clock.advance(hours=5)  # far past the first response target: the customer's silence does not count
    assert await sla.record_breaches(clock.now) == []
    clock.advance(minutes=1)
    await chatter.post_message(actor=carl, ticket_id=ticket.id, body='Sorry, I was away.')
    ticket = await load_ticket(ticket.id)
    assert ticket.status == Status.IN_PROGRESS and ticket.sla_paused_since is None
    assert ticket.sla_paused_seconds == (5 * 60 + 1) * 60
    assert ticket.first_response_due_at == T0 + timedelta(minutes=60 + 5 * 60 + 1)
    cleared = (await history(ticket.id, field='status'))[-1]
    assert cleared.actor_id is None and 'the customer replied' in cleared.body
    assert cleared.new_value == 'In progress'


async def test_an_internal_note_by_the_customer_side_never_exists_and_staff_replies_do_not_clear_waiting(
        people, round_the_clock, clock):
    anna = people.users['anna@pulse.demo']
    ticket = await make_ticket(people, priority_id=await priority_id('Minor'))
    ticket = await tickets.change_status(actor=anna, ticket_id=ticket.id, expected_version=ticket.version,
                                         status='waiting')
    await chatter.post_message(actor=anna, ticket_id=ticket.id, body='Did you try restarting?')
    assert (await load_ticket(ticket.id)).status == Status.WAITING


async def test_staffs_first_public_reply_meets_the_first_response(people, round_the_clock, clock):
    anna, carl = people.users['anna@pulse.demo'], people.users['carl@acme.demo']
    on_time = await make_ticket(people, priority_id=await priority_id('Major'))
    late = await make_ticket(people, priority_id=await priority_id('Major'))
    clock.advance(minutes=10)
    await chatter.post_message(actor=carl, ticket_id=on_time.id, body='Any news?')
    await chatter.post_message(actor=anna, ticket_id=on_time.id, body='Checking internally', internal=True)
    assert (await load_ticket(on_time.id)).first_response_breached is None  # neither counts
    await chatter.post_message(actor=anna, ticket_id=on_time.id, body='We are on it.')
    clock.advance(minutes=30)
    await chatter.post_message(actor=anna, ticket_id=late.id, body='Sorry for the wait.')
    on_time, late = await load_ticket(on_time.id), await load_ticket(late.id)
    assert on_time.first_response_breached is False
    assert late.first_response_breached is True
    view = await sla_queries.ticket_sla(anna, late.id)  # answered late: decided, no longer the list's countdown
    assert view is not None and view.targets[0].state == sla_queries.BREACHED and view.targets[0].done
    assert view.main is not None and view.main.name != 'First response'
    # "update every 45 min" starts with the reply
    assert on_time.next_update_due_at == T0 + timedelta(minutes=10 + 45)


async def test_resolve_stops_the_clock_and_reopen_resumes_it_in_a_new_cycle(people, round_the_clock, clock):
    anna = people.users['anna@pulse.demo']
    ticket = await make_ticket(people, priority_id=await priority_id('Minor'), assignee_id=anna.id)
    clock.advance(minutes=100)
    ticket = await tickets.change_status(actor=anna, ticket_id=ticket.id, expected_version=ticket.version,
                                         status='resolved', resolution_code_id=await resolution_code_id(),
                                         resolution_text='Replaced the toner')
    ticket = await load_ticket(ticket.id)
    assert ticket.resolution_breached is False and ticket.sla_paused_since == clock.now
    clock.advance(hours=20)  # resolved: the resolution due time (10 h) passes, nothing is recorded
    assert await sla.record_breaches(clock.now) == []
    ticket = await tickets.change_status(actor=anna, ticket_id=ticket.id, expected_version=ticket.version,
                                         status='in_progress')
    ticket = await load_ticket(ticket.id)
    assert ticket.sla_cycle == 2
    assert ticket.resolution_breached is None
    assert ticket.sla_paused_seconds == 20 * 3600
    assert ticket.resolution_due_at == T0 + timedelta(minutes=600, hours=20)


async def test_a_breach_is_recorded_once_by_the_system_and_published(people, round_the_clock, clock):
    ticket = await make_ticket(people, priority_id=await priority_id('Major'))
    other = await make_ticket(people, priority_id=await priority_id('Minor'))
    get_bus().published.clear()
    assert await sla.record_breaches(T0 + timedelta(minutes=29)) == []
    assert await sla.record_breaches(T0 + timedelta(minutes=31)) == [ticket.id]
    assert await sla.record_breaches(T0 + timedelta(minutes=32)) == []  # idempotent
    stored = await load_ticket(ticket.id)
    assert stored.first_response_breached is True and stored.resolution_breached is None
    assert (await load_ticket(other.id)).first_response_breached is None
    rows = await history(ticket.id, field='sla')
    assert [r.body for r in rows] == ['First response target breached (was due 2026-12-02 10:30 UTC)']
    assert rows[0].actor_id is None
    published = [c for c in ticket_changes() if isinstance(c, TicketChanged) and c.ticket_id == ticket.id]
    assert len(published) == 1 and 'first_response_breached' in published[0].fields
    assert published[0].actor_id is None
    # both targets of the other ticket at once, later (catching up after downtime)
    assert await sla.record_breaches(T0 + timedelta(hours=11)) == sorted([ticket.id, other.id])
    other = await load_ticket(other.id)
    assert other.first_response_breached is True and other.resolution_breached is True


async def test_customers_see_none_of_the_clock(people, round_the_clock, clock):
    anna, carl = people.users['anna@pulse.demo'], people.users['carl@acme.demo']
    ticket = await make_ticket(people, priority_id=await priority_id('Major'))
    await sla.record_breaches(T0 + timedelta(hours=1))
    assert await sla_queries.ticket_sla(anna, ticket.id) is not None
    assert await sla_queries.ticket_sla(carl, ticket.id) is None
    staff_rows = [e.field for e in (await ticket_events(anna, ticket.id))[0]]
    customer_rows = [e.field for e in (await ticket_events(carl, ticket.id))[0]]
    assert 'sla' in staff_rows and 'sla' not in customer_rows
    record = await api_queries.ticket(carl, ticket.id)
    shown = {k for k, v in vars(record).items() if v is not None}
    assert not {k for k in shown if 'due' in k or 'sla' in k or 'breach' in k or 'escalation' in k}


async def test_bad_policies_are_refused_and_nothing_is_stored(people):
    admin = people.users['admin@pulse.demo']
    always = await _calendar_id(sla_admin.ALWAYS_CALENDAR)
    async with db.session() as s:
        before = (await s.execute(select(func.count()).select_from(SlaPolicy))).scalar_one()
    attempts = [
        ({'calendar_id': always, 'first_response_minutes': 0, 'resolution_minutes': 60}, 'more than zero'),
        ({'calendar_id': always, 'first_response_minutes': 30, 'resolution_minutes': -5}, 'more than zero'),
        ({'calendar_id': 99999, 'first_response_minutes': 30, 'resolution_minutes': 60}, 'Unknown calendar'),
        ({'calendar_id': always, 'first_response_minutes': 30, 'resolution_minutes': 60,
          'conditions': {'priority_ids': [99999]}}, 'could never match'),
        ({'calendar_id': always, 'first_response_minutes': 30, 'resolution_minutes': 60,
          'conditions': {'channels': ['pigeon']}}, 'could never match'),
        ({'calendar_id': always, 'first_response_minutes': 90, 'resolution_minutes': 60}, 'cannot be sooner'),
    ]
    for values, message in attempts:
        with pytest.raises(ValidationError, match=message):
            await sla_admin.save_policy(actor=admin, name='Broken', **values)
    with pytest.raises(ValidationError, match='no working hours'):
        await sla_admin.save_calendar(actor=admin, name='Empty', timezone='Europe/Zurich', hours={})
    with pytest.raises(ValidationError, match='Unknown time zone'):
        await sla_admin.save_calendar(actor=admin, name='Nowhere', timezone='Mars/Olympus',
                                      hours={'mon': ['8:00-9:00']})
    with pytest.raises(ValidationError, match='overlap'):
        await sla_admin.save_calendar(actor=admin, name='Twice', hours={'mon': ['08:00-12:00', '11:00-13:00']})
    async with db.session() as s:
        assert (await s.execute(select(func.count()).select_from(SlaPolicy))).scalar_one() == before
        names = set((await s.execute(select(BusinessCalendar.name))).scalars())
    assert names == {sla_admin.DEFAULT_CALENDAR, sla_admin.ALWAYS_CALENDAR}


async def test_an_admin_change_of_the_policies_moves_the_open_tickets_clocks(people, round_the_clock, clock):
    """The admin's save returns with the tickets untouched and a recompute pending; the escalation worker's next
    round moves the clocks and announces them."""
    admin = people.users['admin@pulse.demo']
    ticket = await make_ticket(people, priority_id=await priority_id('Minor'))
    assert await sla_queries.next_due() == T0 + timedelta(minutes=60)
    always = await _calendar_id(sla_admin.ALWAYS_CALENDAR)
    everything = await sla_admin.save_policy(actor=admin, name='Everything fast', calendar_id=always,
                                             first_response_minutes=5, resolution_minutes=50)
    await Worker(clock=clock).step()
    assert (await load_ticket(ticket.id)).sla_policy_id == round_the_clock['minor']  # last in the order: no match
    get_bus().published.clear()
    await sla_admin.move_policy(actor=admin, policy_id=everything.id, delta=-1)
    await sla_admin.move_policy(actor=admin, policy_id=everything.id, delta=-1)
    assert (await load_ticket(ticket.id)).sla_policy_id == round_the_clock['minor']  # the save did not wait
    [pending] = [j for j in await sla_queries.clock_jobs() if j.finished_at is None]
    assert (pending.done, pending.total) == (0, 1) and 'moved to position 1' in pending.reason
    assert any(isinstance(e, SlaRecomputeRequested) for e in get_bus().published)  # wakes the worker
    await Worker(clock=clock).step()
    stored = await load_ticket(ticket.id)
    assert stored.sla_policy_id == everything.id
    assert stored.first_response_due_at == T0 + timedelta(minutes=5)
    assert [c.ticket_id for c in ticket_changes() if 'sla' in c.fields] == [ticket.id]  # open screens re-read
    [done] = await sla_queries.clock_jobs()
    assert done.finished_at is not None and (done.done, done.changed) == (1, 1)
    await sla_admin.delete_policy(actor=admin, policy_id=everything.id)
    await Worker(clock=clock).step()
    assert (await load_ticket(ticket.id)).sla_policy_id == round_the_clock['minor']


async def test_a_new_customer_tier_moves_the_clocks_of_the_organisations_open_tickets(people, round_the_clock,
                                                                                      clock):
    from pulse_live.services import customers
    admin = people.users['admin@pulse.demo']
    always = await _calendar_id(sla_admin.ALWAYS_CALENDAR)
    gold = await sla_admin.save_policy(actor=admin, name='Platinum customers', calendar_id=always,
                                       first_response_minutes=10, resolution_minutes=100,
                                       conditions={'tiers': ['platinum']})
    for _ in range(2):  # first in the order
        await sla_admin.move_policy(actor=admin, policy_id=gold.id, delta=-1)
    await Worker(clock=clock).step()
    ticket = await make_ticket(people, priority_id=await priority_id('Minor'))  # Carl: ACME, gold
    assert (await load_ticket(ticket.id)).sla_policy_id == round_the_clock['minor']
    await customers.save_organisation(actor=admin, organisation_id=people.orgs['acme'], name='ACME Corp',
                                      tier='platinum')
    await Worker(clock=clock).step()  # the worker recomputes the organisation's open tickets
    stored = await load_ticket(ticket.id)
    assert stored.sla_policy_id == gold.id and stored.first_response_due_at == T0 + timedelta(minutes=10)


async def test_a_closed_ticket_reopened_runs_a_new_cycle_and_waiting_reads_as_open_to_the_customer(
        people, round_the_clock, clock):
    from pulse_live.queries import portal
    anna, carl = people.users['anna@pulse.demo'], people.users['carl@acme.demo']
    ticket = await make_ticket(people, priority_id=await priority_id('Minor'), assignee_id=anna.id)
    ticket = await tickets.change_status(actor=anna, ticket_id=ticket.id, expected_version=ticket.version,
                                         status='waiting')
    assert portal.status_word(ticket.status) == 'Waiting for your reply'
    assert ticket.reference in [r.reference for r in await portal.requests(carl, state='open')]
    clock.advance(minutes=30)
    ticket = await tickets.change_status(actor=anna, ticket_id=ticket.id, expected_version=ticket.version,
                                         status='resolved', resolution_code_id=await resolution_code_id(),
                                         resolution_text='Fixed while waiting')
    stored = await load_ticket(ticket.id)
    assert stored.sla_paused_since == T0 and stored.resolution_breached is False  # stopped when waiting began
    ticket = await tickets.change_status(actor=carl, ticket_id=ticket.id, expected_version=ticket.version,
                                         status='closed')
    clock.advance(hours=2)
    ticket = await tickets.change_status(actor=anna, ticket_id=ticket.id, expected_version=ticket.version,
                                         status='open', reason='It broke again')
    stored = await load_ticket(ticket.id)
    assert stored.sla_cycle == 2 and stored.sla_paused_since is None
    assert stored.sla_paused_seconds == (30 + 120) * 60
    assert stored.resolution_due_at == T0 + timedelta(minutes=600 + 150)


async def test_targets_a_calendar_cannot_reach_within_ten_years_are_refused_and_tickets_still_open(people, clock):
    """From an attack sweep: a calendar of one working minute a week under year-long targets (both accepted) made
    every matching ticket walk ~400,000 weeks — 30–80 s of the event loop — and then fail ("beyond year 9999"):
    nobody could open a ticket. Such targets are refused when the policy or its calendar is saved; a policy stored
    before that rule gives its tickets no due times rather than refusing them."""
    admin = people.users['admin@pulse.demo']
    async with db.session() as s, s.begin():
        await s.execute(delete(SlaPolicy))
    tiny = await sla_admin.save_calendar(actor=admin, name='A minute a week', timezone='Europe/Zurich',
                                         hours={'mon': ['08:00-08:01']})
    with pytest.raises(ValidationError, match=r'A minute a week.*525,600 minutes of “Year”.*more than 10 years'):
        await sla_admin.save_policy(actor=admin, name='Year', calendar_id=tiny.id, first_response_minutes=60,
                                    resolution_minutes=525600)
    small = await sla_admin.save_policy(actor=admin, name='Small', calendar_id=tiny.id, first_response_minutes=1,
                                        resolution_minutes=400)  # 400 weeks: within reach
    mondays = [T0.date() + timedelta(days=5 + 7 * n) for n in range(300)]  # the next 300 Mondays closed
    with pytest.raises(ValidationError, match=r'400 minutes of “Small”'):  # the calendar shrunk under the policy
        await sla_admin.save_calendar(actor=admin, calendar_id=tiny.id, name='A minute a week',
                                      timezone='Europe/Zurich', hours={'mon': ['08:00-08:01']},
                                      closed_dates=[d.isoformat() for d in mondays])
    async with db.session() as s, s.begin():  # as older data could hold it
        await s.execute(update(SlaPolicy).where(SlaPolicy.id == small.id).values(resolution_minutes=525600))
    ticket = await make_ticket(people, title='Opens however long the clock would be')
    stored = await load_ticket(ticket.id)
    assert stored.sla_policy_id == small.id
    assert stored.first_response_due_at is not None and stored.resolution_due_at is None
