"""Agent A mentions agent B, who has the ticket list open: B's bell count goes up live, with a toast."""
from __future__ import annotations

import re
import uuid

import pytest
from playwright.async_api import expect

from .conftest import post_message, reference, screenshot

pytestmark = pytest.mark.e2e


async def test_mention_raises_bell_count_live(e2e):
    ref = reference(15)
    anna = await e2e.login('anna@pulse.demo')
    ben = await e2e.login('ben@pulse.demo')
    await ben.page.goto(e2e.url + '/tickets')
    bell = ben.page.locator('.q-header').get_by_role('button').filter(has_text='notifications')
    await expect(bell).to_be_visible()
    badge = bell.locator('.q-badge')
    before_text = (await badge.inner_text()).strip() if await badge.is_visible() else '0'
    before = int(before_text or 0)

    await e2e.open_ticket(anna, ref)
    text = f'@ben could you look at this one? {uuid.uuid4().hex[:6]}'
    await post_message(anna.page, text, internal=True)  # a question to a colleague: an internal note

    await expect(badge).to_have_text(re.compile(rf'^{before + 1}$'), timeout=10_000)
    await expect(ben.page.get_by_text('mentioned you', exact=False).first).to_be_visible()
    await screenshot(ben.page, 'bell-after-mention.png', full_page=False)
    await bell.click()
    await expect(ben.page.get_by_text(text.split('?')[0], exact=False).first).to_be_visible()
    await ben.page.get_by_role('button', name='Mark all read').click()
    await expect(badge).to_be_hidden(timeout=10_000)
