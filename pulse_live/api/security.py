"""Who is calling: the bearer token of every request, its scope, and its rate limit.

- no ``Authorization: Bearer <token>``, or an unknown, expired or revoked token, or an inactive account → 401
- a read token on anything but GET/HEAD → 403
- more than ``PULSE_API_RATE_PER_MINUTE`` requests a minute per token, or per person over all their tokens → 429
  with ``Retry-After`` (a token bucket per token and one per person, shared by every process through Redis when
  the installation has it: ``pulse_live/rate_limit.py``; the token's is checked before the database is asked: a
  flood costs no queries); an address whose tokens were refused more than
  ``PULSE_API_AUTH_FAILURES_PER_MINUTE`` times a minute gets 429 before any lookup
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ..config import get_settings
from ..models import ApiToken, TokenScope, User
from ..rate_limit import get_limiter
from ..services import api_tokens
from .problems import ProblemError

READ_METHODS = frozenset({'GET', 'HEAD', 'OPTIONS'})
CHALLENGE = {'WWW-Authenticate': 'Bearer realm="pulse-live"'}
bearer = HTTPBearer(auto_error=False, description='A personal API token (Profile → API tokens): '
                                                  '`Authorization: Bearer plk_…`')


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
    address = f'api-refused:{request.client.host if request.client else "?"}'
    limits = get_limiter()
    wait = await limits.wait(address, settings.api_auth_failures_per_minute)  # an address guessing tokens
    if wait <= 0:
        wait = await limits.take('api:' + api_tokens.hash_token(token), settings.api_rate_per_minute)
    if wait > 0:
        raise _too_many(wait)
    try:
        user, api_token = await api_tokens.authenticate(token)
    except api_tokens.TokenRefused as refused:
        await limits.take(address, settings.api_auth_failures_per_minute)
        raise _unauthorized(str(refused)) from None
    # and per person over all their tokens: with 20 tokens one person made 20 × the rate (a deep, sorted list at
    # 20,000 tickets costs ~0.15 s of CPU: 300 of them in parallel held the loop 0.8 s)
    wait = await limits.take(f'api-user:{user.id}', settings.api_rate_per_minute)
    if wait > 0:
        raise _too_many(wait)
    if request.method not in READ_METHODS and api_token.scope != TokenScope.WRITE:
        raise ProblemError(403, f'The token "{api_token.name}" may only read; this needs a token with the write '
                                'scope.', slug='read-only-token', title='Read-only token')
    return Caller(user=user, token=api_token)


CurrentCaller = Annotated[Caller, Depends(caller)]
