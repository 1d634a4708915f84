"""New tickets are routed into a queue by the ordered routing rules (first match wins, else the default queue),
whoever creates them."""
from sqlalchemy import select

from pulse_live import db
from pulse_live.models import RoutingRule, Service, TicketEvent, TicketType
from pulse_live.services import rule_admin, tickets
from tests.factories import queue_ids


async def _ids(model, column='name'):
    async with db.session() as s:
        return dict((await s.execute(select(getattr(model, column), model.id))).all())


async def test_routing_rules_first_match_wins_else_default_queue(people):
    admin, anna = people.users['admin@pulse.demo'], people.users['anna@pulse.demo']
    carl = people.users['carl@acme.demo']
    q, services, types = await queue_ids(), await _ids(Service), await _ids(TicketType)
    # order matters: the keyword rule comes first, so a VPN ticket that says "invoice" goes to 2nd level
    await rule_admin.create_routing_rule(actor=admin, name='Invoices', queue_id=q['2nd level'],
                                         keywords='invoice, billing')
    await rule_admin.create_routing_rule(actor=admin, name='VPN', queue_id=q['Network'], service_id=services['VPN'])
    await rule_admin.create_routing_rule(actor=admin, name='ACME incidents by phone', queue_id=q['2nd level'],
                                         organisation_id=people.orgs['acme'], type_id=types['Incident'],
                                         channel='phone')

    vpn = await tickets.create_ticket(actor=anna, title='Tunnel drops', service_id=services['VPN'])
    both = await tickets.create_ticket(actor=anna, title='Invoice portal over VPN', service_id=services['VPN'])
    plain = await tickets.create_ticket(actor=anna, title='Mouse broken')
    word_inside = await tickets.create_ticket(actor=anna, title='Reinvoiced twice')  # no whole-word match
    acme_phone = await tickets.create_ticket(actor=anna, title='Down', customer_id=carl.id, channel='phone',
                                             type_id=types['Incident'])
    acme_mail = await tickets.create_ticket(actor=anna, title='Down', customer_id=carl.id, channel='email',
                                            type_id=types['Incident'])
    chosen = await tickets.create_ticket(actor=anna, title='VPN', service_id=services['VPN'], queue_id=q['1st level'])
    assert vpn.queue_id == q['Network']
    assert both.queue_id == q['2nd level']
    assert plain.queue_id == word_inside.queue_id == acme_mail.queue_id == q['1st level']  # the default queue
    assert acme_phone.queue_id == q['2nd level']
    assert chosen.queue_id == q['1st level']  # the creator's choice is kept

    # moving the VPN rule to the top changes the outcome for the ticket matching both
    rules = await _ids(RoutingRule)
    await rule_admin.move_routing_rule(actor=admin, rule_id=rules['VPN'], delta=-1)
    again = await tickets.create_ticket(actor=anna, title='Invoice portal over VPN', service_id=services['VPN'])
    assert again.queue_id == q['Network']
    async with db.session() as s:
        created = (await s.execute(select(TicketEvent).where(TicketEvent.ticket_id == again.id))).scalar_one()
    assert created.data['queue_reason'] == 'routing rule “VPN”'
    # an inactive rule is skipped
    await rule_admin.update_routing_rule(actor=admin, rule_id=rules['VPN'], name='VPN', queue_id=q['Network'],
                                         service_id=services['VPN'], is_active=False)
    skipped = await tickets.create_ticket(actor=anna, title='Tunnel drops', service_id=services['VPN'])
    assert skipped.queue_id == q['1st level']


async def test_customer_tickets_are_routed_too(people):
    admin, carl = people.users['admin@pulse.demo'], people.users['carl@acme.demo']
    q = await queue_ids()
    await rule_admin.create_routing_rule(actor=admin, name='ACME', queue_id=q['2nd level'],
                                         organisation_id=people.orgs['acme'])
    ticket = await tickets.create_ticket(actor=carl, title='Help')
    assert ticket.queue_id == q['2nd level']
