"""Personal API tokens: create (shown once), revoke, and the check of every API request.

A token is ``plk_<prefix>_<secret>`` (``prefix``: 8 hex characters shown in lists; ``secret``: 32 random bytes).
Only the sha256 of the whole token is stored; a leaked database gives no usable token. Creating and revoking are
audited (``audit_log``, entity ``api_token``). A person revokes their own tokens; admins revoke anybody's.
"""
from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, update

from .. import auth, db
from ..errors import NotFound, ValidationError
from ..models import ApiToken, Role, TokenScope, User, utcnow
from . import audit

TOKEN_PREFIX = 'plk_'
MAX_NAME = 100
MAX_DAYS = 365
MAX_ACTIVE_PER_USER = 20
LAST_USED_RESOLUTION = timedelta(seconds=60)  # ``last_used_at`` is written at most once a minute per token


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode('utf-8', 'surrogatepass')).hexdigest()


def looks_like_token(token: str) -> bool:
    return token.startswith(TOKEN_PREFIX) and 20 <= len(token) <= 200 and token.isascii()


@dataclass(frozen=True)
class NewToken:
    """A token just made: ``secret`` is the whole token, shown this once and never again."""
    token: ApiToken
    secret: str


async def create_token(*, actor: User, name: str, scope: str, expires_in_days: int) -> NewToken:
    """A new token of the acting user (any signed-in person: customers reach their own requests with it)."""
    name = (name or '').strip() if isinstance(name, str) else ''
    if not name:
        raise ValidationError('Give the token a name (what it is for).')
    if len(name) > MAX_NAME:
        raise ValidationError(f'The name is too long ({len(name)} characters; at most {MAX_NAME}).')
    try:
        scope_value = TokenScope(scope).value
    except ValueError:
        raise ValidationError(f'Scope must be read or write, not {scope!r}.') from None
    if isinstance(expires_in_days, bool) or not isinstance(expires_in_days, int) \
            or not 1 <= expires_in_days <= MAX_DAYS:
        raise ValidationError(f'A token expires after 1 to {MAX_DAYS} days.')
    if not actor.is_active:
        raise auth.deny(actor, 'create an API token as an inactive user', '', 'Your account is not active.')
    prefix = secrets.token_hex(4)
    secret = f'{TOKEN_PREFIX}{prefix}_{secrets.token_urlsafe(32)}'
    now = utcnow()
    async with db.session() as s, s.begin():
        active = (await s.execute(select(func.count(ApiToken.id)).where(
            ApiToken.user_id == actor.id, ApiToken.revoked_at.is_(None), ApiToken.expires_at > now))).scalar_one()
        if active >= MAX_ACTIVE_PER_USER:
            raise ValidationError(f'You have {active} active tokens, the most one may have. Revoke one first.')
        expires_at = now + timedelta(days=expires_in_days)
        token = ApiToken(user_id=actor.id, name=name, scope=scope_value, prefix=prefix, token_hash=hash_token(secret),
                         created_at=now, expires_at=expires_at)
        s.add(token)
        await s.flush()
        audit.record(s, actor, entity='api_token', entity_id=token.id, action='create',
                     summary=f'{actor.display_name} created the API token "{name}" ({scope_value}, '
                             f'{expires_in_days} days)',
                     data={'user_id': actor.id, 'scope': scope_value, 'prefix': prefix,
                           'expires_at': expires_at.isoformat()})
    return NewToken(token=token, secret=secret)


async def list_tokens(*, actor: User, include_inactive: bool = True) -> list[ApiToken]:
    """The acting user's tokens, newest first (never their secret: it is not stored)."""
    async with db.session() as s:
        query = select(ApiToken).where(ApiToken.user_id == actor.id)
        if not include_inactive:
            query = query.where(ApiToken.revoked_at.is_(None), ApiToken.expires_at > utcnow())
        return list((await s.execute(query.order_by(ApiToken.created_at.desc(), ApiToken.id.desc()))).scalars())


async def revoke_token(*, actor: User, token_id: int) -> ApiToken:
    """Revoke a token at once: its next request is refused. Own tokens; admins any (a leaked token of anybody)."""
    async with db.session() as s, s.begin():
        token = await s.get(ApiToken, token_id) if isinstance(token_id, int) else None
        if token is None:
            raise NotFound('No such token.')
        if token.user_id != actor.id and actor.role != Role.ADMIN:
            raise auth.deny(actor, 'revoke the API token of user', token.user_id, 'No such token.', error=NotFound)
        if token.revoked_at is None:
            token.revoked_at = utcnow()
            token.revoked_by_id = actor.id
            audit.record(s, actor, entity='api_token', entity_id=token.id, action='revoke',
                         summary=f'{actor.display_name} revoked the API token "{token.name}"',
                         data={'user_id': token.user_id, 'prefix': token.prefix})
    return token


class TokenRefused(Exception):
    """The request's token does not authenticate anybody (the message says why, without telling secrets)."""


async def authenticate(token: str, *, now: datetime | None = None) -> tuple[User, ApiToken]:
    """The user and token of a request's bearer token, or ``TokenRefused``: unknown, revoked, expired, or the user
    is no longer active. Refusals of a well-formed token are logged on ``pulse_live.security``."""
    if not looks_like_token(token):
        raise TokenRefused('The token is not valid.')
    now = now or utcnow()
    async with db.session() as s:
        row = (await s.execute(select(ApiToken, User).join(User, ApiToken.user_id == User.id)
                               .where(ApiToken.token_hash == hash_token(token)))).first()
        if row is None:
            raise TokenRefused('The token is not valid.')
        api_token, user = row
        if api_token.revoked_at is not None:
            auth.refused(user, 'use the revoked API token', api_token.prefix)
            raise TokenRefused('The token was revoked.')
        if api_token.expires_at is not None and api_token.expires_at <= now:
            auth.refused(user, 'use the expired API token', api_token.prefix)
            raise TokenRefused('The token has expired.')
        if not user.is_active:
            auth.refused(user, 'use an API token of an inactive account', api_token.prefix)
            raise TokenRefused('The account of this token is not active.')
        if api_token.last_used_at is None or now - api_token.last_used_at >= LAST_USED_RESOLUTION:
            await s.execute(update(ApiToken).where(ApiToken.id == api_token.id).values(last_used_at=now)
                            .execution_options(synchronize_session=False))
            await s.commit()
            api_token.last_used_at = now
    return user, api_token
