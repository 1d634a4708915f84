"""Work on many clocks done by the escalation worker, not in the admin's request: a recompute after a policy change
runs in batches, keeps the paused time and resumes after a crash; tickets from before the upgrade get due times
counted from the upgrade, once; "update every N" is recorded met / breached, shown on the SLA panel's view and in
the dashboard figures."""
# ruff: noqa: F811  (the fixtures imported from test_sla.py are pytest arguments here)
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from pulse_live import db
from pulse_live.escalation_worker import Worker
from pulse_live.models import SlaClockJob, Status, Ticket
from pulse_live.queries import dashboard as dashboard_queries
from pulse_live.queries import sla as sla_queries
from pulse_live.services import chatter, sla, sla_admin, tickets
from tests.factories import load_ticket, make_ticket, priority_id
from tests.helpers import history
from tests.unit.services.test_sla import T0, _calendar_id, clock, round_the_clock  # noqa: F401 - fixtures


async def _paused_for_an_hour(people, clock, ticket):
    """Waiting for the customer for 60 minutes, then their reply resumes the clock."""
    anna, carl = people.users['anna@pulse.demo'], people.users['carl@acme.demo']
    ticket = await tickets.change_status(actor=anna, ticket_id=ticket.id, expected_version=ticket.version,
                                         status='waiting')
    clock.advance(minutes=60)
    await chatter.post_message(actor=carl, ticket_id=ticket.id, body='The log you asked for.')
    return await load_ticket(ticket.id)


async def test_a_recompute_runs_in_batches_keeps_the_paused_time_and_resumes_after_a_restart(
        people, round_the_clock, clock):
    admin = people.users['admin@pulse.demo']
    made = [await make_ticket(people, title=f'Minor {i}', priority_id=await priority_id('Minor')) for i in range(5)]
    paused = await _paused_for_an_hour(people, clock, made[2])
    assert paused.sla_paused_seconds == 3600
    always = await _calendar_id(sla_admin.ALWAYS_CALENDAR)
    policy = await sla_admin.save_policy(actor=admin, name='Minor faster', calendar_id=always,
                                         first_response_minutes=20, resolution_minutes=200,
                                         conditions={'priority_ids': [await priority_id('Minor')]})
    await sla_admin.move_policy(actor=admin, policy_id=policy.id, delta=-1)
    await sla_admin.move_policy(actor=admin, policy_id=policy.id, delta=-1)
    assert {(await load_ticket(t.id)).sla_policy_id for t in made} == {round_the_clock['minor']}  # not yet
    # two batches of two, then the process dies: the progress is stored with each batch
    run = await sla.run_clock_jobs(clock.now, batch=2, max_batches=2)
    assert run.batches == 2 and run.pending and sorted(run.changed) == sorted(t.id for t in made[:4])
    [job] = [j for j in await sla_queries.clock_jobs() if j.finished_at is None]
    assert (job.done, job.total, job.percent) == (4, 5, 80)
    assert (await load_ticket(made[4].id)).sla_policy_id == round_the_clock['minor']
    # a new process (the worker after a restart) carries on after the last committed batch
    await Worker(clock=clock).step()
    for ticket in made:
        stored = await load_ticket(ticket.id)
        assert stored.sla_policy_id == policy.id
        pause = 3600 if ticket.id == paused.id else 0
        assert stored.sla_paused_seconds == pause  # the paused time already accumulated is kept …
        assert stored.first_response_due_at == T0 + timedelta(minutes=20, seconds=pause)  # … and counts
        assert stored.resolution_due_at == T0 + timedelta(minutes=200, seconds=pause)
    async with db.session() as s:
        jobs = list((await s.execute(select(SlaClockJob))).scalars())
    assert [(j.done, j.changed, j.finished_at is not None) for j in jobs] == [(5, 5, True)]  # one job, done once
    assert (await sla.run_clock_jobs(clock.now)).batches == 0


async def test_a_second_change_while_a_recompute_runs_starts_it_over(people, round_the_clock, clock):
    admin = people.users['admin@pulse.demo']
    made = [await make_ticket(people, title=f'Minor {i}', priority_id=await priority_id('Minor')) for i in range(3)]
    always = await _calendar_id(sla_admin.ALWAYS_CALENDAR)
    await sla_admin.save_policy(actor=admin, name='Minor 24/7', calendar_id=always, first_response_minutes=30,
                                resolution_minutes=300, policy_id=round_the_clock['minor'],
                                conditions={'priority_ids': [await priority_id('Minor')]})
    await sla.run_clock_jobs(clock.now, batch=2, max_batches=1)  # the first two under 30 min
    await sla_admin.save_policy(actor=admin, name='Minor 24/7', calendar_id=always, first_response_minutes=15,
                                resolution_minutes=300, policy_id=round_the_clock['minor'],
                                conditions={'priority_ids': [await priority_id('Minor')]})
    [job] = [j for j in await sla_queries.clock_jobs() if j.finished_at is None]
    assert job.done == 0  # from the start again: the tickets already done are stale now
    await sla.run_clock_jobs(clock.now)
    assert {(await load_ticket(t.id)).first_response_due_at for t in made} == {T0 + timedelta(minutes=15)}


async def _as_before_the_upgrade(ticket_ids, created_at) -> None:
    """Tickets as an installation from before the clock left them: no policy, no due times, created long ago."""
    async with db.session() as s, s.begin():
        await s.execute(update(Ticket).where(Ticket.id.in_(ticket_ids)).values(
            created_at=created_at, sla_policy_id=None, first_response_due_at=None, resolution_due_at=None,
            next_update_due_at=None, sla_paused_seconds=0, sla_paused_since=None, first_response_breached=None))


async def test_tickets_from_before_the_upgrade_count_from_the_upgrade_once(people, round_the_clock, clock):
    anna = people.users['anna@pulse.demo']
    old = await make_ticket(people, title='Old and open', priority_id=await priority_id('Minor'))
    answered = await make_ticket(people, title='Old and answered', priority_id=await priority_id('Major'))
    await chatter.post_message(actor=anna, ticket_id=answered.id, body='Looking into it.')
    waiting = await make_ticket(people, title='Old and waiting', priority_id=await priority_id('Minor'))
    await tickets.change_status(actor=anna, ticket_id=waiting.id, expected_version=waiting.version,
                                status='waiting')
    new = await make_ticket(people, title='After the upgrade', priority_id=await priority_id('Minor'))
    await _as_before_the_upgrade([old.id, answered.id, waiting.id], T0 - timedelta(days=3))
    upgrade_at = T0 + timedelta(minutes=5)
    async with db.write_lock(), db.session() as s, s.begin():
        await sla.request_upgrade(s, at=upgrade_at)  # what migration 0009c records
    clock.advance(minutes=10)
    await Worker(clock=clock).step()  # the worker's first run
    old_now, answered_now, waiting_now = (await load_ticket(old.id), await load_ticket(answered.id),
                                          await load_ticket(waiting.id))
    # counted from the upgrade moment, not from creation three days ago: nothing breaches at once
    assert old_now.first_response_due_at == upgrade_at + timedelta(minutes=60)
    assert old_now.resolution_due_at == upgrade_at + timedelta(minutes=600)
    assert old_now.first_response_breached is None and old_now.resolution_breached is None
    assert answered_now.first_response_breached is False  # answered before any target existed
    assert answered_now.next_update_due_at == upgrade_at + timedelta(minutes=45)
    assert waiting_now.sla_paused_since == upgrade_at and waiting_now.status == Status.WAITING
    assert (await load_ticket(new.id)).first_response_due_at == T0 + timedelta(minutes=60)  # untouched
    # a later recompute keeps the upgrade's start (it is paused time), and the upgrade never runs again
    await sla_admin.recompute_open()
    assert (await load_ticket(old.id)).first_response_due_at == upgrade_at + timedelta(minutes=60)
    await _as_before_the_upgrade([old.id], T0 - timedelta(days=3))
    await Worker(clock=clock).step()
    assert (await load_ticket(old.id)).first_response_due_at is None
    async with db.session() as s:
        kinds = [(j.kind, j.finished_at is not None) for j in (await s.execute(select(SlaClockJob))).scalars()]
    assert [k for k in kinds if k[0] == 'upgrade'] == [('upgrade', True)] and all(done for _, done in kinds)


async def test_update_every_n_is_recorded_met_or_breached(people, round_the_clock, clock, monkeypatch):
    """Major: update every 45 min after the first reply. A staff reply in time meets it; silence past the due
    time is recorded as breached once, by the system; the panel's view and the dashboard show both."""
    anna, maria = people.users['anna@pulse.demo'], people.users['maria@pulse.demo']
    monkeypatch.setattr(sla_queries, 'utcnow', clock)
    ticket = await make_ticket(people, priority_id=await priority_id('Major'))
    clock.advance(minutes=10)
    await chatter.post_message(actor=anna, ticket_id=ticket.id, body='On it.')  # first response, interval starts
    assert (await load_ticket(ticket.id)).next_update_breached is None
    clock.advance(minutes=40)
    await chatter.post_message(actor=anna, ticket_id=ticket.id, body='Still on it.')  # 5 min to spare
    stored = await load_ticket(ticket.id)
    assert stored.next_update_breached is False and stored.next_update_due_at == clock.now + timedelta(minutes=45)
    view = await sla_queries.ticket_sla(anna, ticket.id)
    assert view is not None
    [update_target] = [t for t in view.targets if t.name == 'Next update']
    assert (update_target.state, update_target.record) == (sla_queries.RUNNING, sla_queries.MET)
    assert await sla.record_breaches(clock.now + timedelta(minutes=44)) == []
    late_at = clock.now + timedelta(minutes=46)
    assert await sla.record_breaches(late_at) == [ticket.id]
    assert await sla.record_breaches(late_at + timedelta(minutes=1)) == []  # once
    stored = await load_ticket(ticket.id)
    assert stored.next_update_breached is True
    [row] = [r for r in await history(ticket.id, field='sla') if 'Next update' in r.body]
    assert row.actor_id is None and row.new_value == 'breached'
    clock.now = late_at
    view = await sla_queries.ticket_sla(anna, ticket.id)
    [update_target] = [t for t in view.targets if t.name == 'Next update']
    assert (update_target.state, update_target.record) == (sla_queries.BREACHED, sla_queries.BREACHED)
    figures = (await dashboard_queries.compute_dashboard(late_at)).sla
    assert figures.updates_late == 1 and figures.breached_now == 1
    assert figures.decided_7 == 2 and figures.met_7 == 50.0  # first response met, an update late
    await dashboard_queries.dashboard(maria)  # a manager may read it
    # a late reply keeps the record (late this cycle); a reopen starts a new cycle
    await chatter.post_message(actor=anna, ticket_id=ticket.id, body='Sorry, here is the update.')
    assert (await load_ticket(ticket.id)).next_update_breached is True


async def test_the_worker_does_the_jobs_before_recording_breaches(people, round_the_clock, clock):
    """While a recompute is pending the round does only that: a ticket whose target was loosened is not recorded
    as breached under the old due time."""
    admin = people.users['admin@pulse.demo']
    ticket = await make_ticket(people, priority_id=await priority_id('Minor'))  # first response due T0 + 60 min
    always = await _calendar_id(sla_admin.ALWAYS_CALENDAR)
    await sla_admin.save_policy(actor=admin, name='Minor 24/7', calendar_id=always, first_response_minutes=120,
                                resolution_minutes=600, policy_id=round_the_clock['minor'],
                                conditions={'priority_ids': [await priority_id('Minor')]})
    clock.advance(minutes=90)
    await Worker(clock=clock).step()
    stored = await load_ticket(ticket.id)
    assert stored.first_response_due_at == T0 + timedelta(minutes=120)
    assert stored.first_response_breached is None
