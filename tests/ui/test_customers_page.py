"""The customer directory (/customers): deactivated customers only with "Show inactive", kept in the address."""
from __future__ import annotations

import asyncio

from nicegui.testing import User

from pulse_live.services import customers
from tests.ui.conftest import login


def _directory(user: User) -> dict[int, dict]:
    return {row['id']: row for row in user.find(marker='customers-table').elements.pop().rows}


async def _directory_shows(user: User, person_id: int, present: bool = True) -> dict[int, dict]:
    for _ in range(100):
        rows = _directory(user)
        if (person_id in rows) == present:
            return rows
        await asyncio.sleep(0.05)
    raise AssertionError(f'person {person_id} {"never appeared" if present else "stayed"} in the directory')


async def test_deactivated_customer_is_listed_with_show_inactive(user: User, people) -> None:
    anna, tom = people.users['anna@pulse.demo'], people.users['tom@globex.demo']
    await customers.save_customer(actor=anna, user_id=tom.id, email=tom.email, display_name=tom.display_name,
                                  organisation_id=tom.organisation_id, phone=tom.phone, is_active=False)
    await login(user, 'anna@pulse.demo')
    await user.open('/customers')
    await user.should_see(marker='customers-inactive')
    rows = await _directory_shows(user, people.users['carl@acme.demo'].id)
    assert tom.id not in rows

    user.find(marker='customers-inactive').click()  # "Show inactive"
    rows = await _directory_shows(user, tom.id)
    assert rows[tom.id]['active'] is False  # the name cell shows an "inactive" badge for these rows
    assert all(row['active'] for pid, row in rows.items() if pid != tom.id)
    table = user.find(marker='customers-table').elements.pop()
    assert 'inactive</q-badge>' in table.slots['body-cell-name'].template

    user.find(marker='customer-search').type('tom@globex')  # searching finds them too
    await _directory_shows(user, people.users['carl@acme.demo'].id, present=False)
    assert list(_directory(user)) == [tom.id]

    await user.open('/customers?inactive=true&q=tom')  # the address keeps the choice
    await _directory_shows(user, tom.id)


async def test_a_burst_of_filter_changes_reads_the_listing_once_or_twice(user: User, people, monkeypatch) -> None:
    """Every switch/select/search event re-read the listing, none cancelled or merged: 20 toggles of "Show inactive"
    sent in a few ms kept the server busy for 67 s. A newer change now supersedes an older one's read (after a short
    pause, and before its rows are shown): a burst costs one or two reads, and the page shows the last state."""
    from pages import customers as customers_page
    from pulse_live.queries import customers as customer_queries
    anna, tom = people.users['anna@pulse.demo'], people.users['tom@globex.demo']
    await customers.save_customer(actor=anna, user_id=tom.id, email=tom.email, display_name=tom.display_name,
                                  organisation_id=tom.organisation_id, phone=tom.phone, is_active=False)
    reads: list[bool] = []
    listing = customer_queries.customers

    async def counted(*args, **kwargs):
        reads.append(kwargs['include_inactive'])
        return await listing(*args, **kwargs)

    monkeypatch.setattr(customer_queries, 'customers', counted)
    await login(user, 'anna@pulse.demo')
    await user.open('/customers')
    await _directory_shows(user, people.users['carl@acme.demo'].id)
    assert reads == [False]
    switch = next(iter(user.find(marker='customers-inactive').elements))

    for toggles, shown in ((21, True), (20, True), (1, False)):
        reads.clear()
        for _ in range(toggles):  # as fast as the socket delivers them
            user.find(marker='customers-inactive').click()
        assert switch.value is shown
        await _directory_shows(user, tom.id, present=shown)
        await asyncio.sleep(3 * customers_page.REFRESH_PAUSE_S)  # nothing late overwrites it
        assert (tom.id in _directory(user)) is shown
        assert 1 <= len(reads) <= 2, reads
        assert reads[-1] is shown
