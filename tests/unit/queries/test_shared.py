"""Viewers woken by the same change share one read; a newer change never gets an older answer."""
import asyncio

from pulse_live.queries import shared
from pulse_live.queries.shared import shared_read
from pulse_live.services import chatter, tickets
from tests.helpers import with_statements


async def test_concurrent_viewers_share_one_read_and_newer_changes_read_again(people, monkeypatch):
    anna, ben, carl = (people.users[e] for e in ('anna@pulse.demo', 'ben@pulse.demo', 'carl@acme.demo'))
    ticket = await tickets.create_ticket(actor=anna, title='Shared', customer_id=carl.id)
    calls = []
    real = shared.ticket_events

    async def counting(viewer, ticket_id, **kwargs):
        calls.append(viewer.id)
        await asyncio.sleep(0.05)  # keep the read in flight while the others arrive
        return await real(viewer, ticket_id, **kwargs)
    monkeypatch.setattr(shared, 'ticket_events', counting)

    first = await chatter.post_message(actor=anna, ticket_id=ticket.id, body='one', internal=True)
    results = await asyncio.gather(*[shared.new_events(v, ticket.id, after=0, upto=first.id)
                                     for v in (anna, ben, anna, ben, carl)])
    assert len(calls) == 2  # one read for the agents, one for the customer (who may not see internal notes)
    assert [e.body for e in results[1] if e.kind == 'message'] == ['one']
    assert [e.body for e in results[4] if e.kind == 'message'] == []

    second = await chatter.post_message(actor=anna, ticket_id=ticket.id, body='two')
    fresh = await shared.new_events(carl, ticket.id, after=0, upto=second.id)
    assert [e.body for e in fresh if e.kind == 'message'] == ['two']


async def test_viewers_coming_to_a_change_one_after_another_share_one_read(people):
    """The entries are read inline on SQLite (over before the next viewer's handler starts): sharing only reads in
    flight made a hundred viewers of one ticket read a hundred times per message (live_scale.py run (a): 91 → 108 ms
    of server CPU per message). A change's answer is kept a moment for the viewers that come to it later."""
    anna, ben = people.users['anna@pulse.demo'], people.users['ben@pulse.demo']
    ticket = await tickets.create_ticket(actor=anna, title='Shared', customer_id=people.users['carl@acme.demo'].id)
    first = await chatter.post_message(actor=anna, ticket_id=ticket.id, body='one')
    reads = []
    for viewer in (anna, ben, anna, ben):  # one after another, as the viewers' handlers run
        entries, statements = await with_statements(shared.new_events(viewer, ticket.id, after=0, upto=first.id))
        assert [e.body for e in entries if e.kind == 'message'] == ['one']
        reads.append(len(statements))
    assert reads[0] > 0 and reads[1:] == [0, 0, 0]
    second = await chatter.post_message(actor=anna, ticket_id=ticket.id, body='two')  # a newer change reads again
    entries = await shared.new_events(ben, ticket.id, after=first.id, upto=second.id)
    assert [e.body for e in entries if e.kind == 'message'] == ['two']


async def test_one_read_for_callers_in_flight_and_a_cancelled_first_reader_strands_nobody():
    """The first reader's page closes while it reads (its task is cancelled): those waiting on its answer waited
    for ever; now they read for themselves."""
    calls: list[str] = []
    release = asyncio.Event()

    async def slow_load() -> str:
        calls.append('slow')
        await release.wait()
        return 'slow answer'

    async def load() -> str:
        calls.append('own')
        return 'own answer'
    first = asyncio.create_task(shared_read(('k', 1), slow_load))
    await asyncio.sleep(0)
    waiting = asyncio.create_task(shared_read(('k', 1), load))
    await asyncio.sleep(0)
    first.cancel()
    assert await asyncio.wait_for(waiting, 5) == 'own answer'
    assert calls == ['slow', 'own']
    # and a read that ends is shared by everyone in flight
    release.set()
    calls.clear()
    gate = asyncio.Event()

    async def gated() -> str:
        calls.append('gated')
        await gate.wait()
        return 'shared'
    readers = [asyncio.create_task(shared_read(('k', 2), gated)) for _ in range(3)]
    await asyncio.sleep(0)
    gate.set()
    assert await asyncio.gather(*readers) == ['shared'] * 3 and calls == ['gated']
