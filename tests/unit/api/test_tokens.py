"""Personal API tokens: shown once, only a hash stored, scoped, expiring, revocable; every refusal a 401/403
problem+json."""
from __future__ import annotations

import asyncio
import hashlib
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from pulse_live import db
from pulse_live.errors import NotFound, ValidationError
from pulse_live.models import ApiToken, AuditLog, utcnow
from pulse_live.services import api_tokens
from tests.factories import deactivate_customer

PROBLEM = 'application/problem+json'


async def stored_tokens() -> list[ApiToken]:
    async with db.session() as s:
        return list((await s.execute(select(ApiToken))).scalars())


async def test_a_token_is_shown_once_and_only_its_hash_is_stored(people):
    carl = people.users['carl@acme.demo']
    new = await api_tokens.create_token(actor=carl, name='Billing sync', scope='read', expires_in_days=30)
    assert new.secret.startswith('plk_') and len(new.secret) > 40
    [row] = await stored_tokens()
    assert row.token_hash == hashlib.sha256(new.secret.encode()).hexdigest()
    assert new.secret not in repr(vars(row)) and new.secret.split('_')[-1] not in repr(vars(row))
    listed = await api_tokens.list_tokens(actor=carl)
    assert [(t.name, t.scope, t.prefix) for t in listed] == [('Billing sync', 'read', new.secret.split('_')[1])]
    assert not hasattr(listed[0], 'secret')
    async with db.session() as s:
        audit = (await s.execute(select(AuditLog).where(AuditLog.entity == 'api_token'))).scalars().all()
    assert [(a.action, a.actor_id) for a in audit] == [('create', carl.id)]
    assert new.secret not in repr([a.data for a in audit])


async def test_token_input_is_checked(people):
    carl = people.users['carl@acme.demo']
    for name, scope, days, message in (('', 'read', 30, 'name'), ('x' * 101, 'read', 30, 'too long'),
                                       ('ok', 'admin', 30, 'read or write'), ('ok', 'read', 0, 'expires'),
                                       ('ok', 'read', 366, 'expires'), ('ok', 'read', True, 'expires')):
        with pytest.raises(ValidationError, match=message):
            await api_tokens.create_token(actor=carl, name=name, scope=scope, expires_in_days=days)
    assert await stored_tokens() == []


async def test_the_token_authenticates_its_user(client, token_for, people):
    headers = await token_for('carl@acme.demo', scope='read')
    answer = await client.get('/me', headers=headers)
    assert answer.status_code == 200
    me = answer.json()
    assert (me['email'], me['role'], me['is_staff'], me['token']['scope']) == ('carl@acme.demo', 'customer', False,
                                                                                'read')
    [row] = await stored_tokens()
    assert row.last_used_at is not None


@pytest.mark.parametrize('header', [None, '', 'Bearer', 'Bearer ', 'Bearer junk', 'Basic Y2FybDpkZW1v',
                                    'Bearer plk_00000000_' + 'A' * 43, 'bearer  \t ', 'Token abc',
                                    ('Bearer plk_' + 'é' * 30).encode('latin-1')])
async def test_without_a_valid_token_the_answer_is_401_problem(client, header):
    headers = {'Authorization': header} if header is not None else {}
    answer = await client.get('/tickets', headers=headers)
    assert answer.status_code == 401, answer.text
    assert answer.headers['content-type'] == PROBLEM
    assert answer.headers['www-authenticate'].startswith('Bearer')
    body = answer.json()
    assert body['status'] == 401 and body['title'] and body['detail'] and body['type'].endswith('unauthorized')


async def test_expired_revoked_and_inactive_tokens_are_refused(client, token_for, people):
    carl, eva, admin = (people.users[e] for e in ('carl@acme.demo', 'eva@acme.demo', 'admin@pulse.demo'))
    expired = await token_for('carl@acme.demo')
    async with db.session() as s, s.begin():
        await s.execute(update(ApiToken).values(expires_at=utcnow() - timedelta(seconds=1)))
    answer = await client.get('/me', headers=expired)
    assert (answer.status_code, answer.json()['detail']) == (401, 'The token has expired.')

    revoked = await token_for('carl@acme.demo')
    assert (await client.get('/me', headers=revoked)).status_code == 200
    newest = (await api_tokens.list_tokens(actor=carl))[0]
    with pytest.raises(NotFound):  # nobody else's tokens (but an admin's)
        await api_tokens.revoke_token(actor=eva, token_id=newest.id)
    await api_tokens.revoke_token(actor=carl, token_id=newest.id)
    answer = await client.get('/me', headers=revoked)
    assert (answer.status_code, answer.json()['detail']) == (401, 'The token was revoked.')

    by_admin = await token_for('eva@acme.demo')
    await api_tokens.revoke_token(actor=admin, token_id=(await api_tokens.list_tokens(actor=eva))[0].id)
    assert (await client.get('/me', headers=by_admin)).status_code == 401

    inactive = await token_for('eva@acme.demo')
    await deactivate_customer(admin, eva)
    answer = await client.get('/me', headers=inactive)
    assert (answer.status_code, answer.json()['detail']) == (401, 'The account of this token is not active.')


async def test_requests_waiting_behind_a_revocation_do_not_keep_the_token_alive(client, token_for, people):
    """The attack fired 40 requests with a fresh token as its owner confirmed Revoke: the requests read the token
    (valid), waited for the database behind the revocation, then stamped its use and kept it in the process's cache
    *after* the revocation had emptied it — the revoked token answered 200 for ten more seconds."""
    carl = people.users['carl@acme.demo']
    header = await token_for('carl@acme.demo')
    token_id = (await api_tokens.list_tokens(actor=carl))[0].id
    locked = asyncio.Event()

    async def revoke_while_requests_wait() -> None:
        async with db.write_lock():  # the revocation holds the database (SQLite: one writer; PostgreSQL: no-op)
            locked.set()
            await asyncio.sleep(0.3)  # meanwhile the requests read the token and queue for the database
            await api_tokens.revoke_token(actor=carl, token_id=token_id)
    revoking = asyncio.create_task(revoke_while_requests_wait())
    await locked.wait()
    answers = await asyncio.gather(*(client.get('/me', headers=header) for _ in range(20)))
    await revoking
    if db.is_sqlite():  # they waited behind the revocation: refused, not answered with a revoked token
        assert {a.status_code for a in answers} == {401}, [a.status_code for a in answers]
    for _ in range(5):  # and nothing kept it: every later request is refused at once
        answer = await client.get('/me', headers=header)
        assert (answer.status_code, answer.json()['detail']) == (401, 'The token was revoked.')


async def test_a_read_token_may_not_write(client, token_for):
    headers = await token_for('anna@pulse.demo', scope='read')
    assert (await client.get('/tickets', headers=headers)).status_code == 200
    answer = await client.post('/tickets', headers=headers, json={'title': 'From a read token'})
    assert answer.status_code == 403 and answer.headers['content-type'] == PROBLEM
    assert answer.json()['type'].endswith('read-only-token')
    assert (await client.get('/tickets', headers=headers)).json()['total'] == 0


async def test_rate_limit_per_token_answers_429_with_retry_after(client, token_for, monkeypatch):
    from pulse_live.config import reset_settings
    monkeypatch.setenv('PULSE_API_RATE_PER_MINUTE', '5')
    reset_settings()
    first, second = await token_for('anna@pulse.demo'), await token_for('ben@pulse.demo')
    codes = [(await client.get('/me', headers=first)).status_code for _ in range(6)]
    assert codes == [200] * 5 + [429]
    refused = await client.get('/me', headers=first)
    assert refused.headers['content-type'] == PROBLEM and int(refused.headers['retry-after']) >= 1
    assert refused.json()['type'].endswith('rate-limited')
    assert (await client.get('/me', headers=second)).status_code == 200  # per token


async def test_one_persons_tokens_share_the_rate_and_lists_go_ten_thousand_deep(client, token_for, monkeypatch):
    """A person may hold 20 tokens: each had its own budget, 20 × the rate for one person (a deep, sorted list at
    20,000 tickets costs ~0.15 s of CPU; 300 in parallel held the loop 0.8 s)."""
    from pulse_live.api.routes import MAX_OFFSET
    from pulse_live.config import reset_settings
    monkeypatch.setenv('PULSE_API_RATE_PER_MINUTE', '5')
    reset_settings()
    tokens = [await token_for('anna@pulse.demo') for _ in range(3)]
    codes = [(await client.get('/me', headers=tokens[n % 3])).status_code for n in range(6)]
    assert codes == [200] * 5 + [429]
    assert (await client.get('/me', headers=await token_for('ben@pulse.demo'))).status_code == 200  # per person
    monkeypatch.setenv('PULSE_API_RATE_PER_MINUTE', '600')
    reset_settings()
    ben = await token_for('ben@pulse.demo')
    assert (await client.get(f'/tickets?offset={MAX_OFFSET}', headers=ben)).status_code == 200
    deep = await client.get(f'/tickets?offset={MAX_OFFSET + 1}', headers=ben)
    assert deep.status_code == 422 and 'offset' in deep.text


async def test_an_address_guessing_tokens_is_slowed_down(client, token_for, monkeypatch):
    from pulse_live.config import reset_settings
    monkeypatch.setenv('PULSE_API_AUTH_FAILURES_PER_MINUTE', '3')
    reset_settings()
    valid = await token_for('anna@pulse.demo')
    codes = [(await client.get('/me', headers={'Authorization': f'Bearer plk_0000_{n:040d}'})).status_code
             for n in range(5)]
    assert codes == [401, 401, 401, 429, 429]
    refused = await client.get('/me', headers=valid)  # the same address: slowed down too, until the minute passes
    assert refused.status_code == 429 and refused.headers['content-type'] == PROBLEM
