"""Search in a real browser: a customer typing a new request sees a suggested article appear under the form; an
agent finds a message by a word in it from the header search and lands on that entry of the chatter."""
from __future__ import annotations

import re
import uuid

import pytest
from playwright.async_api import expect

from .conftest import post_message, reference, screenshot

pytestmark = pytest.mark.e2e


async def test_a_customer_typing_a_request_sees_a_suggested_article(e2e):
    tag = uuid.uuid4().hex[:6]
    title = f'Renew the docking firmware {tag}'
    anna = await e2e.login('anna@pulse.demo')
    page = anna.page
    await page.goto(e2e.url + '/kb/new')
    await page.get_by_label('Title').fill(title)
    await page.locator('[data-testid=kb-body], .q-textarea textarea').first.fill(
        'Download the firmware tool, dock the laptop and run the update.')
    await page.get_by_text('Public (customers)').click()
    await page.get_by_text('Published', exact=True).click()
    await page.get_by_role('button', name='Save').click()
    await expect(page).to_have_url(re.compile(r'/kb/\d+$'), timeout=30_000)

    carl = await e2e.login('carl@acme.demo')
    page = carl.page
    await page.goto(e2e.url + '/portal/new')
    await page.get_by_label('Subject').press_sequentially(f'docking firmware {tag}', delay=40)
    suggestion = page.locator('.search-hit', has_text=title).first
    await expect(suggestion).to_be_visible(timeout=30_000)
    await expect(page.get_by_text('These articles may answer it already')).to_be_visible()
    await screenshot(page, 'search-portal-suggestions.png')
    await page.get_by_role('button', name='This solved it').first.click()
    await expect(page.get_by_text('Glad it helped. No request was sent.')).to_be_visible(timeout=30_000)
    await expect(page.get_by_role('button', name='Send request')).to_have_count(0)


async def test_an_agent_finds_a_message_from_the_header_and_lands_on_it(e2e):
    tag = uuid.uuid4().hex[:6]
    word = f'zq{tag}'
    ref = reference(3)
    ben = await e2e.login('ben@pulse.demo')
    ben.context.set_default_timeout(30_000)  # a shared, busy machine: the page may take a while
    page = await e2e.open_ticket(ben, ref)
    await post_message(page, f'The gateway logs show {word} at the handshake', internal=True)
    for n in range(15):  # enough newer entries that the message is far above the end of the chatter
        await post_message(page, f'Later entry {n} for {tag}')
    await expect(page.get_by_text(f'Later entry 14 for {tag}', exact=True)).to_be_visible()

    anna = await e2e.login('anna@pulse.demo')
    anna.context.set_default_timeout(30_000)
    page = anna.page
    await page.goto(e2e.url + '/tickets')
    box = page.locator('[data-testid=header-search], header input').first
    await box.press_sequentially(word[:6], delay=60)
    hit = page.locator('.search-hit', has_text='Internal note by Ben Okafor').first
    await expect(hit).to_be_visible(timeout=30_000)
    await screenshot(page, 'search-header-results.png', full_page=False)
    await hit.click()
    await expect(page).to_have_url(re.compile(rf'/tickets/{ref}\?entry=\d+$'), timeout=30_000)
    entry = page.get_by_text(f'The gateway logs show {word} at the handshake', exact=True)
    await expect(entry).to_be_in_viewport(timeout=30_000)
    await page.wait_for_timeout(2500)  # and it stays there: the page's own scroll to the end does not carry it away
    await expect(entry).to_be_in_viewport()
    await screenshot(page, 'search-landed-on-entry.png', full_page=False)

    await page.goto(e2e.url + f'/search?q={word[:6]}')
    await expect(page.locator('.search-hit').first).to_be_visible()
    await screenshot(page, 'search-results-page.png')


async def test_a_customer_finds_a_reply_from_the_header_and_lands_on_it(e2e):
    """The portal honours ``?entry=``: a customer's search hit on a reply opens the request on that reply."""
    tag = uuid.uuid4().hex[:6]
    word = f'zr{tag}'
    carl = await e2e.login('carl@acme.demo')
    carl.context.set_default_timeout(30_000)
    page = carl.page
    await page.goto(e2e.url + '/portal/new')
    await page.get_by_label('Subject').fill(f'Dock keeps disconnecting {tag}')
    await page.get_by_label('Describe it').fill('Every few minutes the screens go dark.')
    await page.get_by_role('button', name='Send request').click()
    await expect(page).to_have_url(re.compile(r'/portal/requests/[^/?]+$'), timeout=30_000)
    ref = page.url.rsplit('/', 1)[1]

    anna = await e2e.login('anna@pulse.demo')
    anna.context.set_default_timeout(30_000)
    agent_page = await e2e.open_ticket(anna, ref)
    await post_message(agent_page, f'Please update the dock with {word} and restart it')
    for n in range(15):  # enough newer replies that the one found is far above the end of the conversation
        await post_message(agent_page, f'Later reply {n} for {tag}')

    await page.goto(e2e.url + '/portal')
    box = page.locator('[data-testid=header-search], header input').first
    await box.press_sequentially(word[:6], delay=60)
    hit = page.locator('.search-hit', has_text=word).first
    await expect(hit).to_be_visible(timeout=30_000)
    await hit.click()
    await expect(page).to_have_url(re.compile(rf'/portal/requests/{ref}\?entry=\d+$'), timeout=30_000)
    await expect(page.get_by_text(f'Later reply 14 for {tag}', exact=True)).to_be_attached()
    entry = page.get_by_text(f'Please update the dock with {word} and restart it', exact=True)
    await expect(entry).to_be_in_viewport(timeout=30_000)
    await page.wait_for_timeout(2500)  # and it stays there
    await expect(entry).to_be_in_viewport()
    await screenshot(page, 'search-portal-landed-on-reply.png', full_page=False)
