"""Who is calling: the bearer token of every request, its scope, and its rate limit.

- no ``Authorization: Bearer <token>``, or an unknown, expired or revoked token, or an inactive account → 401
- a read token on anything but GET/HEAD → 403
- more than ``PULSE_API_RATE_PER_MINUTE`` requests a minute per token → 429 with ``Retry-After`` (an in-process
  token bucket per token, checked before the database is asked: a flood costs no queries); an address whose
  tokens were refused more than ``PULSE_API_AUTH_FAILURES_PER_MINUTE`` times a minute gets 429 before any lookup
"""
from __future__ import annotations

import math
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ..config import get_settings
from ..models import ApiToken, TokenScope, User
from ..services import api_tokens
from .problems import ProblemError

READ_METHODS = frozenset({'GET', 'HEAD', 'OPTIONS'})
CHALLENGE = {'WWW-Authenticate': 'Bearer realm="pulse-live"'}
bearer = HTTPBearer(auto_error=False, description='A personal API token (Profile → API tokens): '
                                                  '`Authorization: Bearer plk_…`')


class RateLimiter:
    """A token bucket per key: ``rate`` requests a minute, a burst of as many. Keeps the ``max_keys`` keys used
    last (unknown tokens cannot grow it without end)."""

    def __init__(self, max_keys: int = 10_000) -> None:
        self.max_keys = max_keys
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # key → (tokens, last refill)

    def take(self, key: str, rate_per_minute: int, now: float | None = None) -> float:
        """0 if the request may proceed (one unit taken), else the seconds until one is available."""
        now = time.monotonic() if now is None else now
        per_second = rate_per_minute / 60.0
        tokens, last = self._buckets.pop(key, (float(rate_per_minute), now))
        tokens = min(float(rate_per_minute), tokens + (now - last) * per_second)
        wait = 0.0
        if tokens >= 1.0:
            tokens -= 1.0
        else:
            wait = (1.0 - tokens) / per_second
        self._buckets[key] = (tokens, now)
        while len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)
        return wait

    def wait(self, key: str, rate_per_minute: int, now: float | None = None) -> float:
        """The seconds until ``key`` may take one unit (0: now), without taking it."""
        now = time.monotonic() if now is None else now
        tokens, last = self._buckets.get(key, (float(rate_per_minute), now))
        tokens = min(float(rate_per_minute), tokens + (now - last) * rate_per_minute / 60.0)
        return 0.0 if tokens >= 1.0 else (1.0 - tokens) / (rate_per_minute / 60.0)

    def clear(self) -> None:
        self._buckets.clear()


limiter = RateLimiter()


@dataclass(frozen=True)
class Caller:
    user: User
    token: ApiToken

    @property
    def may_write(self) -> bool:
        return self.token.scope == TokenScope.WRITE


def _unauthorized(detail: str) -> ProblemError:
    return ProblemError(401, detail, slug='unauthorized', title='Not signed in', headers=CHALLENGE)


def _too_many(wait: float) -> ProblemError:
    return ProblemError(429, f'Too many requests; try again in {math.ceil(wait)} s.', slug='rate-limited',
                        title='Too many requests', headers={'Retry-After': str(max(1, math.ceil(wait)))})


async def caller(request: Request,
                 credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> Caller:
    """The dependency of every API route (see the module docstring)."""
    if credentials is None:
        header = request.headers.get('authorization')
        raise _unauthorized('Send a personal API token: "Authorization: Bearer <token>" (create one on your '
                            'profile page).' if not header else
                            'The Authorization header must be "Bearer <token>".')
    token = credentials.credentials.strip()
    settings = get_settings()
    address = f'refused:{request.client.host if request.client else "?"}'
    wait = limiter.wait(address, settings.api_auth_failures_per_minute)  # an address guessing tokens
    if wait <= 0:
        wait = limiter.take(api_tokens.hash_token(token), settings.api_rate_per_minute)
    if wait > 0:
        raise _too_many(wait)
    try:
        user, api_token = await api_tokens.authenticate(token)
    except api_tokens.TokenRefused as refused:
        limiter.take(address, settings.api_auth_failures_per_minute)
        raise _unauthorized(str(refused)) from None
    if request.method not in READ_METHODS and api_token.scope != TokenScope.WRITE:
        raise ProblemError(403, f'The token "{api_token.name}" may only read; this needs a token with the write '
                                'scope.', slug='read-only-token', title='Read-only token')
    return Caller(user=user, token=api_token)


CurrentCaller = Annotated[Caller, Depends(caller)]
