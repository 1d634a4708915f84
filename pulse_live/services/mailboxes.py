"""Mailboxes of the e-mail intake (admins): connect, change, remove; the password or OAuth2 access token is stored
encrypted with the installation's secret (Fernet, key derived from ``resolved_storage_secret``), never shown again.

XOAUTH2 (Microsoft 365, Gmail, where basic auth is off): the access token is stored as given. With a refresh token,
the provider's token endpoint and the app's client id (and secret, for confidential clients) stored too, the intake
refreshes the access token itself (OAuth 2.0 refresh_token grant, RFC 6749 §6, over httpx) when it is about to
expire or the server refuses it, and stores the new one (and a rotated refresh token). Without a refresh token an
admin pastes a fresh access token when it expires; the mailbox shows the sign-in error meanwhile.
"""
from __future__ import annotations

import base64
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select

from .. import auth, db
from ..config import get_settings
from ..errors import NotFound, ValidationError
from ..models import Mailbox, Organisation, OrganisationMailDomain, Queue, Role, User, utcnow
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


def _token_url(value: Any) -> str:
    """The OAuth2 token endpoint: https (plain http only to this machine, e.g. a local proxy or test double)."""
    url = _text('Token endpoint', value, 500, required=False)
    if not url:
        return ''
    parts = urlsplit(url)
    local = parts.hostname in ('localhost', '127.0.0.1', '::1')
    if parts.scheme not in ('https', 'http') or not parts.hostname or (parts.scheme == 'http' and not local):
        raise ValidationError('Token endpoint must be an https:// address (e.g. '
                              'https://login.microsoftonline.com/<tenant>/oauth2/v2.0/token).')
    return url


async def save_mailbox(*, actor: User, mailbox_id: int | None = None, name: str, host: str, port: int | str,
                       security: str, username: str, secret: str | None = None, auth_mode: str = 'password',
                       folder: str = 'INBOX', queue_id: int | None = None, active: bool = True,
                       oauth_token_url: str | None = None, oauth_client_id: str | None = None,
                       oauth_client_secret: str | None = None, refresh_token: str | None = None) -> Mailbox:
    """Create or change a mailbox. ``secret`` None or '' keeps the stored one (the form never shows it); so do
    ``oauth_client_secret`` and ``refresh_token``. ``oauth_token_url`` and ``oauth_client_id`` None keep theirs."""
    _require_admin(actor, 'save a mailbox')
    oauth: dict[str, Any] = {}
    if oauth_token_url is not None:
        oauth['oauth_token_url'] = _token_url(oauth_token_url)
    if oauth_client_id is not None:
        oauth['oauth_client_id'] = _text('Client id', oauth_client_id, 255, required=False)
    if oauth_client_secret:
        oauth['oauth_client_secret_encrypted'] = encrypt_secret(_text('Client secret', oauth_client_secret, 2000))
    if refresh_token:
        oauth['oauth_refresh_encrypted'] = encrypt_secret(_text('Refresh token', refresh_token, 8000))
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
            box = Mailbox(**values, **oauth, secret_encrypted=encrypt_secret(secret), last_uid=0, last_error='')
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
                box.oauth_expires_at = None  # a pasted token: its expiry is not known
            for key, value in oauth.items():
                setattr(box, key, value)
            action = 'update'
        audit.record(s, actor, entity='mailbox', entity_id=box.id, action=action,
                     summary=f'Mailbox {box.name} ({box.username}@{box.host}) {action}d',
                     data=dict(values) | ({'secret': 'changed'} if secret else {})
                     | {k: ('changed' if k.endswith('_encrypted') else v) for k, v in oauth.items()})
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
    from ..intake.mail.imap import settings_of
    async with unit_of_work() as uow:
        box = await uow.session.get(Mailbox, mailbox_id)
        if box is None:
            raise NotFound('No such mailbox.')
        conf = settings_of(box)
    try:
        connection, uidvalidity, exists = await connect_mailbox(conf, timeout=15)
    except Exception as error:  # noqa: BLE001 — every failure is an answer for the admin
        raise ValidationError(f'Could not connect: {error or type(error).__name__}') from None
    await connection.close()
    return f'Connected: {box.folder} has {exists} mail(s) (UIDVALIDITY {uidvalidity}).'


REFRESH_BEFORE_S = 120  # an access token this close to its expiry is refreshed before signing in


async def refresh_access_token(mailbox_id: int) -> str:
    """A new access token from the provider's token endpoint (refresh_token grant), stored encrypted with its
    expiry (and the refresh token, if the provider rotated it). ValidationError, with the provider's reason, when
    there is nothing to refresh with or the endpoint refuses."""
    import httpx
    async with db.session() as s:
        box = await s.get(Mailbox, mailbox_id)
        if box is None:
            raise NotFound('No such mailbox.')
        url, client_id = box.oauth_token_url, box.oauth_client_id
        refresh, client_secret = decrypt_secret(box.oauth_refresh_encrypted), \
            decrypt_secret(box.oauth_client_secret_encrypted)
    if not (url and client_id and refresh):
        raise ValidationError('The access token cannot be refreshed: enter the token endpoint, the client id and '
                              'a refresh token (or paste a fresh access token).')
    form = {'grant_type': 'refresh_token', 'refresh_token': refresh, 'client_id': client_id}
    if client_secret:
        form['client_secret'] = client_secret
    try:
        async with httpx.AsyncClient(timeout=15, follow_redirects=False) as client:
            response = await client.post(url, data=form, headers={'Accept': 'application/json'})
    except httpx.HTTPError as error:
        raise ValidationError(f'The OAuth2 token endpoint cannot be reached: {type(error).__name__}: '
                              f'{error}'[:300]) from None
    try:
        answer = response.json()
    except ValueError:
        answer = {}
    if not isinstance(answer, dict):
        answer = {}
    token = answer.get('access_token')
    if response.status_code != 200 or not isinstance(token, str) or not token:
        reason = ': '.join(str(answer[k])[:200] for k in ('error', 'error_description') if answer.get(k)) \
            or f'HTTP {response.status_code}'
        raise ValidationError(f'The OAuth2 token endpoint refused to refresh the access token ({reason}); sign in '
                              'again at the provider and enter a new refresh token.')
    expires_in = answer.get('expires_in')
    seconds = int(expires_in) if isinstance(expires_in, (int, float, str)) and str(expires_in).isdigit() else 3600
    rotated = answer.get('refresh_token')
    async with unit_of_work() as uow:
        box = await uow.session.get(Mailbox, mailbox_id)
        if box is None:
            raise NotFound('No such mailbox.')
        box.secret_encrypted = encrypt_secret(token)
        box.oauth_expires_at = utcnow() + timedelta(seconds=seconds)
        if isinstance(rotated, str) and rotated:
            box.oauth_refresh_encrypted = encrypt_secret(rotated)
    return token


async def connect_mailbox(conf: Any, *, timeout: float = 30) -> tuple[Any, int, int]:
    """Open, sign in and select (``intake.mail.imap.connect``); an XOAUTH2 mailbox that can refresh its token does
    so first when the token is about to expire, and once more when the server refuses it."""
    from dataclasses import replace

    from ..intake.mail.imap import ImapError, connect
    refreshed = False
    if conf.auth == 'xoauth2' and conf.refreshable and (
            conf.expires_at is None or conf.expires_at - utcnow() < timedelta(seconds=REFRESH_BEFORE_S)):
        conf = replace(conf, secret=await refresh_access_token(conf.id))
        refreshed = True
    try:
        return await connect(conf, timeout=timeout)
    except ImapError as error:
        if conf.auth != 'xoauth2' or not conf.refreshable or refreshed or 'Sign-in refused' not in str(error):
            raise
    conf = replace(conf, secret=await refresh_access_token(conf.id))
    return await connect(conf, timeout=timeout)
