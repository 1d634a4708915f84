"""The customer portal in a real browser: Carl opens a request, Anna sees it arrive live, they talk (Carl never sees
Anna's internal note), Carl sends a file that Anna downloads; and Anna identifies a caller on the new-ticket form."""
from __future__ import annotations

import re
import uuid

import pytest
from playwright.async_api import expect

from .conftest import composer, post_message, screenshot

pytestmark = pytest.mark.e2e


async def test_customer_request_live_with_agent(e2e, tmp_path):
    tag = uuid.uuid4().hex[:8]
    subject = f'Invoices do not print ({tag})'
    anna = await e2e.login('anna@pulse.demo')
    await anna.page.goto(e2e.url + '/tickets')
    await expect(anna.page.get_by_text('Search reference or title').first).to_be_attached()

    # Carl opens a request in the portal, with a screenshot attached
    carl = await e2e.login('carl@acme.demo')
    page = carl.page
    await page.get_by_role('button', name='New request').click()
    await expect(page).to_have_url(re.compile(r'/portal/new$'))
    await page.get_by_label('Subject').fill(subject)
    await page.get_by_label('Describe it').fill('Since this morning the printer on floor 3 shows E-53.')
    await page.get_by_text('Now: I cannot work').click()
    await page.get_by_text('My team or department').click()
    shot = tmp_path / 'printer-display.txt'
    shot.write_bytes(b'E-53 paper jam in tray 2')
    await page.locator('.q-uploader input[type=file]').set_input_files(str(shot))
    await expect(page.get_by_text('printer-display.txt', exact=False).first).to_be_visible()
    await page.get_by_role('button', name='Send request').click()
    await expect(page).to_have_url(re.compile(r'/portal/requests/PL-\d{4}-\d{6}$'))
    reference = page.url.rsplit('/', 1)[1]
    await expect(page.get_by_text(reference, exact=True)).to_be_visible()
    await expect(page.get_by_text(subject, exact=True)).to_be_visible()
    await expect(page.get_by_text('Received', exact=True).first).to_be_visible()

    # Anna's ticket list shows it without a reload
    await expect(anna.page.get_by_role('link', name=reference)).to_be_visible(timeout=20_000)
    await anna.page.get_by_role('link', name=reference).click()
    await expect(composer(anna.page)).to_be_visible()

    # she writes an internal note, then answers publicly
    note = f'Internal: tray 2 sensor is flaky on this model ({tag}-note)'
    reply = f'Hello Carl, a technician comes at 14:00 ({tag}-reply)'
    await post_message(anna.page, note, internal=True)
    await expect(anna.page.get_by_text(note, exact=True)).to_be_visible()
    await post_message(anna.page, reply)

    # Carl, still on his request, gets the reply live, never the note
    await expect(page.get_by_text(reply, exact=True)).to_be_visible(timeout=20_000)
    await expect(page.get_by_text(f'{tag}-note')).to_have_count(0)
    await expect(page.get_by_text('Internal note')).to_have_count(0)
    await expect(page.get_by_role('tab', name='Internal note')).to_have_count(0)

    # Carl answers with a file; Anna sees it live and downloads it
    log = tmp_path / 'event-log.txt'
    log.write_bytes(f'printer log {tag}\n'.encode())
    await page.locator('.q-uploader input[type=file]').set_input_files(str(log))
    await expect(page.get_by_text('event-log.txt', exact=False).first).to_be_visible()
    await composer(page).fill('Here is the printer log.')
    await page.get_by_role('button', name='Send').click()
    await expect(composer(page)).to_have_value('')
    await expect(page.get_by_role('link', name='event-log.txt').first).to_be_visible()
    await expect(page.locator('.q-notification')).to_have_count(0, timeout=20_000)  # let the toast go
    await page.evaluate('window.scrollTo(0, 0)')
    await screenshot(page, 'portal-request.png', full_page=False)

    link = anna.page.get_by_role('link', name='event-log.txt').first
    await expect(link).to_be_visible(timeout=20_000)
    href = await link.get_attribute('href')
    response = await anna.context.request.get(e2e.url + href)
    assert response.status == 200 and await response.body() == f'printer log {tag}\n'.encode()
    # the same address is nothing for a customer of another organisation
    tom = await e2e.login('tom@globex.demo')
    assert (await tom.context.request.get(e2e.url + href)).status == 404
    await expect(page.get_by_text(f'{tag}-note')).to_have_count(0)


async def test_identification_form(e2e):
    anna = await e2e.login('anna@pulse.demo')
    page = anna.page
    await page.goto(e2e.url + '/tickets/new')
    search = page.get_by_label('Who is calling? E-mail, phone, user id or name')
    await search.fill('0045 33 12 34 56')  # stored as +45 33 12 34 56
    hit = page.locator('.q-item').filter(has_text='Carl Jensen')
    await expect(hit).to_be_visible()
    await hit.click()
    for text in ('carl@acme.demo', '+45 33 12 34 56', 'Copenhagen', 'Finance', 'ACME Corp', 'Laptop CPH-LT-0231',
                 'Cisco AnyConnect 4.10'):
        await expect(page.get_by_text(text, exact=True).first).to_be_visible()
    await expect(page.get_by_text('S/N PF3KX8Q1 · Windows 11 Pro 23H2', exact=False)).to_be_visible()
    await expect(page.get_by_text('Recent tickets', exact=False)).to_be_visible()
    await page.get_by_label('Title').fill('VPN drops every ten minutes')
    await page.mouse.move(0, 0)
    await page.wait_for_timeout(500)  # let the floating labels settle
    await screenshot(page, 'identification-form.png')
    await page.get_by_role('button', name='Create ticket').click()
    await expect(page).to_have_url(re.compile(r'/tickets/PL-\d{4}-\d{6}$'))
    await expect(page.get_by_text('Customer: Carl Jensen (ACME Corp)', exact=False)).to_be_visible()
