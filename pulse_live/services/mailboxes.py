"""Mailboxes of the e-mail intake (admins): connect, change, remove; the password or OAuth2 access token is stored
encrypted with the installation's secret (Fernet, key derived from ``resolved_storage_secret``), never shown again.

An access token (XOAUTH2, for Microsoft 365 and Gmail, where basic auth is off) is stored as given; refreshing it
with a refresh token is not done here (an admin pastes a fresh token when it expires; the mailbox shows the login
error meanwhile).
"""
from __future__ import annotations

import base64
from typing import Any

from sqlalchemy import select

from .. import auth
from ..config import get_settings
from ..errors import NotFound, ValidationError
from ..models import Mailbox, Organisation, OrganisationMailDomain, Queue, Role, User
from . import audit
from ._uow import unit_of_work

SECURITY = ('none', 'starttls', 'tls')
AUTH_MODES = ('password', 'xoauth2')


def _fernet() -> Any:
    from cryptography.fernet import Fernet
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF
    secret = get_settings().resolved_storage_secret().encode()
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=b'pulse-live', info=b'mailbox secrets').derive(secret)
    return Fernet(base64.urlsafe_b64encode(key))


def encrypt_secret(value: str) -> str:
    return _fernet().encrypt(value.encode()).decode() if value else ''


def decrypt_secret(value: str) -> str:
    """The stored password/token; ValidationError when the installation's secret changed since it was stored."""
    from cryptography.fernet import InvalidToken
    if not value:
        return ''
    try:
        return str(_fernet().decrypt(value.encode()).decode())
    except InvalidToken:
        raise ValidationError('The stored password cannot be read (the installation secret changed): '
                              'enter it again.') from None


def _require_admin(actor: User, action: str) -> None:
    auth.require_role(actor, Role.ADMIN, action=action)


def _text(label: str, value: Any, limit: int, *, required: bool = True) -> str:
    if value is None:
        value = ''
    if not isinstance(value, str):
        raise ValidationError(f'{label} must be text.')
    value = value.strip()
    if required and not value:
        raise ValidationError(f'{label} is required.')
    if len(value) > limit or any(ch in value for ch in '\r\n\x00'):
        raise ValidationError(f'{label} is too long or contains line breaks (at most {limit} characters).')
    return value


async def save_mailbox(*, actor: User, mailbox_id: int | None = None, name: str, host: str, port: int | str,
                       security: str, username: str, secret: str | None = None, auth_mode: str = 'password',
                       folder: str = 'INBOX', queue_id: int | None = None, active: bool = True) -> Mailbox:
    """Create or change a mailbox. ``secret`` None or '' keeps the stored one (the form never shows it)."""
    _require_admin(actor, 'save a mailbox')
    values: dict[str, Any] = {
        'name': _text('Name', name, 200), 'host': _text('Host', host, 255), 'username': _text('User', username, 255),
        'folder': _text('Folder', folder or 'INBOX', 255)}
    try:
        values['port'] = int(port)
    except (TypeError, ValueError):
        raise ValidationError('Port must be a number.') from None
    if not 1 <= values['port'] <= 65535:
        raise ValidationError('Port must be between 1 and 65535.')
    if security not in SECURITY:
        raise ValidationError(f'Security must be one of {", ".join(SECURITY)}.')
    if auth_mode not in AUTH_MODES:
        raise ValidationError('Sign-in must be a password or an OAuth2 access token (XOAUTH2).')
    values.update(security=security, auth=auth_mode, active=bool(active))
    async with unit_of_work() as uow:
        s = uow.session
        if queue_id is not None and await s.get(Queue, queue_id) is None:
            raise ValidationError('No such queue.')
        values['queue_id'] = queue_id
        clash = select(Mailbox.id).where(Mailbox.name == values['name'])
        if mailbox_id is not None:
            clash = clash.where(Mailbox.id != mailbox_id)
        if (await s.execute(clash)).first() is not None:
            raise ValidationError(f'A mailbox called {values["name"]} exists already.')
        if mailbox_id is None:
            if not secret:
                raise ValidationError('Enter the password (or access token).')
            box = Mailbox(**values, secret_encrypted=encrypt_secret(secret), last_uid=0, last_error='')
            s.add(box)
            await s.flush()
            action = 'create'
        else:
            found = await s.get(Mailbox, mailbox_id)
            if found is None:
                raise NotFound('No such mailbox.')
            box = found
            if (box.host, box.port, box.username, box.folder) != (values['host'], values['port'], values['username'],
                                                                   values['folder']):
                box.uidvalidity, box.last_uid = None, 0  # another mailbox: start from its current end
            for key, value in values.items():
                setattr(box, key, value)
            if secret:
                box.secret_encrypted = encrypt_secret(secret)
            action = 'update'
        audit.record(s, actor, entity='mailbox', entity_id=box.id, action=action,
                     summary=f'Mailbox {box.name} ({box.username}@{box.host}) {action}d',
                     data=dict(values) | ({'secret': 'changed'} if secret else {}))
        await s.flush()
        s.expunge(box)
        return box


async def delete_mailbox(*, actor: User, mailbox_id: int) -> None:
    _require_admin(actor, 'delete a mailbox')
    async with unit_of_work() as uow:
        box = await uow.session.get(Mailbox, mailbox_id)
        if box is None:
            raise NotFound('No such mailbox.')
        audit.record(uow.session, actor, entity='mailbox', entity_id=box.id, action='delete',
                     summary=f'Mailbox {box.name} deleted', data={})
        await uow.session.delete(box)


async def set_mail_domains(*, actor: User, organisation_id: int, domains: list[str]) -> list[str]:
    """The e-mail domains of a customer organisation (unknown senders from them become its customers)."""
    _require_admin(actor, 'set the mail domains of an organisation')
    cleaned = sorted({d.strip().lower().lstrip('@') for d in domains if d and d.strip()})
    for domain in cleaned:
        if '.' not in domain or len(domain) > 253 or any(c.isspace() or c in '@/<>' for c in domain):
            raise ValidationError(f'{domain!r} is not a mail domain.')
    async with unit_of_work() as uow:
        s = uow.session
        org = await s.get(Organisation, organisation_id)
        if org is None:
            raise NotFound('No such organisation.')
        if org.is_provider:
            raise ValidationError('The provider organisation holds staff: its domain cannot file customers.')
        taken = (await s.execute(select(OrganisationMailDomain.domain).where(
            OrganisationMailDomain.domain.in_(cleaned), OrganisationMailDomain.organisation_id != org.id))).scalars()
        clash = list(taken)
        if clash:
            raise ValidationError(f'{", ".join(clash)} belongs to another organisation.')
        for row in (await s.execute(select(OrganisationMailDomain).where(
                OrganisationMailDomain.organisation_id == org.id))).scalars():
            await s.delete(row)
        await s.flush()
        for domain in cleaned:
            s.add(OrganisationMailDomain(organisation_id=org.id, domain=domain))
        audit.record(s, actor, entity='organisation', entity_id=org.id, action='update',
                     summary=f'Mail domains of {org.name}: {", ".join(cleaned) or "none"}', data={'domains': cleaned})
    return cleaned


async def test_connection(*, actor: User, mailbox_id: int) -> str:
    """Sign in and select the folder; the answer says what was found (or raises ValidationError with why not)."""
    _require_admin(actor, 'test a mailbox')
    from ..intake.mail.imap import connect, settings_of
    async with unit_of_work() as uow:
        box = await uow.session.get(Mailbox, mailbox_id)
        if box is None:
            raise NotFound('No such mailbox.')
        conf = settings_of(box)
    try:
        connection, uidvalidity, exists = await connect(conf, timeout=15)
    except Exception as error:  # noqa: BLE001 — every failure is an answer for the admin
        raise ValidationError(f'Could not connect: {error or type(error).__name__}') from None
    await connection.close()
    return f'Connected: {box.folder} has {exists} mail(s) (UIDVALIDITY {uidvalidity}).'
