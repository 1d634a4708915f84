"""Viewers woken by the same change share one read; a newer change never gets an older answer."""
import asyncio

from pulse_live.queries import shared
from pulse_live.services import chatter, tickets


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
