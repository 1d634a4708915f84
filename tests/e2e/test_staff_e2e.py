"""The admins' staff page in real Chromium: reached from the header, an invitation sent, a role changed, somebody
deactivated and reactivated. Screenshots of the page and of the invitation dialog."""
from __future__ import annotations

import re

import pytest
from playwright.async_api import expect

from .conftest import screenshot

pytestmark = pytest.mark.e2e


async def test_admin_manages_staff_on_the_staff_page(e2e):
    ada = await e2e.login('admin@pulse.demo')
    page = ada.page
    await page.get_by_role('button', name='Admin').click()  # the settings pages are one menu in the header
    await expect(page.get_by_role('link', name='Error reports', exact=True)).to_be_visible()
    await screenshot(page, 'admin-menu.png')
    await page.get_by_role('link', name='Staff', exact=True).click()
    await expect(page).to_have_url(re.compile(r'/admin/staff$'))
    for name in ('Ada Admin', 'Maria Rossi', 'Anna Keller', 'Ben Okafor', 'Daniel Weber'):
        await expect(page.get_by_text(name, exact=True).first).to_be_visible()

    await page.get_by_role('button', name='Invite…').click()
    await page.get_by_label('Name', exact=True).fill('Nora Berg')
    await page.get_by_label('E-mail', exact=True).fill('nora@pulse.demo')
    await page.get_by_label('Queues', exact=True).click()
    await page.locator('.q-menu').get_by_role('option', name='Network', exact=True).click()
    await page.keyboard.press('Escape')
    await expect(page.locator('.q-menu')).to_have_count(0)
    await screenshot(page, 'staff-invite-dialog.png', full_page=False)
    await page.get_by_role('button', name='Send invitation').click()
    await expect(page.get_by_text('Nora Berg invited; the password link is on its way to nora@pulse.demo.')) \
        .to_be_visible()
    nora = page.locator('.q-item, div.row').filter(has=page.get_by_text('Nora Berg', exact=True)) \
        .filter(has=page.get_by_text('never signed in', exact=True)).last
    await expect(nora).to_be_visible()

    # Daniel becomes a manager
    daniel = page.locator('div.row.no-wrap').filter(has=page.get_by_text('Daniel Weber', exact=True)).last
    await daniel.get_by_label('Role').click()
    await page.locator('.q-menu').get_by_role('option', name='Manager', exact=True).click()
    await expect(page.get_by_text('Daniel Weber is manager now.')).to_be_visible()

    # Daniel's row moves up among the managers (admins, managers, agents, each by name): wait for the list to show
    # the new order before clicking in it, or a click aimed at Ben lands on whoever took his row's place
    await page.wait_for_function('''() => {
        const rows = [...document.querySelectorAll('div.row.no-wrap.border-b')].map(row => row.innerText);
        const daniel = rows.findIndex(t => t.includes('Daniel Weber')), anna = rows.findIndex(t => t.includes('Anna Keller'));
        return daniel >= 0 && anna >= 0 && daniel < anna;
    }''')
    rows = page.locator('div.row.no-wrap.border-b')

    # Ben is deactivated, then reactivated
    ben = rows.filter(has=page.get_by_text('Ben Okafor', exact=True))
    await ben.get_by_role('button', name='Deactivate').click()
    dialog = page.get_by_role('dialog')
    await expect(dialog.get_by_text('Deactivate Ben Okafor?')).to_be_visible()
    await dialog.get_by_role('button', name='Deactivate').click()
    await expect(page.get_by_text('Ben Okafor is deactivated.')).to_be_visible()
    await expect(ben.get_by_text('deactivated', exact=True)).to_be_visible()
    await expect(rows.last).to_contain_text('Ben Okafor')  # the deactivated come last
    await expect(page.get_by_text('deactivated', exact=True)).to_have_count(1)  # nobody else
    await screenshot(page, 'staff-page.png')
    await ben.get_by_role('button', name='Reactivate').click()
    await expect(page.get_by_text('Ben Okafor can sign in again.')).to_be_visible()


async def test_an_agent_is_refused_the_staff_page(e2e):
    anna = await e2e.login('anna@pulse.demo')
    await expect(anna.page.get_by_role('link', name='Staff', exact=True)).to_have_count(0)
    await anna.page.goto(e2e.url + '/admin/staff')
    await expect(anna.page).to_have_url(re.compile(r'/tickets$'))
    await expect(anna.page.get_by_role('button', name='Invite…')).to_have_count(0)


async def test_on_a_phone_the_header_is_a_menu_of_links(e2e):
    maria = await e2e.login('maria@pulse.demo')
    page = maria.page
    await page.set_viewport_size({'width': 390, 'height': 844})
    await expect(page.get_by_role('link', name='Queues', exact=True)).to_be_hidden()  # the wide header's row
    await page.locator('.q-header .q-btn').filter(has_text='menu').first.click()
    menu = page.locator('.q-menu')
    for name in ('Tickets', 'Queues', 'My tickets', 'Dashboard', 'Profile (Maria Rossi)'):
        await expect(menu.get_by_text(name, exact=True)).to_be_visible()
    await page.wait_for_timeout(500)  # the menu's fade-in, for the screenshot
    await screenshot(page, 'phone-menu.png', full_page=False)
    await menu.get_by_text('My tickets', exact=True).click()
    await expect(page).to_have_url(re.compile(r'/my$'))
