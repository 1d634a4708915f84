"""Two agents change the same field in real browsers: the one refused keeps their text beside the fresh value."""
from __future__ import annotations

import uuid

from playwright.async_api import expect

from .conftest import artifact, detail_field, reference


async def test_the_refused_version_is_kept_beside_the_fresh_value(e2e):
    ref = reference(6)
    anna = await e2e.login('anna@pulse.demo')
    ben = await e2e.login('ben@pulse.demo')
    await e2e.open_ticket(anna, ref)
    await e2e.open_ticket(ben, ref)
    tag = uuid.uuid4().hex[:6]
    mine, theirs = f'Anna: relay refuses mail from the web server ({tag})', f'Ben: relay restarted ({tag})'
    anna_box = await detail_field(anna.page, 'Description')
    ben_box = await detail_field(ben.page, 'Description')
    await anna_box.fill(mine)  # Anna is still writing …
    await ben_box.fill(theirs)
    await ben_box.press('Tab')  # … when Ben saves his version
    await expect(anna.page.get_by_text('Ben Okafor changed Description', exact=False).first) \
        .to_be_visible(timeout=10_000)
    await expect(anna_box).to_have_value(mine)  # the live update left her text alone
    await anna_box.press('Tab')  # her save is refused: same field
    kept = anna.page.get_by_text('Description was changed by someone else meanwhile', exact=False)
    await expect(kept).to_be_visible(timeout=10_000)
    await expect(anna_box).to_have_value(theirs)
    panel = kept.locator('xpath=ancestor::div[contains(@class, "border-orange-300")][1]')
    await expect(panel.locator('textarea')).to_have_value(mine)
    await panel.scroll_into_view_if_needed()
    await anna.page.locator('.q-notification').first.wait_for(state='detached', timeout=15_000)
    await panel.locator('xpath=ancestor::div[contains(@class, "q-expansion-item")][1]').screenshot(
        path=str(artifact('kept-your-version.png')))
    await panel.get_by_role('button', name='Use mine').click()
    await expect(panel).to_be_hidden(timeout=10_000)
    await expect(ben_box).to_have_value(mine, timeout=10_000)
