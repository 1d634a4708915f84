"""Ticket reads: finding a ticket by reference or id, the ticket page's view."""
import re

from sqlalchemy import select, update

from pulse_live import db
from pulse_live.models import Queue, ResolutionCode, Service, Ticket
from pulse_live.queries.tickets import find_ticket_id, ticket_view
from tests.factories import make_ticket
from tests.helpers import with_statements


async def test_a_ticket_is_found_by_reference_or_id_and_a_number_past_any_id_finds_nothing(people):
    ticket = await make_ticket(people)
    assert await find_ticket_id(people.users['anna@pulse.demo'], ticket.reference) == ticket.id
    assert await find_ticket_id(people.users['anna@pulse.demo'], ticket.reference.lower()) == ticket.id
    assert await find_ticket_id(people.users['anna@pulse.demo'], str(ticket.id)) == ticket.id
    # past a 32-bit id (PostgreSQL refused the query: the page answered 500), past 64 bits, absurdly long
    for number in ('2147483648', '99999999999', '9' * 19, '9' * 400):
        assert await find_ticket_id(people.users['anna@pulse.demo'], number) is None


async def test_a_ticket_view_reads_the_ticket_with_every_name_it_shows_in_one_statement(people):
    """Opening a ticket read its priority, type, organisation, service, queue, assignee, creator, customer and
    resolution code one row at a time: ten statements per view, for every open and live change."""
    anna, ben, carl = (people.users[e] for e in ('anna@pulse.demo', 'ben@pulse.demo', 'carl@acme.demo'))
    ticket = await make_ticket(people)
    async with db.session() as s, s.begin():
        service = (await s.execute(select(Service).order_by(Service.id))).scalars().first()
        queue = (await s.execute(select(Queue).where(Queue.name == '2nd level'))).scalar_one()
        code = (await s.execute(select(ResolutionCode).order_by(ResolutionCode.id))).scalars().first()
        await s.execute(update(Ticket).where(Ticket.id == ticket.id).values(
            service_id=service.id, queue_id=queue.id, assignee_id=ben.id, resolution_code_id=code.id))
        service_name, code_name = service.name, code.name
    view, statements = await with_statements(ticket_view(anna, ticket.id))
    assert (view.customer, view.customer_email, view.organisation) == ('Carl Jensen', carl.email, 'ACME Corp')
    assert (view.service, view.queue, view.assignee, view.creator) == (service_name, '2nd level', 'Ben Okafor',
                                                                       'Anna Keller')
    assert view.resolution_code == code_name and view.type and view.priority and view.priority_color != 'grey'
    one_row_reads = [sql for sql, _ in statements if re.search(r'FROM (\w+)\s+WHERE \1\.id = ', sql)]
    assert one_row_reads == [], one_row_reads
    assert len([sql for sql, _ in statements if 'FROM tickets' in sql]) == 1


async def test_a_ticket_without_customer_service_queue_or_assignee_shows_empty_names(people):
    ticket = await make_ticket(people, customer_id=None)
    async with db.session() as s, s.begin():  # a new ticket goes to the default queue
        await s.execute(update(Ticket).where(Ticket.id == ticket.id).values(queue_id=None))
    view = await ticket_view(people.users['anna@pulse.demo'], ticket.id)
    assert (view.customer, view.customer_email, view.service, view.queue, view.assignee, view.resolution_code) == \
        ('', '', '', '', '', '')
    assert view.creator == 'Anna Keller' and view.organisation
    # a customer of another organisation does not get the view (nor its names)
    assert await ticket_view(people.users['tom@globex.demo'], ticket.id) is None
