"""Customers, organisations, services and configuration items: created and edited by agents and admins.

Every save is checked in ``auth.py``, validated (unique e-mail, valid phone and e-mail formats, known
organisation), and written together with an audit row (who, when, before → after) in one transaction.
Nothing is ever deleted: people are deactivated, configuration items retired, services switched off.
"""
from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from .. import auth, contact, db
from ..errors import NotFound, ValidationError
from ..events import AccountChanged, SlaRecomputeRequested
from ..models import ConfigurationItem, ItemKind, Organisation, Role, Service, User, utcnow
from . import api_tokens, audit, sla
from ._uow import unit_of_work
from .users import HANDLE_RE, MIN_PASSWORD

TIER_SUGGESTIONS = ['standard', 'silver', 'gold', 'platinum']
CRITICALITIES = ['low', 'normal', 'high', 'critical']
LIMITS = {'display_name': 200, 'location': 200, 'department': 200, 'name': 200, 'model': 200, 'serial_number': 120,
          'operating_system': 120, 'version': 60, 'installed_software': 5000, 'notes': 5000, 'description': 5000,
          'tier': 40}
LABELS = {'display_name': 'Name', 'email': 'E-mail', 'phone': 'Phone', 'location': 'Location',
          'department': 'Department', 'organisation_id': 'Organisation', 'is_org_admin': 'Organisation admin',
          'is_active': 'Active', 'name': 'Name', 'tier': 'Tier', 'description': 'Description',
          'criticality': 'Criticality', 'kind': 'Kind', 'model': 'Model', 'serial_number': 'Serial number',
          'operating_system': 'Operating system', 'version': 'Version', 'installed_software': 'Installed software',
          'notes': 'Notes', 'user_id': 'Used by', 'handle': 'Handle'}


def _text(field: str, value: Any, *, required: bool = False) -> str:
    if value is None:
        value = ''
    if not isinstance(value, str):
        raise ValidationError(f'{LABELS.get(field, field)} must be text.')
    value = value.replace('\r\n', '\n').strip()
    if field not in ('installed_software', 'notes', 'description'):
        value = ' '.join(value.split())
    if required and not value:
        raise ValidationError(f'{LABELS.get(field, field)} is required.')
    limit = LIMITS.get(field, 200)
    if len(value) > limit:
        raise ValidationError(f'{LABELS.get(field, field)} is too long ({len(value)} characters; at most {limit}).')
    return value


def _email(value: Any, *, kept: str = '') -> str:
    """The address in its stored form (``contact.py``); ``kept``: the person's address now, which may stay."""
    return contact.check_email(value if isinstance(value, str) else '', kept=kept)


def _phone(value: Any, *, kept: str = '') -> contact.Phone:
    """The number for display and its E.164 (``contact.py``); ``kept``: the person's number now, which may stay."""
    return contact.check_phone(value if isinstance(value, str) else '', kept=kept)


def _changes(obj: Any, values: dict[str, Any]) -> dict[str, list[Any]]:
    return {k: [getattr(obj, k), v] for k, v in values.items() if getattr(obj, k) != v}


def _summary(what: str, changes: dict[str, list[Any]]) -> str:
    parts = [f'{LABELS.get(k, k)} {old if old not in (None, "") else "—"} → {new if new not in (None, "") else "—"}'
             for k, (old, new) in changes.items() if k not in ('installed_software', 'notes', 'description')]
    parts += [f'{LABELS[k]} changed' for k in changes if k in ('installed_software', 'notes', 'description')]
    return f'{what}: {"; ".join(parts)}'[:1000]


async def _organisation(session: AsyncSession, organisation_id: Any, *,
                        customers_only: bool = False) -> Organisation:
    try:
        org = await session.get(Organisation, int(organisation_id))
    except (TypeError, ValueError):
        org = None
    if org is None:
        raise ValidationError('Choose an organisation.')
    if customers_only and org.is_provider:
        # the provider's organisation holds its staff and its internal tickets: a customer there would see them
        raise ValidationError(f'{org.name} is the service provider\'s own organisation; '
                              'choose the customer\'s organisation.')
    return org


# --- customers ---

async def save_customer(*, actor: User, user_id: int | None = None, email: str, display_name: str,
                        organisation_id: int, phone: str = '', location: str = '', department: str = '',
                        is_org_admin: bool = False, is_active: bool = True, password: str | None = None) -> User:
    """Create (``user_id`` None) or edit a customer account. A new customer without a password cannot log in
    until one is set (agents register callers; the portal login is optional)."""
    if not auth.can_manage_customers(actor):
        raise auth.deny(actor, 'save customer', user_id or email, 'Only agents can create or edit customers.')
    values: dict[str, Any] = {
        'display_name': _text('display_name', display_name, required=True), 'location': _text('location', location),
        'department': _text('department', department), 'is_org_admin': bool(is_org_admin),
        'is_active': bool(is_active)}
    password_hash = None
    if password:
        if len(password) < MIN_PASSWORD:
            raise ValidationError(f'The password needs at least {MIN_PASSWORD} characters.')
        password_hash = await auth.hash_password(password)
    elif user_id is None:
        password_hash = await auth.hash_password(secrets.token_urlsafe(32))  # nobody knows it: no login yet
    async with unit_of_work() as uow:
        s = uow.session
        # the account as committed, locked until this commit: a second change at the same moment (another agent, a
        # manager, a password link) waits and checks what this one saved. Read unlocked, an agent moving a customer
        # while a manager made them an organisation admin left an organisation admin in an organisation nobody chose
        current = (await s.execute(select(User).where(User.id == user_id).with_for_update(of=User).execution_options(
            populate_existing=True))).scalar_one_or_none() if user_id is not None else None
        if current is not None and current.role != Role.CUSTOMER:  # whatever else is wrong with the form
            raise auth.deny(actor, 'edit staff account', current.email, 'Staff accounts are not edited here.')
        # an address or number saved before today's checks may stay as it is when the form sends it back unchanged
        values['email'] = _email(email, kept=current.email if current else '')
        await db.serialise(s, f'account-email:{values["email"]}')  # checked for a clash, then saved
        number = _phone(phone, kept=current.phone if current else '')
        values['phone'] = number.display
        values['organisation_id'] = (await _organisation(s, organisation_id, customers_only=True)).id
        clash = select(User.id, User.display_name, User.is_active).where(func.lower(User.email) == values['email'])
        if user_id is not None:
            clash = clash.where(User.id != user_id)
        existing = (await s.execute(clash)).first()
        if existing is not None:
            who = f'{existing.display_name} (#{existing.id})'
            if not existing.is_active:
                raise ValidationError(
                    f'A person with the e-mail {values["email"]} exists already: {who}, inactive. Reactivate them '
                    f'instead: on Customers switch on "Show inactive", open {existing.display_name}, Edit, '
                    'tick Active.')
            raise ValidationError(f'A person with the e-mail {values["email"]} exists already: {who}.')
        user: User | None
        if user_id is None:
            if values['is_org_admin'] and not auth.can_grant_org_admin(actor):
                raise auth.deny(actor, 'grant organisation admin to', values['email'],
                            'Only managers and admins can make someone an organisation admin.')
            user = User(role=Role.CUSTOMER.value, password_hash=password_hash, created_at=utcnow(),
                        phone_e164=number.e164, **values)
            s.add(user)
            await s.flush()
            audit.record(s, actor, entity='customer', entity_id=user.id, action='create',
                         summary=f'Customer {user.display_name} <{user.email}> created',
                         data=dict(values))
            return user
        user = await s.get(User, user_id)
        if user is None:
            raise NotFound('No such customer.')
        if user.role != Role.CUSTOMER:
            raise auth.deny(actor, 'edit staff account', user.email, 'Staff accounts are not edited here.')
        changes = _changes(user, values)
        if 'is_org_admin' in changes and not auth.can_grant_org_admin(actor):
            raise auth.deny(actor, 'change organisation admin of', user.email,
                        'Only managers and admins can change who is an organisation admin.')
        if 'organisation_id' in changes and user.is_org_admin and not auth.can_grant_org_admin(actor):
            # an organisation admin sees every request of their organisation: moving one widens their reach
            raise auth.deny(actor, 'move organisation admin', user.email,
                        'Only managers and admins can move an organisation admin to another organisation.')
        for key, (_, new) in changes.items():
            setattr(user, key, new)
        user.phone_e164 = number.e164
        if password_hash:
            user.password_hash = password_hash
            changes['password'] = ['', 'set']
        if changes:
            audit.record(s, actor, entity='customer', entity_id=user.id, action='update',
                         summary=_summary(f'Customer {user.display_name}', changes), data=changes)
        if password_hash or changes.get('is_active') == [True, False] or 'email' in changes:
            # a password the help desk sets is a rescue of the account: its API tokens end, as with a reset link;
            # and so they do with another sign-in address, as the sessions do (below): a token is a standing session
            await api_tokens.revoke_all_of(s, user.id, by_id=actor.id)
        if changes.keys() & {'is_active', 'email'}:
            # deactivated, reactivated or another sign-in address: the sessions and password links made before end
            # (a link mailed to the old address, whose mailbox may be somebody else's now, took the account over; a
            # link made before a deactivation worked again after the reactivation)
            await auth.end_access(s, user)
        if changes.keys() & {'is_active', 'organisation_id', 'is_org_admin', 'password', 'email'}:
            uow.publish_after_commit(AccountChanged(user_id=user.id))  # their open pages re-check at once
        return user


# --- organisations ---

async def save_organisation(*, actor: User, organisation_id: int | None = None, name: str,
                            tier: str = 'standard') -> Organisation:
    if not auth.can_manage_organisations(actor):
        raise auth.deny(actor, 'save organisation', organisation_id or name,
                    'Only managers and admins can create or edit organisations.')
    values = {'name': _text('name', name, required=True), 'tier': _text('tier', tier, required=True).lower()}
    if not HANDLE_RE.match(values['tier']):
        raise ValidationError('A tier is one word (letters, digits, dots, dashes), e.g. standard or gold.')
    async with unit_of_work() as uow:
        s = uow.session
        await db.serialise(s, 'organisation-names')  # checked for a clash, then saved: one at a time
        clash = select(Organisation.id).where(func.lower(Organisation.name) == values['name'].lower())
        if organisation_id is not None:
            clash = clash.where(Organisation.id != organisation_id)
        if (await s.execute(clash)).first():
            raise ValidationError(f'An organisation named {values["name"]} exists already.')
        org: Organisation | None
        if organisation_id is None:
            org = Organisation(**values, is_provider=False, created_at=utcnow())
            s.add(org)
            await s.flush()
            audit.record(s, actor, entity='organisation', entity_id=org.id, action='create',
                         summary=f'Organisation {org.name} ({org.tier}) created', data=values)
            return org
        org = await s.get(Organisation, organisation_id)
        if org is None:
            raise NotFound('No such organisation.')
        changes = _changes(org, values)
        for key, (_, new) in changes.items():
            setattr(org, key, new)
        if changes:
            audit.record(s, actor, entity='organisation', entity_id=org.id, action='update',
                         summary=_summary(f'Organisation {org.name}', changes), data=changes)
        if 'tier' in changes:  # SLA policies may match on the tier: the worker recomputes the open tickets' clocks
            await sla.request_recompute(s, reason=f'Organisation {org.name}: tier changed',
                                        organisation_id=org.id)
            uow.publish_after_commit(SlaRecomputeRequested())
    return org


# --- services ---

async def save_service(*, actor: User, service_id: int | None = None, name: str, description: str = '',
                       criticality: str = 'normal', is_active: bool = True) -> Service:
    if not auth.can_manage_services(actor):
        raise auth.deny(actor, 'save service', service_id or name, 'Only admins can create or edit services.')
    if criticality not in CRITICALITIES:
        raise ValidationError(f'Criticality is one of {", ".join(CRITICALITIES)}.')
    values: dict[str, Any] = {'name': _text('name', name, required=True),
                              'description': _text('description', description),
                              'criticality': criticality, 'is_active': bool(is_active)}
    async with unit_of_work() as uow:
        s = uow.session
        clash = select(Service.id).where(func.lower(Service.name) == values['name'].lower())
        if service_id is not None:
            clash = clash.where(Service.id != service_id)
        if (await s.execute(clash)).first():
            raise ValidationError(f'A service named {values["name"]} exists already.')
        service: Service | None
        if service_id is None:
            service = Service(**values)
            s.add(service)
            await s.flush()
            audit.record(s, actor, entity='service', entity_id=service.id, action='create',
                         summary=f'Service {service.name} ({service.criticality}) created', data=values)
            return service
        service = await s.get(Service, service_id)
        if service is None:
            raise NotFound('No such service.')
        changes = _changes(service, values)
        for key, (_, new) in changes.items():
            setattr(service, key, new)
        if changes:
            audit.record(s, actor, entity='service', entity_id=service.id, action='update',
                         summary=_summary(f'Service {service.name}', changes), data=changes)
        return service


# --- configuration items ---

async def save_configuration_item(*, actor: User, item_id: int | None = None, organisation_id: int | None = None,
                                  user_id: int | None = None, kind: str = 'hardware', name: str, model: str = '',
                                  serial_number: str = '', operating_system: str = '', version: str = '',
                                  installed_software: str = '', notes: str = '',
                                  is_active: bool = True) -> ConfigurationItem:
    """A piece of hardware or software of a customer organisation, used by one of its people (or shared)."""
    if not auth.can_manage_customers(actor):
        raise auth.deny(actor, 'save configuration item', item_id or name,
                    'Only agents can record configuration items.')
    try:
        kind = ItemKind(kind).value
    except ValueError:
        raise ValidationError('Kind is hardware or software.') from None
    software = '\n'.join(line.strip() for line in _text('installed_software', installed_software).splitlines()
                         if line.strip())
    values: dict[str, Any] = {
        'kind': kind, 'name': _text('name', name, required=True), 'model': _text('model', model),
        'serial_number': _text('serial_number', serial_number), 'operating_system': _text('operating_system',
                                                                                          operating_system),
        'version': _text('version', version), 'installed_software': software, 'notes': _text('notes', notes),
        'is_active': bool(is_active)}
    async with unit_of_work() as uow:
        s = uow.session
        person = None
        if user_id not in (None, ''):
            try:
                person = await s.get(User, int(user_id))
            except (TypeError, ValueError):
                person = None
            if person is None:
                raise ValidationError('No such person.')
        if organisation_id in (None, '') and person is not None:
            organisation_id = person.organisation_id
        org = await _organisation(s, organisation_id)
        if person is not None and person.organisation_id != org.id:
            raise ValidationError(f'{person.display_name} does not belong to {org.name}.')
        values['organisation_id'], values['user_id'] = org.id, person.id if person else None
        item: ConfigurationItem | None
        if item_id is None:
            item = ConfigurationItem(**values, created_at=utcnow(), updated_at=utcnow())
            s.add(item)
            await s.flush()
            audit.record(s, actor, entity='configuration_item', entity_id=item.id, action='create',
                         summary=f'{ItemKind(kind).label} {item.name} recorded for '
                                 f'{person.display_name if person else org.name}', data={'name': item.name})
            return item
        item = await s.get(ConfigurationItem, item_id)
        if item is None:
            raise NotFound('No such configuration item.')
        changes = _changes(item, values)
        for key, (_, new) in changes.items():
            setattr(item, key, new)
        if changes:
            item.updated_at = utcnow()
            action = 'retire' if changes.get('is_active') == [True, False] else 'update'
            audit.record(s, actor, entity='configuration_item', entity_id=item.id, action=action,
                         summary=_summary(f'Item {item.name}', changes), data=changes)
        return item


async def set_item_active(*, actor: User, item_id: int, active: bool) -> ConfigurationItem:
    """Retire an item (kept in the history, hidden from the caller card) or bring it back."""
    if not auth.can_manage_customers(actor):
        raise auth.deny(actor, 'retire configuration item', item_id, 'Only agents can retire configuration items.')
    async with unit_of_work() as uow:
        item = await uow.session.get(ConfigurationItem, item_id)
        if item is None:
            raise NotFound('No such configuration item.')
        if item.is_active != active:
            item.is_active, item.updated_at = active, utcnow()
            audit.record(uow.session, actor, entity='configuration_item', entity_id=item.id,
                         action='update' if active else 'retire',
                         summary=f'Item {item.name} {"back in use" if active else "retired"}')
        return item
