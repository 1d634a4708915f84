"""Safe merge (services/ticket_write.py): agents changing *different* fields of one ticket at the same time never
refuse each other; a change to the *same* field meanwhile is refused (exactly one of concurrent same-field saves
wins); a ticket closed meanwhile refuses the merge."""
from __future__ import annotations

import asyncio
import random

import pytest

from pulse_live import db
from pulse_live.bus import get_bus
from pulse_live.errors import StaleWrite, ValidationError
from pulse_live.events import TicketChanged
from pulse_live.models import Ticket
from pulse_live.services import tickets
from tests.helpers import new_values


async def _ticket_row(ticket_id: int) -> Ticket:
    async with db.session() as s:
        return await s.get(Ticket, ticket_id)


class PageEditor:
    """One agent's in-place editor of one field, as the ticket page keeps it."""

    def __init__(self, user, field: str, ticket: Ticket) -> None:
        self.user, self.field, self.ticket_id = user, field, ticket.id
        self.base_value, self.base_version = getattr(ticket, field), ticket.version
        self.saved: list[str] = []
        self.refused: list[str] = []

    async def live_update(self, event: TicketChanged) -> None:
        """What ``FieldEditor.apply`` does with a fresh ticket after a change event."""
        if event.ticket_id != self.ticket_id or event.kind != 'field_change':
            return
        fresh = await _ticket_row(self.ticket_id)
        if getattr(fresh, self.field) == self.base_value:
            self.base_version = max(self.base_version, fresh.version)
        else:  # somebody else's value for this field: the editor shows it
            self.base_value, self.base_version = getattr(fresh, self.field), fresh.version

    async def save(self, value: str) -> bool:
        try:
            await tickets.update_ticket(actor=self.user, ticket_id=self.ticket_id, expected_version=self.base_version,
                                        changes={self.field: value}, seen={self.field: self.base_value})
        except StaleWrite as e:
            self.refused.append(str(e))
            return False
        self.base_value = value
        self.saved.append(value)
        return True


async def _work(editor: PageEditor, rounds: int, rng: random.Random) -> None:
    for n in range(rounds):
        await editor.save(f'{editor.user.display_name} #{n}')
        await asyncio.sleep(rng.uniform(0, 0.01))


async def test_agents_changing_different_fields_at_once_are_never_refused(people):
    anna, ben, daniel = (people.users[e] for e in ('anna@pulse.demo', 'ben@pulse.demo', 'daniel@pulse.demo'))
    ticket = await tickets.create_ticket(actor=anna, title='Three agents, one ticket')
    editors = [PageEditor(anna, 'title', ticket), PageEditor(ben, 'workaround', ticket),
               PageEditor(daniel, 'technical_details', ticket)]

    async def relay(event):
        for editor in editors:
            await editor.live_update(event)
    unsubscribe = get_bus().subscribe(relay)
    rounds = 15
    try:
        await asyncio.gather(*[_work(e, rounds, random.Random(i)) for i, e in enumerate(editors)])
    finally:
        unsubscribe()
    assert [e.refused for e in editors] == [[], [], []]
    fresh = await _ticket_row(ticket.id)
    for editor in editors:  # every change took effect, in order, and is in the history once
        assert getattr(fresh, editor.field) == editor.saved[-1]
        assert await new_values(ticket.id, editor.field) == editor.saved
        assert len(editor.saved) == rounds
    assert fresh.version == ticket.version + 3 * rounds


async def test_a_stale_version_merges_when_only_other_fields_changed(people):
    """An editor that never heard of the other changes (no live update yet) still saves: its field is unchanged."""
    anna, ben = people.users['anna@pulse.demo'], people.users['ben@pulse.demo']
    ticket = await tickets.create_ticket(actor=anna, title='Original', description='First text')
    await tickets.update_ticket(actor=anna, ticket_id=ticket.id, expected_version=ticket.version,
                                changes={'title': 'Anna renamed it'}, seen={'title': 'Original'})
    merged = await tickets.update_ticket(actor=ben, ticket_id=ticket.id, expected_version=ticket.version,
                                         changes={'description': 'Ben adds detail'},
                                         seen={'description': 'First text'})
    assert (merged.title, merged.description) == ('Anna renamed it', 'Ben adds detail')
    assert merged.version == ticket.version + 2


async def test_a_change_of_the_same_field_meanwhile_is_refused(people):
    anna, ben = people.users['anna@pulse.demo'], people.users['ben@pulse.demo']
    ticket = await tickets.create_ticket(actor=anna, title='Original')
    await tickets.update_ticket(actor=anna, ticket_id=ticket.id, expected_version=ticket.version,
                                changes={'title': 'Anna was first'}, seen={'title': 'Original'})
    with pytest.raises(StaleWrite, match='Title .* was changed by someone else'):
        await tickets.update_ticket(actor=ben, ticket_id=ticket.id, expected_version=ticket.version,
                                    changes={'title': 'Ben overwrites'}, seen={'title': 'Original'})
    assert (await _ticket_row(ticket.id)).title == 'Anna was first'
    assert await new_values(ticket.id, 'title') == ['Anna was first']
    # the same value as the one already there is no conflict and no change
    same = await tickets.update_ticket(actor=ben, ticket_id=ticket.id, expected_version=ticket.version,
                                       changes={'title': 'Anna was first'}, seen={'title': 'Original'})
    assert same.version == ticket.version + 1


@pytest.mark.parametrize('field, values', [
    ('title', ['by Anna', 'by Ben', 'by Daniel', 'by Maria']),
    ('description', ['Anna\'s text', 'Ben\'s text', 'Daniel\'s text', 'Maria\'s text']),
    ('assignee_id', None),
])
async def test_concurrent_saves_of_the_same_field_exactly_one_wins(people, field, values):
    agents = [people.users[e] for e in ('anna@pulse.demo', 'ben@pulse.demo', 'daniel@pulse.demo', 'maria@pulse.demo')]
    ticket = await tickets.create_ticket(actor=agents[0], title='Race', description='')
    values = values or [a.id for a in agents]
    seen = getattr(ticket, field)
    results = await asyncio.gather(
        *[tickets.update_ticket(actor=who, ticket_id=ticket.id, expected_version=ticket.version,
                                changes={field: value}, seen={field: seen})
          for who, value in zip(agents, values, strict=False)], return_exceptions=True)
    winners = [r for r in results if not isinstance(r, Exception)]
    assert len(winners) == 1, results
    assert all(isinstance(r, StaleWrite) for r in results if isinstance(r, Exception)), results
    assert len(await new_values(ticket.id, field)) == 1
    assert getattr(await _ticket_row(ticket.id), field) == getattr(winners[0], field)


async def test_different_and_same_fields_at_once(people):
    """Two agents race for the title while two others change their own fields: only the title has a loser."""
    anna, ben, daniel, maria = (people.users[e] for e in ('anna@pulse.demo', 'ben@pulse.demo', 'daniel@pulse.demo',
                                                          'maria@pulse.demo'))
    ticket = await tickets.create_ticket(actor=anna, title='Race', workaround='', technical_details='')

    def save(who, field, value):
        return tickets.update_ticket(actor=who, ticket_id=ticket.id, expected_version=ticket.version,
                                     changes={field: value}, seen={field: getattr(ticket, field)})
    results = await asyncio.gather(save(anna, 'title', 'Anna'), save(ben, 'title', 'Ben'),
                                   save(daniel, 'workaround', 'Reboot'), save(maria, 'technical_details', 'E-53'),
                                   return_exceptions=True)
    title_results, others = results[:2], results[2:]
    assert sum(isinstance(r, StaleWrite) for r in title_results) == 1, results
    assert not any(isinstance(r, Exception) for r in others), results
    fresh = await _ticket_row(ticket.id)
    assert (fresh.workaround, fresh.technical_details) == ('Reboot', 'E-53') and fresh.title in ('Anna', 'Ben')


async def test_a_ticket_closed_meanwhile_refuses_the_merge(people):
    anna, ben = people.users['anna@pulse.demo'], people.users['ben@pulse.demo']
    ticket = await tickets.create_ticket(actor=anna, title='Closing')
    async with db.session() as s, s.begin():  # closed by someone else (the workflow itself is tested elsewhere)
        (await s.get(Ticket, ticket.id)).status = 'closed'
    with pytest.raises(ValidationError, match='closed'):
        await tickets.update_ticket(actor=ben, ticket_id=ticket.id, expected_version=ticket.version,
                                    changes={'title': 'late'}, seen={'title': 'Closing'})


async def test_seen_must_name_the_changed_fields(people):
    anna = people.users['anna@pulse.demo']
    ticket = await tickets.create_ticket(actor=anna, title='x')
    with pytest.raises(ValidationError, match='seen'):
        await tickets.update_ticket(actor=anna, ticket_id=ticket.id, expected_version=ticket.version,
                                    changes={'title': 'y'}, seen={'description': ''})
