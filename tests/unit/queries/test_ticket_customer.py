"""The customer panel beside a ticket: the customer's other recent tickets."""
from pulse_live.queries import ticket_customer
from pulse_live.services import tickets


async def test_the_panel_lists_the_customers_other_recent_tickets(people):
    anna, carl = people.users['anna@pulse.demo'], people.users['carl@acme.demo']
    older = [await tickets.create_ticket(actor=anna, title=f'Earlier {n}', customer_id=carl.id) for n in range(3)]
    ticket = await tickets.create_ticket(actor=anna, title='Now', customer_id=carl.id)
    panel = await ticket_customer.customer_panel(anna, ticket.id)
    assert [row.reference for row in panel.profile.tickets] == [t.reference for t in reversed(older)]
    nobody = await tickets.create_ticket(actor=anna, title='Internal job')
    panel = await ticket_customer.customer_panel(anna, nobody.id)
    assert panel.profile is None and panel.linkable == [] and panel.linked == []
