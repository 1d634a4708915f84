"""Personal API tokens: create (shown once), revoke, and the check of every API request.

A token is ``plk_<prefix>_<secret>`` (``prefix``: 8 hex characters shown in lists; ``secret``: 32 random bytes).
Only the sha256 of the whole token is stored; a leaked database gives no usable token. Creating and revoking are
audited (``audit_log``, entity ``api_token``). A person revokes their own tokens; admins revoke anybody's.

``authenticate`` keeps the tokens it accepted in ``TokenCache`` (by hash, at most ``CACHE_S`` seconds): a client's
requests cost no token query. What ends a token ends its entry at once, in every process: a revocation
(``ApiTokenRevoked`` on the bus, and directly in the revoking process) and any change of the account
(``AccountChanged``: deactivated, role, organisation, password); expiry is checked on every request. ``CACHE_S`` bounds
what a lost bus message could cost.
"""
from __future__ import annotations

import hashlib
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import CursorResult, func, select, update

from .. import auth, db
from ..bus import get_bus
from ..errors import NotFound, ValidationError
from ..events import AccountChanged, ApiTokenRevoked, Bus, Event
from ..models import ApiToken, Role, TokenScope, User, utcnow
from . import audit

TOKEN_PREFIX = 'plk_'
MAX_NAME = 100
MAX_DAYS = 365
MAX_ACTIVE_PER_USER = 20
LAST_USED_RESOLUTION = timedelta(seconds=60)  # ``last_used_at`` is written at most once a minute per token
CACHE_S = 10.0  # an accepted token is trusted this long without a query (revocation and account changes end it now)
CACHE_MAX = 10_000


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
    async with db.write_lock(), db.session() as s, s.begin():
        await db.serialise(s, f'api-tokens:{actor.id}')  # counted, then inserted: one at a time per person
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


async def revoke_all_of(session, user_id: int, *, by_id: int) -> int:
    """End every live token of a person, in the caller's transaction (a password set for them, a deactivation:
    a token an intruder made must not outlive the account's rescue, nor come back with a reactivation). The caller
    publishes ``AccountChanged``, which ends the cached ones. Returns how many were ended."""
    result = await session.execute(
        update(ApiToken).where(ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=utcnow(), revoked_by_id=by_id).execution_options(synchronize_session=False))
    return cast(CursorResult, result).rowcount or 0


async def revoke_token(*, actor: User, token_id: int) -> ApiToken:
    """Revoke a token at once: its next request is refused. Own tokens; admins any (a leaked token of anybody)."""
    async with db.write_lock(), db.session() as s, s.begin():
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
    cache.forget_token(token.id)  # this process at once; the others when the bus brings the news
    await get_bus().publish(ApiTokenRevoked(token_id=token.id, user_id=token.user_id))
    return token


class TokenRefused(Exception):
    """The request's token does not authenticate anybody (the message says why, without telling secrets)."""


@dataclass
class _Accepted:
    user: User
    token: ApiToken
    until: float  # monotonic


class TokenCache:
    """Tokens accepted lately, by hash (see the module docstring). Follows the bus that is current: it subscribes
    to it on first use and again when the bus was replaced."""

    def __init__(self, ttl: float = CACHE_S, max_entries: int = CACHE_MAX, bus: Bus | None = None) -> None:
        self.ttl, self.max_entries = ttl, max_entries
        self._entries: OrderedDict[str, _Accepted] = OrderedDict()
        self._pinned = bus  # a given bus (tests: another process's); else the current one
        self._bus: Bus | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self.generation = 0  # moves whenever an entry is forgotten: an answer read before that is not kept

    def _follow_bus(self) -> None:
        bus = self._pinned or get_bus()
        if bus is not self._bus:
            if self._unsubscribe is not None:
                self._unsubscribe()
            self._entries.clear()  # what the old bus would have told us is unknown
            self.generation += 1
            self._bus, self._unsubscribe = bus, bus.subscribe(self.on_event)

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, digest: str) -> _Accepted | None:
        self._follow_bus()
        hit = self._entries.get(digest)
        if hit is None or hit.until <= time.monotonic():
            self._entries.pop(digest, None)
            return None
        return hit

    def put(self, digest: str, user: User, token: ApiToken, *, read_at: int | None = None) -> None:
        """Keep an accepted token; ``read_at``: the ``generation`` before it was read — if something was forgotten
        since (a revocation committed while this request waited for the database), it is not kept."""
        self._follow_bus()
        if read_at is not None and read_at != self.generation:
            return
        self._entries[digest] = _Accepted(user, token, time.monotonic() + self.ttl)
        self._entries.move_to_end(digest)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def forget_token(self, token_id: int) -> None:
        self.generation += 1
        for digest in [d for d, e in self._entries.items() if e.token.id == token_id]:
            del self._entries[digest]

    def forget_user(self, user_id: int) -> None:
        self.generation += 1
        for digest in [d for d, e in self._entries.items() if e.user.id == user_id]:
            del self._entries[digest]

    async def on_event(self, event: Event) -> None:
        if isinstance(event, ApiTokenRevoked):
            self.forget_token(event.token_id)
        elif isinstance(event, AccountChanged):
            self.forget_user(event.user_id)

    def clear(self) -> None:
        self.generation += 1
        self._entries.clear()


cache = TokenCache()


async def authenticate(token: str, *, now: datetime | None = None,
                       tokens: TokenCache | None = None) -> tuple[User, ApiToken]:
    """The user and token of a request's bearer token, or ``TokenRefused``: unknown, revoked, expired, or the user
    is no longer active. Refusals of a well-formed token are logged on ``pulse_live.security``. ``tokens``: the
    cache to use (this process's by default)."""
    tokens = cache if tokens is None else tokens
    if not looks_like_token(token):
        raise TokenRefused('The token is not valid.')
    now = now or utcnow()
    digest = hash_token(token)
    hit = tokens.get(digest)
    read_at = tokens.generation
    if hit is not None:
        api_token, user = hit.token, hit.user
        if api_token.expires_at is not None and api_token.expires_at <= now:
            tokens.forget_token(api_token.id)  # read again below: the refusal is logged like any other
        elif api_token.last_used_at is not None and now - api_token.last_used_at < LAST_USED_RESOLUTION:
            return user, api_token
    async with db.session() as s:
        row = (await s.execute(select(ApiToken, User).join(User, ApiToken.user_id == User.id)
                               .where(ApiToken.token_hash == digest))).first()
        if row is None:
            raise TokenRefused('The token is not valid.')
        api_token, user = row
        if not user.is_active:  # (a deactivation also revokes the account's tokens: this says why)
            auth.refused(user, 'use an API token of an inactive account', api_token.prefix)
            raise TokenRefused('The account of this token is not active.')
        if api_token.revoked_at is not None:
            auth.refused(user, 'use the revoked API token', api_token.prefix)
            raise TokenRefused('The token was revoked.')
        if api_token.expires_at is not None and api_token.expires_at <= now:
            auth.refused(user, 'use the expired API token', api_token.prefix)
            raise TokenRefused('The token has expired.')
    if api_token.last_used_at is None or now - api_token.last_used_at >= LAST_USED_RESOLUTION:
        async with db.write_lock(), db.session() as w, w.begin():  # (SQLite: one writer at a time, see db.py)
            stamped = await w.execute(update(ApiToken).where(ApiToken.id == api_token.id,
                                                             ApiToken.revoked_at.is_(None))
                                      .values(last_used_at=now).execution_options(synchronize_session=False))
        # revoked while this request waited for the database (e.g. behind the revocation itself)
        if cast(CursorResult, stamped).rowcount == 0:
            auth.refused(user, 'use the revoked API token', api_token.prefix)
            raise TokenRefused('The token was revoked.')
        api_token.last_used_at = now
    tokens.put(digest, user, api_token, read_at=read_at)
    return user, api_token
