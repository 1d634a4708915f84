"""A burst of filter changes (a socket of one's own does not debounce like the browser: 2,000 changes in 0.03 s ran
1,474 reads of the portal's list at once) costs two reads, one at a time, and the list shows the last filter."""
from __future__ import annotations

import asyncio

from nicegui.testing import User

from pulse_live.queries import portal as portal_queries
from pulse_live.queries import queues as work_queries
from tests.factories import make_ticket
from tests.ui.conftest import login, until


def _counting(monkeypatch, module, name: str) -> dict:
    original = getattr(module, name)
    seen = {'reads': 0, 'at_once': 0, 'most_at_once': 0}

    async def counting(*args, **kwargs):
        seen['reads'] += 1
        seen['at_once'] += 1
        seen['most_at_once'] = max(seen['most_at_once'], seen['at_once'])
        try:
            await asyncio.sleep(0.01)  # a read takes a moment: the burst arrives while it runs
            return await original(*args, **kwargs)
        finally:
            seen['at_once'] -= 1
    monkeypatch.setattr(module, name, counting)
    return seen


async def test_a_burst_of_portal_searches_costs_two_reads_and_shows_the_last(user: User, people,
                                                                             monkeypatch) -> None:
    await make_ticket(people, title='Scanner jams on tray 2')
    await make_ticket(people, title='Printer is down')
    await login(user, 'carl@acme.demo', expect='My requests')
    table = min(user.find(marker='requests').elements, key=lambda t: t.id)  # "Mine" (built first), beside its search

    def titles() -> set[str]:
        return {row['title'] for row in table.rows}
    await until(lambda: titles() >= {'Printer is down', 'Scanner jams on tray 2'})
    seen = _counting(monkeypatch, portal_queries, 'requests')
    (search,) = user.find(marker='mine-search').elements
    for i in range(300):
        search.value = ['s', 'sc', 'p', 'pr', 'x'][i % 5]
    search.value = 'scanner'
    await until(lambda: seen['reads'] >= 2 and seen['at_once'] == 0)
    await asyncio.sleep(0.2)
    assert seen['reads'] == 2 and seen['most_at_once'] == 1
    assert titles() == {'Scanner jams on tray 2'}


async def test_a_burst_of_work_list_switches_costs_two_reads(user: User, people, monkeypatch) -> None:
    await login(user, 'anna@pulse.demo')
    await user.open('/my')
    await user.should_see(marker='include-resolved')
    seen = _counting(monkeypatch, work_queries, 'my_tickets')
    (switch,) = user.find(marker='include-resolved').elements
    for i in range(201):
        switch.value = i % 2 == 0
    await until(lambda: seen['reads'] >= 2 and seen['at_once'] == 0)
    await asyncio.sleep(0.2)
    assert seen['reads'] == 2 and seen['most_at_once'] == 1
