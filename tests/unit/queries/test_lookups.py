"""The forms' lists kept by the process for a moment (queries/lookups.py): read once for pages opened together, a
change of this process shown at once, a change made elsewhere within ``KEEP_S``, a read overtaken by a commit not
kept, and a copy for every caller."""
from __future__ import annotations

import asyncio

from sqlalchemy import text

from pulse_live import db
from pulse_live.models import SlaPolicy
from pulse_live.queries import catalog, lookups
from pulse_live.queries import queues as queue_queries
from pulse_live.queries import sla as sla_queries
from pulse_live.services import queues as queue_service
from pulse_live.services import sla_admin
from pulse_live.services import staff as staff_service
from tests.factories import load_ticket, make_ticket
from tests.helpers import with_statements


async def test_pages_opened_together_read_a_list_once(people):
    before = lookups.reads[0]
    first = await catalog.queues()
    assert lookups.reads[0] == before + 1
    together = await asyncio.gather(*(catalog.queues() for _ in range(5)))
    assert lookups.reads[0] == before + 1  # kept: no statement for the next five pages
    assert all(q == first for q in together)
    lookups.forget_all()
    await asyncio.gather(*(catalog.agents() for _ in range(5)))
    assert lookups.reads[0] == before + 2  # five pages at once, nothing kept yet: one read shared


async def test_a_change_made_here_is_shown_at_once(people):
    admin = people.users['admin@pulse.demo']
    assert 'Hardware' not in (await catalog.queues()).values()
    queue = await queue_service.create_queue(actor=admin, name='Hardware')
    assert (await catalog.queues())[queue.id] == 'Hardware'  # the next page, well within KEEP_S
    taker = people.users['anna@pulse.demo']
    assert queue.id not in await queue_queries.queues_not_takeable(taker)

    ben = people.users['ben@pulse.demo']
    assert ben.id in await catalog.agents()
    assert ben.id in await catalog.users_matching('')
    await staff_service.set_active(actor=admin, user_id=ben.id, active=False)
    assert ben.id not in await catalog.agents()  # a deactivated agent is no longer offered
    assert ben.id not in await catalog.users_matching('')


async def test_a_change_made_elsewhere_is_shown_within_keep_s(people, monkeypatch):
    monkeypatch.setattr(lookups, 'KEEP_S', 0.3)
    queues = await catalog.queues()
    some_id = next(iter(queues))
    async with db.engine().begin() as conn:  # as another process (or the command line) would: no hook of ours sees it
        await conn.execute(text('UPDATE queues SET name = :n WHERE id = :i'), {'n': 'Renamed elsewhere', 'i': some_id})
    assert (await catalog.queues())[some_id] == queues[some_id]  # still the kept copy …
    await asyncio.sleep(0.35)
    assert (await catalog.queues())[some_id] == 'Renamed elsewhere'  # … for KEEP_S at most


async def test_a_read_overtaken_by_a_commit_is_not_kept(people):
    admin = people.users['admin@pulse.demo']
    release = asyncio.Event()

    async def slow_read() -> dict[int, str]:
        await release.wait()
        return {0: 'as it was before the commit'}

    reading = asyncio.create_task(lookups.kept(('overtaken',), slow_read))
    await asyncio.sleep(0.05)
    await queue_service.create_queue(actor=admin, name='Committed meanwhile')
    release.set()
    assert await reading == {0: 'as it was before the commit'}  # its caller gets what it read …

    async def fresh_read() -> dict[int, str]:
        return {1: 'read again'}
    assert await lookups.kept(('overtaken',), fresh_read) == {1: 'read again'}  # … but it was not kept


async def test_every_caller_gets_its_own_copy(people):
    mine = await catalog.priorities()
    mine.clear()
    mentions = await catalog.mention_candidates()
    for candidate in mentions:
        candidate['name'] = 'changed by a page'
    assert await catalog.priorities()  # the kept list is whole
    assert all(c['name'] != 'changed by a page' for c in await catalog.mention_candidates())


async def test_sla_cards_share_one_read_of_the_policies_and_a_changed_policy_shows_at_once(people):
    """Every SLA card and work list read the policies and their calendars again; now they are kept like the lists."""
    admin, anna = people.users['admin@pulse.demo'], people.users['anna@pulse.demo']
    ticket = await make_ticket(people)
    first = await sla_queries.ticket_sla(anna, ticket.id)
    assert first is not None
    for _ in range(3):
        view, statements = await with_statements(sla_queries.ticket_sla(anna, ticket.id))
        assert view.policy == first.policy
        assert not [sql for sql, _ in statements if 'sla_policies' in sql]  # the next cards read no policy
    async with db.session() as s:
        policy = await s.get(SlaPolicy, (await load_ticket(ticket.id)).sla_policy_id)
    await sla_admin.save_policy(actor=admin, policy_id=policy.id, name='Renamed policy',
                                calendar_id=policy.calendar_id, first_response_minutes=policy.first_response_minutes,
                                resolution_minutes=policy.resolution_minutes, update_minutes=policy.update_minutes,
                                conditions=policy.conditions, active=policy.active)
    assert (await sla_queries.ticket_sla(anna, ticket.id)).policy == 'Renamed policy'  # the next card, at once


async def test_more_sla_cards_at_once_than_the_pool_has_connections_all_answer(people):
    """The policies were first read in a session of their own while the card held its connection: with thirty pages
    opening at once every connection was held by a card waiting for that read, which waited for a connection (a
    deadlock until the pool's timeout; the desk benchmark's pages never got their side column)."""
    anna = people.users['anna@pulse.demo']
    ticket = await make_ticket(people)
    pool = db.engine().pool
    at_once = pool.size() + getattr(pool, '_max_overflow', 0) + 5
    lookups.forget_all()
    views = await asyncio.wait_for(asyncio.gather(*(sla_queries.ticket_sla(anna, ticket.id) for _ in range(at_once))),
                                   timeout=15)
    assert len({v.policy for v in views}) == 1 and views[0].policy
