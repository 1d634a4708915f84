"""Every write names who acts: accounts and organisations made by an admin or by the system are audited; a refusal is
logged with the person refused, whichever service refuses."""
import logging

import pytest
from sqlalchemy import select

from pulse_live import db
from pulse_live.errors import PermissionDenied
from pulse_live.models import AuditLog, User
from pulse_live.services import ownership, prioritisation, rule_admin, team, tickets, users


async def _audit(entity: str, entity_id: int) -> list[tuple[int | None, str, dict | None]]:
    async with db.session() as s:
        rows = (await s.execute(select(AuditLog).where(AuditLog.entity == entity, AuditLog.entity_id == entity_id)
                                .order_by(AuditLog.id))).scalars()
        return [(r.actor_id, r.action, r.data) for r in rows]


async def test_an_admin_or_the_system_creates_accounts_and_the_audit_log_says_who(people):
    admin = people.users['admin@pulse.demo']
    org = await users.create_organisation(actor=admin, name='Initech')
    zoe = await users.create_user(actor=admin, email='zoe@initech.example', password='secret', role='customer',
                                  display_name='Zoe', organisation_id=org.id)
    [(actor_id, action, data)] = await _audit('user', zoe.id)
    assert (actor_id, action, data['after']['email']) == (admin.id, 'create', 'zoe@initech.example')
    assert [(a, act) for a, act, _ in await _audit('organisation', org.id)] == [(admin.id, 'create')]
    # the command line and the demo seed act as the system
    sam = await users.create_user(actor=None, email='sam@initech.example', password='secret', role='customer',
                                  display_name='Sam', organisation_id=org.id)
    [(actor_id, action, data)] = await _audit('user', sam.id)
    assert (actor_id, action, data['by']) == (None, 'create', 'system')


async def test_only_admins_create_accounts_and_managers_organisations(people, caplog):
    anna, maria = people.users['anna@pulse.demo'], people.users['maria@pulse.demo']
    with caplog.at_level(logging.WARNING, logger='pulse_live.security'):
        with pytest.raises(PermissionDenied, match='Only admins'):
            await users.create_user(actor=maria, email='x@pulse.demo', password='secret', role='admin',
                                    display_name='X', organisation_id=people.orgs['provider'])
        with pytest.raises(PermissionDenied, match='Only managers and admins'):
            await users.create_organisation(actor=anna, name='Anna Inc')
    assert any(f'user {maria.id}' in r.getMessage() and 'create user' in r.getMessage() for r in caplog.records)
    assert any(f'user {anna.id}' in r.getMessage() for r in caplog.records)
    async with db.session() as s:
        assert (await s.execute(select(User.id).where(User.email == 'x@pulse.demo'))).first() is None
    org = await users.create_organisation(actor=maria, name='Maria Inc')  # a manager may
    assert org.id


async def test_refusals_of_every_service_are_logged_with_who_was_refused(people, caplog):
    anna, carl = people.users['anna@pulse.demo'], people.users['carl@acme.demo']
    ticket = await tickets.create_ticket(actor=anna, title='Printer', customer_id=carl.id)
    refusals = [
        lambda: ownership.take_ticket(actor=carl, ticket_id=ticket.id),
        lambda: team.add_member(actor=carl, ticket_id=ticket.id, user_id=anna.id),
        lambda: prioritisation.set_assessment(actor=carl, ticket_id=ticket.id, expected_version=ticket.version,
                                              impact='high'),
        lambda: rule_admin.create_priority_rule(actor=anna, kind='keyword', match='printer', raise_by=1),
        lambda: tickets.update_ticket(actor=carl, ticket_id=ticket.id, expected_version=ticket.version,
                                      changes={'priority_id': ticket.priority_id}),
    ]
    for refuse in refusals:
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger='pulse_live.security'), pytest.raises(PermissionDenied):
            await refuse()
        assert [r.getMessage().startswith('refused: user ') for r in caplog.records] == [True]
