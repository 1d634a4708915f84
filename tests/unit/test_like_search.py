"""Search boxes read what is typed as typed: ``%`` and ``_`` are LIKE's wildcards in SQL and must match only
themselves — before, "%" in the ticket list's search matched every ticket and "_" every customer."""
from __future__ import annotations

from pulse_live.queries import catalog, portal, queues, tickets
from pulse_live.queries.like import escape
from pulse_live.queries.queues import WorkFilters
from tests.factories import make_ticket


def test_escape_leaves_ordinary_text_alone_and_escapes_wildcards() -> None:
    assert escape('printer down') == 'printer down'
    assert escape('50%_a\\b') == '50\\%\\_a\\\\b'


async def _two_tickets(people):
    plain = await make_ticket(people, title='Printer is down')
    percent = await make_ticket(people, title='Disk 95% full')
    return plain, percent


async def test_ticket_list_search_for_a_percent_sign_finds_only_titles_with_one(people) -> None:
    plain, percent = await _two_tickets(people)
    anna = people.users['anna@pulse.demo']
    found = await tickets.list_tickets(anna, search='%')
    assert [r.reference for r in found.rows] == [percent.reference]
    assert (await tickets.list_tickets(anna, search='_')).rows == []
    assert [r.reference for r in (await tickets.list_tickets(anna, search='95% F')).rows] == [percent.reference]
    assert {r.reference for r in (await tickets.list_tickets(anna, search='')).rows} >= {plain.reference,
                                                                                       percent.reference}


async def test_work_list_search_reads_wildcards_as_typed(people) -> None:
    plain, percent = await _two_tickets(people)
    anna = people.users['anna@pulse.demo']
    found = await queues.open_tickets(anna, WorkFilters(search='%', status='all'))
    assert [r.reference for r in found.rows] == [percent.reference]
    assert (await queues.open_tickets(anna, WorkFilters(search='Printer_is', status='all'))).rows == []


async def test_portal_search_reads_wildcards_as_typed(people) -> None:
    plain, percent = await _two_tickets(people)  # both Carl's
    carl = people.users['carl@acme.demo']
    found = await portal.requests(carl, search='%')
    assert [r.reference for r in found] == [percent.reference]
    assert await portal.requests(carl, search='_') == []


async def test_customer_and_people_pickers_read_wildcards_as_typed(people) -> None:
    assert await catalog.customer_choices('_') == {}
    assert await catalog.customer_choices('%') == {}
    assert await catalog.users_matching('%') == {}
    tom = people.users['tom@globex.demo']
    assert tom.id in await catalog.customer_choices('baker')
    assert tom.id in await catalog.users_matching('tom@globex')
