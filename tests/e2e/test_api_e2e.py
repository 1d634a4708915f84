"""The REST API in the real server: a token made on the profile page (shown once), a write through the API live in
an open browser, problem+json for errors anywhere under /api/v1, and the docs page."""
from __future__ import annotations

import uuid

import httpx
import pytest
from playwright.async_api import expect

from .conftest import reference, screenshot

pytestmark = pytest.mark.e2e


async def test_token_from_the_profile_page_drives_the_api_live(e2e):
    anna = await e2e.login('anna@pulse.demo')
    page = anna.page
    await page.goto(e2e.url + '/profile')
    name = f'CI sync {uuid.uuid4().hex[:6]}'
    await page.get_by_label('Token name (what it is for)').fill(name)
    await page.get_by_label('Scope').click()
    await page.locator('.q-menu').get_by_role('option', name='Read and write', exact=True).click()
    await page.get_by_role('button', name='Create token').click()
    secret_box = page.locator('.font-mono input')
    await expect(secret_box).to_be_visible()
    secret = await secret_box.input_value()
    assert secret.startswith('plk_')
    await expect(page.get_by_text(name, exact=True)).to_be_visible()
    await screenshot(page, 'api-profile-tokens.png')
    await page.reload()
    await expect(page.get_by_text(name, exact=True)).to_be_visible()
    assert secret not in await page.content()  # shown once only

    ref = reference(3)
    ben = await e2e.login('ben@pulse.demo')
    await e2e.open_ticket(ben, ref)
    text = f'Posted through the API ({uuid.uuid4().hex[:8]})'
    headers = {'Authorization': f'Bearer {secret}'}
    async with httpx.AsyncClient(base_url=e2e.url + '/api/v1', timeout=10) as api:
        me = await api.get('/me', headers=headers)
        assert me.status_code == 200 and me.json()['email'] == 'anna@pulse.demo'
        posted = await api.post(f'/tickets/{ref}/messages', headers=headers, json={'body': text})
        assert posted.status_code == 201, posted.text
        await expect(ben.page.get_by_text(text, exact=True)).to_be_visible(timeout=10_000)  # live, no reload

        for path, status in (('/nothing', 404), ('/tickets/PL-1999-000001', 404)):
            answer = await api.get(path, headers=headers)
            assert (answer.status_code, answer.headers['content-type']) == (status, 'application/problem+json')
        answer = await api.get('/tickets')  # no token: no login redirect either, a 401 problem
        assert (answer.status_code, answer.headers['content-type']) == (401, 'application/problem+json')
        assert (await api.delete('/me', headers=headers)).status_code == 405
        schema = (await api.get('/openapi.json')).json()
        assert schema['info']['title'] == 'Pulse Live API' and '/tickets' in schema['paths']

        await page.get_by_role('button', name='Revoke').first.click()
        confirm = page.locator('.q-dialog').get_by_role('button', name='Revoke')
        await expect(confirm).to_be_visible()
        await confirm.click()
        await expect(page.get_by_text('revoked', exact=False).first).to_be_visible()
        await screenshot(page, 'api-profile-token-revoked.png')
        assert (await api.get('/me', headers=headers)).status_code == 401

    await page.goto(e2e.url + '/api/docs')
    await expect(page.get_by_text('/api/v1/tickets/{reference}', exact=True).first).to_be_visible()
    await screenshot(page, 'api-docs.png')
