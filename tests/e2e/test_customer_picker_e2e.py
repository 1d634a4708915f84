"""The ticket page's Customer select looks customers up as the agent types (a desk has tens of thousands: the page
offers a first few), in real Chromium: Quasar's own filtering and the server's answer together."""
from __future__ import annotations

import pytest
from playwright.async_api import expect

from .conftest import reference, screenshot, serve

pytestmark = pytest.mark.e2e


@pytest.fixture(scope='module')
def server(tmp_path_factory):
    yield from serve(tmp_path_factory.mktemp('pulse-picker'))


async def test_typing_in_the_customer_select_finds_the_customer_and_picking_saves_it(e2e):
    anna = await e2e.login('anna@pulse.demo')
    page = await e2e.open_ticket(anna, reference(7))  # Tom Baker's (Globex)
    picker = page.get_by_label('Customer', exact=True)
    await expect(picker).to_be_visible()
    await picker.click()
    await picker.press_sequentially('fisch', delay=60)
    option = page.locator('.q-menu').get_by_role('option', name='Lena Fischer (Globex Ltd)', exact=True)
    await expect(option).to_be_visible()
    # only what matches, also once the server's answer (it keeps the current customer, Tom Baker, among the options
    # so the value stays shown) has replaced the browser's own filtering: seen with two options before
    await page.wait_for_timeout(1000)
    await expect(page.locator('.q-menu').get_by_role('option')).to_have_count(1)
    await expect(picker).to_have_value('fisch')
    await screenshot(page, 'customer-picker-typed.png', full_page=False)
    await option.click()
    await expect(page.get_by_text('Anna Keller changed Customer Tom Baker → Lena Fischer', exact=True)) \
        .to_be_visible()
    await expect(page.get_by_role('link', name='Lena Fischer', exact=True)).to_be_visible()  # the customer's card
    await expect(picker).to_have_value('Lena Fischer (Globex Ltd)')
