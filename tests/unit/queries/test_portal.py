"""The portal's request lists: customers see their own requests, organisation admins their organisation's."""
from __future__ import annotations

from pulse_live.queries import portal as portal_queries
from pulse_live.queries.tickets import find_ticket_id
from pulse_live.services import tickets


async def test_customers_see_their_own_requests_org_admins_the_organisations(people):
    anna, carl, eva, tom = (people.users[e] for e in ('anna@pulse.demo', 'carl@acme.demo', 'eva@acme.demo',
                                                       'tom@globex.demo'))
    carls = await tickets.create_ticket(actor=anna, title='Carl: printer', customer_id=carl.id)
    evas = await tickets.create_ticket(actor=eva, title='Eva: mailbox')
    assert carl.is_org_admin and not eva.is_org_admin
    assert await find_ticket_id(eva, carls.reference) is None  # a colleague's request: not hers
    assert await find_ticket_id(carl, evas.reference) == evas.id  # the org admin sees it
    assert await find_ticket_id(tom, evas.reference) is None  # another organisation: never
    assert [r.reference for r in await portal_queries.requests(eva, scope='mine')] == [evas.reference]
    assert await portal_queries.requests(eva, scope='organisation') == []  # not an org admin
    assert [r.reference for r in await portal_queries.requests(carl, scope='mine')] == [carls.reference]
    assert {r.reference for r in await portal_queries.requests(carl, scope='organisation')} == \
        {carls.reference, evas.reference}
