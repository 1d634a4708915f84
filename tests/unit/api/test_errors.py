"""Every error under /api/v1 is application/problem+json (RFC 9457) with a clear sentence: unknown addresses and
methods, malformed and mistyped bodies, numbers the database cannot hold, text it cannot store; a crash is logged
and answered without a traceback."""
from __future__ import annotations

import logging

import pytest

from tests.factories import make_ticket

PROBLEM = 'application/problem+json'


def assert_problem(answer, status: int) -> dict:
    assert answer.status_code == status, answer.text
    assert answer.headers['content-type'] == PROBLEM
    body = answer.json()
    assert body['status'] == status and body['title'] and body['detail'] and body['type']
    return body


async def test_unknown_routes_and_methods(client, token_for):
    anna = await token_for('anna@pulse.demo')
    assert_problem(await client.get('/nothing-here', headers=anna), 404)
    assert_problem(await client.get('/nothing-here'), 404)  # before any token: the address is unknown
    body = assert_problem(await client.delete('/tickets', headers=anna), 405)
    assert 'method' in body['detail']
    assert_problem(await client.put('/me', headers=anna), 405)


@pytest.mark.parametrize('raw, status, field', [
    (b'{"title": ', 400, None),                               # not JSON
    (b'\xff\xfe\x00garbage', 400, None),
    (b'[' * 50_000 + b']' * 50_000, 400, None),               # nested past the parser's depth
    (b'{"title": "\xff\xfe"}', 400, None),                     # not UTF-8
    (b'[]', 422, 'body'),                                     # JSON, not an object
    (b'{"title": 5}', 422, 'body.title'),                     # wrong type
    (b'{"title": ""}', 422, 'body.title'),
    (b'{"title": "ok", "customer_id": "5"}', 422, 'body.customer_id'),    # strict: no numbers as text
    (b'{"title": "ok", "customer_id": 99999999999999999999999}', 422, 'body.customer_id'),  # past any column
    (b'{"title": "ok", "customer_id": 1.5}', 422, 'body.customer_id'),
    (b'{"title": "ok", "customer_id": true}', 422, 'body.customer_id'),
    (b'{"title": "ok", "queue": 1}', 422, 'body.queue'),      # unknown field
    (b'{"title": "a\\u0000b"}', 422, 'body.title'),           # NUL: no database stores it
    (b'{"title": "\\ud800"}', 422, 'body.title'),             # an unpaired surrogate
    (b'{"title": "' + b'x' * 301 + b'"}', 422, 'body.title'),
    (b'{"title": "ok", "impact": "extreme"}', 422, 'body.impact'),
])
async def test_bad_bodies_are_refused_with_the_field(client, token_for, raw, status, field):
    anna = await token_for('anna@pulse.demo')
    answer = await client.post('/tickets', headers={**anna, 'Content-Type': 'application/json'}, content=raw)
    body = assert_problem(answer, status)
    if field:
        assert field in [e['field'] for e in body['errors']], body
    if status == 400:  # the documented type for a body that is no JSON, however the parser failed
        assert body['type'].endswith('bad-json'), body
    listed = (await client.get('/tickets', headers=anna)).json()
    assert listed['total'] == 0  # nothing stored


@pytest.mark.parametrize('query', ['limit=0', 'limit=101', 'limit=abc', 'offset=-1', 'queue_id=99999999999999999999',
                                   'status=everything', 'created_from=2026-02-30', 'created_from=99999-01-01',
                                   'created_from=2026-05-02&created_to=2026-05-01', 'q=%00', 'sort=random'])
async def test_bad_query_parameters(client, token_for, query):
    anna = await token_for('anna@pulse.demo')
    assert_problem(await client.get(f'/tickets?{query}', headers=anna), 422)


async def test_bad_path_parameters(client, token_for, people):
    anna = await token_for('anna@pulse.demo')
    for path in ('/tickets/PL%00', '/tickets/a%0Ab', '/tickets/a%0Ab/messages', '/nothing%0A',
                 '/tickets/' + 'X' * 65, '/tickets/PL-2026-%2F..', '/attachments/0',
                 '/attachments/99999999999999999999', '/customers/-1', '/tickets/999999999999999999999',
                 '/tickets/99999999999', '/tickets/99999999999/messages', '/tickets/2147483648'):
        answer = await client.get(path, headers=anna)
        assert answer.status_code in (404, 422), (path, answer.text)
        assert answer.headers['content-type'] == PROBLEM
    ticket = await make_ticket(people)
    assert_problem(await client.patch(f'/tickets/{ticket.reference}', headers=anna,
                                      json={'version': 2**31, 'title': 'x'}), 422)
    assert_problem(await client.patch(f'/tickets/{ticket.reference}', headers=anna, json={'title': 'x'}), 422)


async def test_a_crash_is_a_500_problem_without_traceback(api_app, client, token_for, monkeypatch, caplog):
    from pulse_live.queries import api as reads

    async def broken(*args, **kwargs):
        raise RuntimeError('secret internals /etc/passwd')
    monkeypatch.setattr(reads, 'ticket_list', broken)
    anna = await token_for('anna@pulse.demo')
    with caplog.at_level(logging.ERROR, logger='pulse_live.api'):
        answer = await client.get('/tickets', headers=anna)
    body = assert_problem(answer, 500)
    assert 'secret' not in answer.text and 'Traceback' not in answer.text and 'RuntimeError' not in answer.text
    assert body['type'].endswith('server-error')
    assert any('secret internals' in (r.exc_text or '') or r.exc_info for r in caplog.records)


async def test_the_schema_and_the_docs(client, api_app):
    schema = (await client.get('/openapi.json')).json()
    assert schema['servers'] == [{'url': '/api/v1'}]
    assert '/tickets/{reference}' in schema['paths'] and 'Problem' in schema['components']['schemas']
    patch = schema['paths']['/tickets/{reference}']['patch']
    assert {'409', '422', '401', '403', '404'} <= set(patch['responses'])
    assert 'bearerAuth' in str(schema['components'].get('securitySchemes')) or 'HTTPBearer' in str(
        schema['components'].get('securitySchemes'))
    import httpx
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=api_app), base_url='http://testserver') as root:
        docs = await root.get('/api/docs')
    assert docs.status_code == 200 and 'text/html' in docs.headers['content-type']
    assert '/api/v1/openapi.json' in docs.text and '/api/v1/tickets/{reference}' in docs.text  # the plain list
    assert 'id="swagger-ui"' in docs.text


async def test_an_oversized_json_body_is_refused_with_413(client, token_for):
    anna = await token_for('anna@pulse.demo')
    big = b'{"title": "' + b'x' * (2 * 1024 * 1024) + b'"}'
    headers = {**anna, 'Content-Type': 'application/json'}
    assert_problem(await client.post('/tickets', headers=headers, content=big), 413)

    async def chunks():  # no Content-Length: counted as it arrives
        for _ in range(40):
            yield b'x' * 64 * 1024
    assert_problem(await client.post('/tickets', headers=headers, content=chunks()), 413)
    assert (await client.get('/tickets', headers=anna)).json()['total'] == 0


async def test_an_unknown_query_parameter_is_refused_not_ignored(client, token_for):
    anna = await token_for('anna@pulse.demo')
    answer = await client.get('/tickets', params={'staus': 'open'}, headers=anna)  # a misspelt filter
    body = assert_problem(answer, 422)
    assert [e['field'] for e in body['errors']] == ['query.staus'] and 'status' in body['detail']
    assert_problem(await client.get('/me', params={'x': '1'}, headers=anna), 422)
    assert (await client.get('/tickets', params={'status': 'open', 'limit': 5}, headers=anna)).status_code == 200
