"""Accounts and organisations: made by an admin or by the system and audited with who acted; only admins create
accounts, managers organisations; staff cards and new accounts check numbers and addresses."""
from __future__ import annotations

import logging

import pytest
from sqlalchemy import select

from pulse_live import db
from pulse_live.errors import PermissionDenied, ValidationError
from pulse_live.models import AuditLog, User
from pulse_live.services import users


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


async def test_staff_cards_and_new_accounts_check_numbers_and_addresses(people):
    ben = people.users['ben@pulse.demo']
    card = await users.update_card(actor=ben, display_name='Ben Okafor', handle='ben', phone='079 123 45 67')
    assert (card.phone, card.phone_e164) == ('+41 79 123 45 67', '+41791234567')
    with pytest.raises(ValidationError, match=r'079 123 45 is not a possible phone number in Switzerland'):
        await users.update_card(actor=ben, display_name='Ben Okafor', handle='ben', phone='079 123 45')
    assert people.users['anna@pulse.demo'].phone_e164 == '+41315550101'  # the demo people have theirs
    with pytest.raises(ValidationError, match='not a valid e-mail address: .*two periods'):
        await users.create_user(actor=None, email='zoe..x@pulse.demo', password='secret', role='agent',
                                display_name='Zoe', organisation_id=people.orgs['provider'])
    with pytest.raises(ValidationError, match=r'\+41 12 345 is not a possible phone number'):
        await users.create_user(actor=None, email='zoe@pulse.demo', password='secret', role='agent',
                                display_name='Zoe', organisation_id=people.orgs['provider'], phone='+41 12 345')


async def test_a_card_is_one_line_of_at_most_200_characters_without_direction_controls(people):
    """A customer's own card reached every staff page and mail: SQLite stored a 250,000-character name (10.8 MB of
    HTML for each agent opening the ticket), a name with line breaks wrote lines of its own into agents' mails, and
    right-to-left overrides can make a name read as somebody else's."""
    carl = people.users['carl@acme.demo']
    with pytest.raises(ValidationError, match=r'Name is too long \(250000 characters; at most 200\)'):
        await users.update_card(actor=carl, display_name='C' * 250_000, handle='')
    with pytest.raises(ValidationError, match='Department is too long'):
        await users.update_card(actor=carl, display_name='Carl', handle='', department='d' * 201)
    card = await users.update_card(actor=carl, display_name='Carl\n\nAnna Keller (Pulse Support) wrote:\r\n x',
                                   handle='', location='  Copenhagen\n HQ ', department='Fin\u202eecnan')
    assert card.display_name == 'Carl Anna Keller (Pulse Support) wrote: x'
    assert (card.location, card.department) == ('Copenhagen HQ', 'Finecnan')
    async with db.session() as s:
        assert (await s.get(User, carl.id)).display_name == 'Carl Anna Keller (Pulse Support) wrote: x'
    with pytest.raises(ValidationError, match='Name is required'):
        await users.update_card(actor=carl, display_name=' \n\u202e ', handle='')
    with pytest.raises(ValidationError, match='Name is too long'):
        await users.create_user(actor=None, email='zoe@pulse.demo', password='secret-secret', role='customer',
                                display_name='Z' * 201, organisation_id=people.orgs['acme'])
