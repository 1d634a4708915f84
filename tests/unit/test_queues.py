"""Queues, routing rules, taking ownership and assigning; permissions and the audit log."""
import asyncio
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from pulse_live import db
from pulse_live.bus import get_bus
from pulse_live.errors import NotFound, PermissionDenied, StaleWrite, ValidationError
from pulse_live.events import TicketChanged
from pulse_live.models import AuditLog, Queue, QueueMember, RoutingRule, Service, Ticket, TicketEvent, TicketType
from pulse_live.queries import queues as work_queries
from pulse_live.services import ownership, queues, rule_admin, tickets
from tests.factories import queue_ids
from tests.helpers import history


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
                                         organisation_id=people.orgs['acme'], type_id=types['Incident'], channel='phone')

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


async def test_rule_and_queue_admin_is_validated_audited_and_admin_only(people):
    admin, anna, maria = (people.users[e] for e in ('admin@pulse.demo', 'anna@pulse.demo', 'maria@pulse.demo'))
    q = await queue_ids()
    with pytest.raises(PermissionDenied):
        await rule_admin.create_routing_rule(actor=anna, name='x', queue_id=q['Network'])
    with pytest.raises(PermissionDenied):
        await queues.create_queue(actor=maria, name='Managers only')
    with pytest.raises(ValidationError, match='name'):
        await rule_admin.create_routing_rule(actor=admin, name='  ', queue_id=q['Network'])
    with pytest.raises(ValidationError, match='Queue'):
        await rule_admin.create_routing_rule(actor=admin, name='x', queue_id=99999)
    with pytest.raises(ValidationError, match='Channel'):
        await rule_admin.create_routing_rule(actor=admin, name='x', queue_id=q['Network'], channel='pigeon')
    with pytest.raises(ValidationError, match='exists already'):
        await queues.create_queue(actor=admin, name='network')
    security = await queues.create_queue(actor=admin, name='Security', description='Incidents with a CVE')
    await queues.add_member(actor=admin, queue_id=security.id, user_id=anna.id)
    with pytest.raises(ValidationError, match='already'):
        await queues.add_member(actor=admin, queue_id=security.id, user_id=anna.id)
    with pytest.raises(ValidationError, match='active agents'):
        await queues.add_member(actor=admin, queue_id=security.id, user_id=people.users['carl@acme.demo'].id)
    rule = await rule_admin.create_routing_rule(actor=admin, name='CVE', queue_id=security.id, keywords='cve')
    await rule_admin.update_routing_rule(actor=admin, rule_id=rule.id, name='CVE reports', queue_id=security.id,
                                         keywords='cve, exploit')
    await queues.update_queue(actor=admin, queue_id=security.id, name='Security', description='CVEs', is_default=True)
    async with db.session() as s:
        defaults = list((await s.execute(select(Queue.name).where(Queue.is_default.is_(True)))).scalars())
    assert defaults == ['Security']  # only one default queue
    with pytest.raises(ValidationError, match='default queue'):
        await queues.delete_queue(actor=admin, queue_id=security.id)
    await queues.update_queue(actor=admin, queue_id=q['1st level'], name='1st level', is_default=True)
    await queues.remove_member(actor=admin, queue_id=security.id, user_id=anna.id)
    await queues.delete_queue(actor=admin, queue_id=security.id)  # its rule goes with it
    async with db.session() as s:
        assert (await s.execute(select(func.count(RoutingRule.id)))).scalar_one() == 0
        audit = list((await s.execute(select(AuditLog).order_by(AuditLog.id))).scalars())
    assert [(a.entity, a.action) for a in audit] == [
        ('queue', 'create'), ('queue_member', 'create'), ('routing_rule', 'create'), ('routing_rule', 'update'),
        ('queue', 'update'), ('queue', 'update'), ('queue_member', 'delete'), ('queue', 'delete')]
    assert all(a.actor_id == admin.id for a in audit)
    assert audit[3].data['before']['keywords'] == 'cve' and audit[3].data['after']['keywords'] == 'cve, exploit'


async def test_delete_queue_with_tickets_is_refused(people):
    admin, anna = people.users['admin@pulse.demo'], people.users['anna@pulse.demo']
    q = await queue_ids()
    await tickets.create_ticket(actor=anna, title='x', queue_id=q['Network'])
    with pytest.raises(ValidationError, match='still holds 1 ticket'):
        await queues.delete_queue(actor=admin, queue_id=q['Network'])


async def test_take_records_owner_history_and_publishes(people):
    anna = people.users['anna@pulse.demo']
    ticket = await tickets.create_ticket(actor=anna, title='Printer')
    seen = []

    async def handler(event):
        seen.append(event)
    unsubscribe = get_bus().subscribe(handler)
    try:
        taken = await ownership.take_ticket(actor=anna, ticket_id=ticket.id)
        again = await ownership.take_ticket(actor=anna, ticket_id=ticket.id)  # already hers: nothing happens
    finally:
        unsubscribe()
    assert taken.assignee_id == anna.id and taken.version == ticket.version + 1 and again.version == taken.version
    steps = await history(ticket.id, field='assignee_id')
    assert [(h.actor_id, h.old_value, h.new_value, h.is_internal) for h in steps] == \
        [(anna.id, '—', 'Anna Keller', True)]
    assert steps[0].body == 'Anna Keller took the ticket'
    changes = [e for e in seen if isinstance(e, TicketChanged)]
    assert len(changes) == 1 and changes[0].fields == ('assignee_id',) and changes[0].event_ids == (steps[0].id,)


async def test_concurrent_take_has_exactly_one_winner(people):
    u = people.users
    takers = [u['anna@pulse.demo'], u['ben@pulse.demo'], u['daniel@pulse.demo'], u['maria@pulse.demo'],
              u['admin@pulse.demo']] * 4
    ticket = await tickets.create_ticket(actor=u['anna@pulse.demo'], title='Race for it')
    results = await asyncio.gather(*[ownership.take_ticket(actor=a, ticket_id=ticket.id) for a in takers],
                                   return_exceptions=True)
    async with db.session() as s:
        owner = (await s.execute(select(Ticket.assignee_id).where(Ticket.id == ticket.id))).scalar_one()
    assert owner is not None
    winner = next(a for a in takers if a.id == owner)
    steps = await history(ticket.id, field='assignee_id')
    assert len(steps) == 1 and steps[0].new_value == winner.display_name
    for taker, result in zip(takers, results):
        if taker.id == owner:
            assert isinstance(result, Ticket) and result.assignee_id == owner  # the winner, or the winner again
        else:
            assert isinstance(result, ownership.AlreadyTaken), result
            assert winner.display_name in str(result) and result.owner_id == owner


async def test_take_rules(people):
    u = people.users
    anna, daniel, maria, carl = u['anna@pulse.demo'], u['daniel@pulse.demo'], u['maria@pulse.demo'], u['carl@acme.demo']
    q = await queue_ids()
    second = await tickets.create_ticket(actor=anna, title='Specialist job', queue_id=q['2nd level'])
    # 2nd level has members (Ben): other agents may not take from it, managers may
    with pytest.raises(PermissionDenied, match='Only members of 2nd level'):
        await ownership.take_ticket(actor=daniel, ticket_id=second.id)
    assert (await ownership.take_ticket(actor=maria, ticket_id=second.id)).assignee_id == maria.id
    with pytest.raises(ownership.AlreadyTaken, match='already taken by Maria Rossi'):
        await ownership.take_ticket(actor=anna, ticket_id=second.id)
    # customers can never take, whatever the ticket
    mine = await tickets.create_ticket(actor=carl, title='My own')
    with pytest.raises(PermissionDenied):
        await ownership.take_ticket(actor=carl, ticket_id=mine.id)
    with pytest.raises(NotFound):
        await ownership.take_ticket(actor=anna, ticket_id=424242)
    # resolved tickets are not taken
    done = await tickets.create_ticket(actor=anna, title='Done')
    done = await tickets.change_status(actor=anna, ticket_id=done.id, expected_version=done.version, status='resolved',
                                       resolution_code_id=1, resolution_text='ok')
    with pytest.raises(ValidationError, match='only open tickets'):
        await ownership.take_ticket(actor=anna, ticket_id=done.id)


async def test_assign_reassign_with_note_and_unassign(people):
    u = people.users
    anna, ben, carl = u['anna@pulse.demo'], u['ben@pulse.demo'], u['carl@acme.demo']
    ticket = await tickets.create_ticket(actor=anna, title='Hand over')
    await ownership.assign_ticket(actor=anna, ticket_id=ticket.id, assignee_id=anna.id)
    await ownership.assign_ticket(actor=anna, ticket_id=ticket.id, assignee_id=ben.id, note='Ben knows the ERP')
    await ownership.unassign_ticket(actor=ben, ticket_id=ticket.id)
    steps = await history(ticket.id, field='assignee_id')
    assert [h.body for h in steps] == [
        'Anna Keller took the ticket',
        'Anna Keller re-assigned the ticket Anna Keller → Ben Okafor: Ben knows the ERP',
        'Ben Okafor unassigned the ticket (was Ben Okafor)']
    assert steps[1].data['note'] == 'Ben knows the ERP'
    with pytest.raises(ValidationError, match='active agent'):
        await ownership.assign_ticket(actor=anna, ticket_id=ticket.id, assignee_id=carl.id)
    with pytest.raises(ValidationError, match='too long'):
        await ownership.assign_ticket(actor=anna, ticket_id=ticket.id, assignee_id=ben.id, note='x' * 2001)
    with pytest.raises(PermissionDenied):
        await ownership.assign_ticket(actor=carl, ticket_id=ticket.id, assignee_id=ben.id)


async def test_concurrent_reassign_never_loses_a_change(people):
    u = people.users
    anna, ben, daniel = u['anna@pulse.demo'], u['ben@pulse.demo'], u['daniel@pulse.demo']
    ticket = await tickets.create_ticket(actor=anna, title='Contested')
    results = await asyncio.gather(
        ownership.assign_ticket(actor=anna, ticket_id=ticket.id, assignee_id=ben.id),
        ownership.assign_ticket(actor=anna, ticket_id=ticket.id, assignee_id=daniel.id),
        return_exceptions=True)
    ok = [r for r in results if isinstance(r, Ticket)]
    assert len(ok) >= 1
    steps = await history(ticket.id, field='assignee_id')
    async with db.session() as s:
        owner = (await s.execute(select(Ticket.assignee_id).where(Ticket.id == ticket.id))).scalar_one()
    # the history explains the final owner step by step: every row's old value is the previous row's new value
    assert steps[-1].data['new'] == owner
    assert all(a.data['new'] == b.data['old'] for a, b in zip(steps, steps[1:]))
    assert all(isinstance(r, (Ticket, StaleWrite)) for r in results)


async def test_customers_cannot_see_work_lists(people):
    carl, anna = people.users['carl@acme.demo'], people.users['anna@pulse.demo']
    q = await queue_ids()
    for call in (lambda: work_queries.queue_line(carl, q['1st level']), lambda: work_queries.my_tickets(carl),
                 lambda: work_queries.open_tickets(carl), lambda: work_queries.queue_summaries(carl)):
        with pytest.raises(PermissionDenied):
            await call()
    assert [s.name for s in await work_queries.queue_summaries(anna)][0] == '1st level'  # her own queue first
    async with db.session() as s:
        members = (await s.execute(select(func.count(QueueMember.id)))).scalar_one()
    assert members > 0


async def test_moving_and_deleting_routing_rules_is_audited(people):
    admin = people.users['admin@pulse.demo']
    q = await queue_ids()
    first = await rule_admin.create_routing_rule(actor=admin, name='First', queue_id=q['Network'], keywords='wifi')
    second = await rule_admin.create_routing_rule(actor=admin, name='Second', queue_id=q['2nd level'])
    await rule_admin.move_routing_rule(actor=admin, rule_id=second.id, delta=-1)
    await rule_admin.move_routing_rule(actor=admin, rule_id=second.id, delta=-1)  # already first: no change, no row
    await rule_admin.delete_routing_rule(actor=admin, rule_id=first.id)
    with pytest.raises(PermissionDenied):
        await rule_admin.move_routing_rule(actor=people.users['anna@pulse.demo'], rule_id=second.id, delta=1)
    async with db.session() as s:
        audit = list((await s.execute(select(AuditLog).where(AuditLog.action.in_(('move', 'delete')))
                                      .order_by(AuditLog.id))).scalars())
        left = list((await s.execute(select(RoutingRule.name, RoutingRule.position))).all())
    assert [(a.entity, a.entity_id, a.action, a.actor_id, a.summary) for a in audit] == [
        ('routing_rule', second.id, 'move', admin.id, 'Moved routing rule “Second” to position 1'),
        ('routing_rule', first.id, 'delete', admin.id, 'Deleted routing rule “First”')]
    assert audit[0].data == {'before': [first.id, second.id], 'after': [second.id, first.id]}
    assert audit[1].data['before']['name'] == 'First' and audit[1].data['before']['keywords'] == 'wifi'
    assert left == [('Second', 1)]


@pytest.mark.parametrize('created_from, created_to, message', [
    (None, date(9999, 12, 31), 'Created to: 9999-12-31 is out of range'),  # + 1 day overflowed
    (date(9999, 12, 31), None, 'Created from: 9999-12-31 is out of range'),
    (date(1, 1, 1), None, 'Created from: 0001-01-01 is out of range'),
    (date(2026, 3, 2), date(2026, 3, 1), 'after the “created to” date'),
])
async def test_open_list_refuses_unusable_days_clearly(people, created_from, created_to, message):
    anna = people.users['anna@pulse.demo']
    await tickets.create_ticket(actor=anna, title='Any')
    with pytest.raises(ValidationError, match=message):
        await work_queries.open_tickets(anna, work_queries.WorkFilters(created_from=created_from,
                                                                       created_to=created_to))
    with pytest.raises(ValidationError, match='between 1970-01-01 and 2999-12-31'):
        work_queries.check_day(date(3000, 1, 1), 'Created to')


async def test_open_list_days_at_the_edges_of_the_range(people):
    anna = people.users['anna@pulse.demo']
    ticket = await tickets.create_ticket(actor=anna, title='Any')
    page = await work_queries.open_tickets(anna, work_queries.WorkFilters(created_from=work_queries.FIRST_DAY,
                                                                          created_to=work_queries.LAST_DAY))
    assert [r.reference for r in page.rows] == [ticket.reference] and page.rows[0].queue_id == ticket.queue_id
    today = ticket.created_at.date()
    page = await work_queries.open_tickets(anna, work_queries.WorkFilters(created_to=today - timedelta(days=1)))
    assert page.total == 0


async def test_the_lists_know_where_the_viewer_may_take(people):
    u = people.users
    q = await queue_ids()
    daniel, ben, maria = u['daniel@pulse.demo'], u['ben@pulse.demo'], u['maria@pulse.demo']
    empty = await queues.create_queue(actor=u['admin@pulse.demo'], name='Nobody yet')
    # 2nd level: Ben only; Network: Daniel only; 1st level: all three agents; a queue without members: everyone
    assert await work_queries.queues_not_takeable(daniel) == {q['2nd level']}
    assert await work_queries.queues_not_takeable(ben) == {q['Network']}
    assert await work_queries.queues_not_takeable(maria) == frozenset()  # managers take anywhere
    may_take = {s.name: s.may_take for s in await work_queries.queue_summaries(daniel)}
    assert may_take == {'1st level': True, '2nd level': False, 'Network': True, empty.name: True}
    with pytest.raises(PermissionDenied):
        await work_queries.queues_not_takeable(u['carl@acme.demo'])
