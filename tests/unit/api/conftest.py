"""The API against its real wiring (``pulse_live.api.install`` on a FastAPI app), over httpx's ASGI transport, on
SQLite and PostgreSQL (the ``database`` fixture); tokens are made through the service as the profile page does."""
from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest
from fastapi import FastAPI

from pulse_live.api import install
from pulse_live.config import reset_settings
from pulse_live.rate_limit import get_limiter
from pulse_live.services import api_tokens


@pytest.fixture
def api_app(monkeypatch) -> FastAPI:
    monkeypatch.setenv('PULSE_API_RATE_PER_MINUTE', '100000')
    monkeypatch.setenv('PULSE_API_AUTH_FAILURES_PER_MINUTE', '100000')
    reset_settings()
    get_limiter().clear()
    app = FastAPI()
    install(app)
    return app


@pytest.fixture
async def client(api_app, people) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=api_app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url='http://testserver/api/v1') as c:
        yield c


TokenFactory = Callable[..., Awaitable[dict[str, str]]]


@pytest.fixture
def token_for(people) -> TokenFactory:
    """``await token_for('carl@acme.demo', scope='write')`` → the Authorization header of a fresh token."""
    async def make(email: str, scope: str = 'write', days: int = 30) -> dict[str, str]:
        new = await api_tokens.create_token(actor=people.users[email], name=f'test {scope}', scope=scope,
                                            expires_in_days=days)
        return {'Authorization': f'Bearer {new.secret}'}
    return make
