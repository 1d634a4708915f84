"""The knowledge base in a real browser: Anna writes a public article with the preview and edits it (history with a
diff), Carl finds it in the portal's Help and says it helped, the admin opens the public help centre and a visitor
without an account reads it at /help; Anna saves a filtered ticket list as a view in the navigation. Screenshots of
each screen (also copied to /tmp/shots/h-kb when that folder exists)."""
from __future__ import annotations

import re
import shutil
import uuid
from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from .conftest import VIEWPORT, screenshot

pytestmark = pytest.mark.e2e
SHOTS = Path('/tmp/shots/h-kb')


async def _shot(page: Page, name: str) -> None:
    path = await screenshot(page, name)
    if SHOTS.is_dir():
        shutil.copy(path, SHOTS / name)


async def test_an_article_from_the_editor_to_the_portal_help_and_the_public_help_centre(e2e):
    tag = uuid.uuid4().hex[:6]
    title = f'Connect to the office Wi-Fi ({tag})'
    anna = await e2e.login('anna@pulse.demo')
    page = anna.page
    await page.goto(e2e.url + '/kb/new')
    await page.get_by_label('Title').fill(title)
    await page.get_by_label('Tags (comma separated)').fill('wifi, network')
    body = page.locator('textarea').first
    await body.fill('## Steps\n\n1. Open the **Wi-Fi** settings\n2. Choose `PULSE-OFFICE`\n3. Sign in with your '
                    'account\n\n> If it fails, forget the network and try again.')
    await page.get_by_text('Public (customers)').click()
    await page.get_by_text('Published', exact=True).click()
    preview = page.locator('.kb-article')
    await expect(preview.locator('strong', has_text='Wi-Fi')).to_be_visible()
    await expect(preview.locator('h1')).to_have_text(title)
    await _shot(page, 'kb-editor-preview.png')
    await page.get_by_role('button', name='Save').click()
    await expect(page).to_have_url(re.compile(r'/kb/\d+$'))
    article_path = page.url.split(e2e.url, 1)[1]
    article_id = article_path.rsplit('/', 1)[1]

    # an edit makes version 2; the article page shows what changed
    await page.get_by_role('button', name='Edit').click()
    await expect(page).to_have_url(re.compile(r'/kb/\d+/edit$'))
    await page.locator('textarea').first.fill(
        '## Steps\n\n1. Open the **Wi-Fi** settings\n2. Choose `PULSE-OFFICE` (not PULSE-GUEST)\n3. Sign in with '
        'your account\n\n> If it fails, forget the network and try again.')
    await page.get_by_role('button', name='Save').click()
    await expect(page).to_have_url(re.compile(r'/kb/\d+$'))
    await expect(page.get_by_text('Changes in version 2 (against version 1)')).to_be_visible()
    await expect(page.get_by_text('+ 2. Choose `PULSE-OFFICE` (not PULSE-GUEST)')).to_be_visible()
    await _shot(page, 'kb-article-history-diff.png')

    # Carl reads it in the portal's Help and says it helped
    carl = await e2e.login('carl@acme.demo')
    await carl.page.get_by_role('link', name='Help').first.click()
    await expect(carl.page).to_have_url(re.compile(r'/portal/help$'))
    await carl.page.get_by_label('Search the help articles').fill(tag)
    await expect(carl.page).to_have_url(re.compile(rf'/portal/help\?q={tag}$'))  # the search is in the address
    await expect(carl.page.get_by_role('link', name=title)).to_be_visible()
    await _shot(carl.page, 'portal-help.png')
    await carl.page.get_by_role('link', name=title).click()
    await expect(carl.page.get_by_text('PULSE-OFFICE (not PULSE-GUEST)', exact=False)).to_be_visible()
    await carl.page.get_by_role('button', name='Yes').click()
    await expect(carl.page.get_by_text('Thank you for telling us.')).to_be_visible()
    await _shot(carl.page, 'portal-help-article.png')

    # a visitor without an account: /help is closed (404) until the admin opens it
    visitor_context = await e2e.browser.new_context(viewport=VIEWPORT, locale='en-GB')
    visitor = await visitor_context.new_page()
    try:
        admin = await e2e.login('admin@pulse.demo')
        await admin.page.goto(e2e.url + '/kb')
        switch = admin.page.get_by_role('switch', name='Public help centre at /help')
        if await switch.get_attribute('aria-checked') != 'true':
            await switch.click()
            await expect(admin.page.get_by_text('Public help centre opened')).to_be_visible()
        response = await visitor.goto(f'{e2e.url}/help?q={tag}')
        assert response is not None and response.status == 200
        await expect(visitor.get_by_role('link', name=title)).to_be_visible()
        await expect(visitor.get_by_role('link', name='Sign in')).to_be_visible()
        await _shot(visitor, 'public-help.png')
        await visitor.get_by_role('link', name=title).click()
        await expect(visitor).to_have_url(re.compile(rf'/help/{article_id}$'))
        await expect(visitor.get_by_text('Did this help?')).to_be_visible()
        await switch.click()  # closed again: visitors get 404
        await expect(admin.page.get_by_text('Public help centre closed')).to_be_visible()
        response = await visitor.goto(f'{e2e.url}/help/{article_id}')
        assert response is not None and response.status == 404
    finally:
        await visitor_context.close()

    # a saved view in the work lists' navigation, with its count
    await page.goto(f'{e2e.url}/tickets?q=printer')
    await page.get_by_role('button', name='Save view').click()
    await page.get_by_label('Name').fill(f'Printers {tag}')
    await page.get_by_role('button', name='Save', exact=True).click()
    await expect(page.get_by_role('button', name=re.compile(rf'Printers {tag} · \d+'))).to_be_visible()
    await _shot(page, 'saved-views-navigation.png')
