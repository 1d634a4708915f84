"""Outgoing webhooks, for admins: endpoints (name, URL, secret) and their deliveries (retry now, discard).

A delivery is a row of ``webhook_deliveries`` written by ``enqueue`` inside the transaction of the change that causes
it (an escalation's firing), so the change and its news are stored together or not at all; the sender
(``pulse_live/notify/webhooks.py``) posts it later, signed, with retries and dead letters.

**Where a webhook may go.** Only ``http``/``https`` URLs with a host; never into private, loopback, link-local,
multicast, reserved or unspecified addresses (the host is resolved when the endpoint is saved and again by the sender
for every connection, so a name that later points inside — DNS rebinding — is refused too), unless the admin setting
``PULSE_WEBHOOK_ALLOW_PRIVATE`` allows them (a gateway on the LAN; the tests). Every change is audited.
"""
from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from .. import auth
from ..errors import NotFound, ValidationError
from ..models import Role, User, WebhookDelivery, WebhookEndpoint, utcnow
from ..notify import webhooks as sender
from ..notify.webhooks import WebhookUrlError, address_refusal, check_url, check_url_form
from . import audit
from ._uow import unit_of_work

__all__ = ['WebhookUrlError', 'address_refusal', 'check_url', 'check_url_form', 'create_endpoint',
           'delete_endpoint', 'discard_delivery', 'enqueue', 'retry_delivery', 'update_endpoint']


def _require_admin(actor: User, what: str, target: object = '') -> None:
    if actor.role != Role.ADMIN:
        raise auth.deny(actor, f'change {what}', target, 'Only admins can change webhooks.')


def _name(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationError('Give the webhook a name.')
    if len(value.strip()) > 200:
        raise ValidationError('The name is too long (at most 200 characters).')
    return value.strip()


def _secret(value: Any) -> str:
    if value is None or value == '':
        return secrets.token_urlsafe(32)
    if not isinstance(value, str) or len(value.strip()) < 16 or len(value) > 200:
        raise ValidationError('The secret must be 16 to 200 characters (leave it empty to have one made).')
    return value.strip()


async def _name_taken(session: AsyncSession, name: str, except_id: int | None = None) -> bool:
    query = select(WebhookEndpoint.id).where(WebhookEndpoint.name == name)
    if except_id is not None:
        query = query.where(WebhookEndpoint.id != except_id)
    return (await session.execute(query)).first() is not None


async def create_endpoint(*, actor: User, name: str, url: str, secret: str | None = None) -> WebhookEndpoint:
    """A new endpoint (admins); the secret is made when none is given (shown on the admin page to copy)."""
    _require_admin(actor, 'webhooks')
    clean_name, clean_secret = _name(name), _secret(secret)
    clean_url = await check_url(url)
    async with unit_of_work() as uow:
        if await _name_taken(uow.session, clean_name):
            raise ValidationError(f'A webhook named {clean_name!r} exists already.')
        endpoint = WebhookEndpoint(name=clean_name, url=clean_url, secret=clean_secret, created_at=utcnow())
        uow.session.add(endpoint)
        await uow.session.flush()
        audit.record(uow.session, actor, entity='webhook', entity_id=endpoint.id, action='create',
                     summary=f'Webhook {clean_name} → {clean_url}', data={'url': clean_url})
    return endpoint


async def update_endpoint(*, actor: User, endpoint_id: int, name: str, url: str, is_active: bool = True,
                          new_secret: str | None = None) -> WebhookEndpoint:
    _require_admin(actor, 'webhooks', endpoint_id)
    clean_name = _name(name)
    clean_url = await check_url(url)
    async with unit_of_work() as uow:
        endpoint = await uow.session.get(WebhookEndpoint, endpoint_id)
        if endpoint is None:
            raise NotFound('That webhook does not exist (any more).')
        if await _name_taken(uow.session, clean_name, endpoint_id):
            raise ValidationError(f'A webhook named {clean_name!r} exists already.')
        before = {'name': endpoint.name, 'url': endpoint.url, 'is_active': endpoint.is_active}
        endpoint.name, endpoint.url, endpoint.is_active = clean_name, clean_url, bool(is_active)
        if new_secret is not None:
            endpoint.secret = _secret(new_secret)
        audit.record(uow.session, actor, entity='webhook', entity_id=endpoint.id, action='update',
                     summary=f'Webhook {clean_name} changed', data={'before': before, 'url': clean_url,
                                                                   'secret_changed': new_secret is not None})
    return endpoint


async def delete_endpoint(*, actor: User, endpoint_id: int) -> None:
    _require_admin(actor, 'webhooks', endpoint_id)
    async with unit_of_work() as uow:
        endpoint = await uow.session.get(WebhookEndpoint, endpoint_id)
        if endpoint is None:
            raise NotFound('That webhook does not exist (any more).')
        audit.record(uow.session, actor, entity='webhook', entity_id=endpoint.id, action='delete',
                     summary=f'Webhook {endpoint.name} deleted', data={'url': endpoint.url})
        await uow.session.delete(endpoint)


def enqueue(session: AsyncSession, *, endpoint: WebhookEndpoint, payload: dict[str, Any], ticket_id: int | None,
            event: str = 'escalation') -> WebhookDelivery:
    """A delivery in the caller's transaction (stored with the change, or not at all)."""
    now = utcnow()
    row = WebhookDelivery(endpoint_id=endpoint.id, ticket_id=ticket_id, event=event, payload=payload, status='pending',
                          attempts=0, next_attempt_at=now, created_at=now, last_error='')
    session.add(row)
    return row


async def _delivery(session: AsyncSession, delivery_id: int) -> WebhookDelivery:
    row = await session.get(WebhookDelivery, delivery_id)
    if row is None:
        raise NotFound('That delivery does not exist (any more).')
    return row


async def retry_delivery(*, actor: User, delivery_id: int) -> None:
    """Send a waiting or dead delivery again now (a fresh set of tries)."""
    _require_admin(actor, 'webhook deliveries', delivery_id)
    async with unit_of_work() as uow:
        row = await _delivery(uow.session, delivery_id)
        if row.status == 'sent':
            raise ValidationError('This delivery was sent already.')
        row.status, row.attempts, row.next_attempt_at, row.locked_until = 'pending', 0, utcnow(), None
        audit.record(uow.session, actor, entity='webhook_delivery', entity_id=row.id, action='retry',
                     summary=f'Webhook delivery {row.id} sent again')
    sender.wake()


async def discard_delivery(*, actor: User, delivery_id: int) -> None:
    """Give up a waiting or dead delivery (kept as discarded, for the record)."""
    _require_admin(actor, 'webhook deliveries', delivery_id)
    async with unit_of_work() as uow:
        row = await _delivery(uow.session, delivery_id)
        if row.status == 'sent':
            raise ValidationError('This delivery was sent already.')
        row.status, row.locked_until = 'discarded', None
        audit.record(uow.session, actor, entity='webhook_delivery', entity_id=row.id, action='discard',
                     summary=f'Webhook delivery {row.id} discarded')
