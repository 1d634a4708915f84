"""Ticket reads: finding a ticket by reference or id."""
from pulse_live.queries.tickets import find_ticket_id
from tests.factories import make_ticket


async def test_a_ticket_is_found_by_reference_or_id_and_a_number_past_any_id_finds_nothing(people):
    ticket = await make_ticket(people)
    assert await find_ticket_id(people.users['anna@pulse.demo'], ticket.reference) == ticket.id
    assert await find_ticket_id(people.users['anna@pulse.demo'], ticket.reference.lower()) == ticket.id
    assert await find_ticket_id(people.users['anna@pulse.demo'], str(ticket.id)) == ticket.id
    # past a 32-bit id (PostgreSQL refused the query: the page answered 500), past 64 bits, absurdly long
    for number in ('2147483648', '99999999999', '9' * 19, '9' * 400):
        assert await find_ticket_id(people.users['anna@pulse.demo'], number) is None
