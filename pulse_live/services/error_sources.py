"""Reporting sources for automatic error reports (admins): create one tied to a service, an organisation and a queue
(its DSN is shown then and on the admin page), revoke it. Audited.

Each source gets its own account, the acting user of everything the source does (it opens the tickets and writes
their history): an agent account of the provider that is never active and has no usable password, so nobody can
sign in with it, and the history names the source ("Error reports: Shop backend opened the ticket …").
"""
from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select

from .. import auth
from ..config import get_settings
from ..errors import NotFound, ValidationError
from ..models import ErrorSource, Organisation, Queue, Role, Service, User, utcnow
from . import audit
from ._uow import unit_of_work
from .error_reports import source_keys

NAME_LIMIT = 120
MAX_RATE = 1_000_000


def _require_admin(actor: User, action: str, target: object = '') -> None:
    if actor.role != Role.ADMIN:
        raise auth.deny(actor, action, target, 'Only admins manage error reporting sources.')


def dsn(source: ErrorSource | Any, base_url: str | None = None) -> str:
    """``http(s)://<public key>@<host>[/<path>]/<source id>``: what an application sets as its Sentry DSN."""
    parts = urlsplit(base_url or get_settings().base_url)
    path = parts.path.rstrip('/')
    return f'{parts.scheme or "http"}://{source.public_key}@{parts.netloc}{path}/{source.id}'


def _int_or_none(value: Any, what: str) -> int | None:
    if value in (None, ''):
        return None
    if isinstance(value, bool):
        raise ValidationError(f'{what}: not a valid choice.')
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ValidationError(f'{what}: not a valid choice.') from None


async def create_source(*, actor: User, name: str, organisation_id: Any, queue_id: Any, service_id: Any = None,
                        contact_id: Any = None, rate_limit_per_minute: Any = None) -> ErrorSource:
    """A new reporting source with a fresh key. Its tickets go to ``queue_id`` for ``service_id``; ``contact_id``
    (a customer of the organisation, optional) becomes their customer, so the organisation sees them in the portal
    (without the technical details); without a contact the tickets stay with the provider's staff."""
    _require_admin(actor, 'create error source', name)
    name = (name or '').strip() if isinstance(name, str) else ''
    if not name:
        raise ValidationError('Name is required.')
    if len(name) > NAME_LIMIT:
        raise ValidationError(f'The name is too long ({len(name)} characters; at most {NAME_LIMIT}).')
    org_id = _int_or_none(organisation_id, 'Organisation')
    q_id = _int_or_none(queue_id, 'Queue')
    svc_id = _int_or_none(service_id, 'Service')
    person_id = _int_or_none(contact_id, 'Contact')
    if org_id is None:
        raise ValidationError('Choose the organisation whose application reports here.')
    if q_id is None:
        raise ValidationError('Choose the queue its tickets go to.')
    rate = get_settings().error_rate_limit_default if rate_limit_per_minute in (None, '') else \
        _int_or_none(rate_limit_per_minute, 'Rate limit')
    if rate is None or not 1 <= rate <= MAX_RATE:
        raise ValidationError(f'The rate limit is a number of events per minute, 1 to {MAX_RATE}.')
    async with unit_of_work() as uow:
        s = uow.session
        if await s.get(Organisation, org_id) is None:
            raise ValidationError('Organisation: no such choice.')
        if await s.get(Queue, q_id) is None:
            raise ValidationError('Queue: no such choice.')
        if svc_id is not None and await s.get(Service, svc_id) is None:
            raise ValidationError('Service: no such choice.')
        if person_id is not None:
            person = await s.get(User, person_id)
            if person is None or person.role != Role.CUSTOMER or person.organisation_id != org_id:
                raise ValidationError('Contact: choose a customer of that organisation.')
        provider = (await s.execute(select(Organisation.id).where(Organisation.is_provider.is_(True))
                                    .order_by(Organisation.id).limit(1))).scalar_one_or_none()
        key = secrets.token_hex(16)
        account = User(email=f'error-source-{key[:16]}@error-reports.invalid', password_hash='!unusable',
                       role=Role.AGENT.value, display_name=f'Error reports: {name}'[:200],
                       organisation_id=provider or actor.organisation_id, is_active=False,
                       email_notifications=False)
        s.add(account)
        await s.flush()
        source = ErrorSource(name=name, public_key=key, is_active=True, service_id=svc_id, organisation_id=org_id,
                             queue_id=q_id, contact_id=person_id, user_id=account.id, rate_limit_per_minute=rate,
                             rate_limited=0, created_by_id=actor.id, created_at=utcnow())
        s.add(source)
        await s.flush()
        audit.record(s, actor, entity='error_source', entity_id=source.id, action='create',
                     summary=f'Created error reporting source {name}',
                     data={'after': {'name': name, 'organisation_id': org_id, 'queue_id': q_id,
                                     'service_id': svc_id, 'contact_id': person_id, 'rate_limit_per_minute': rate,
                                     'user_id': account.id}})
    return source


async def revoke_source(*, actor: User, source_id: Any) -> ErrorSource:
    """Revoke a source's key: its reports are refused (403) from then on. Its groups and tickets stay."""
    _require_admin(actor, 'revoke error source', source_id)
    sid = _int_or_none(source_id, 'Source')
    async with unit_of_work() as uow:
        source = await uow.session.get(ErrorSource, sid) if sid is not None else None
        if source is None:
            raise NotFound('No such error reporting source.')
        if source.is_active:
            source.is_active, source.revoked_at = False, utcnow()
            audit.record(uow.session, actor, entity='error_source', entity_id=source.id, action='update',
                         summary=f'Revoked error reporting source {source.name}',
                         data={'before': {'is_active': True}, 'after': {'is_active': False}})
    source_keys.forget(source.public_key)  # this process refuses it at once; others within PULSE_ERROR_KEY_CACHE_S
    return source
