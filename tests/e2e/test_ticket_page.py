"""One agent on the live ticket page and the ticket list, in real Chromium."""
from __future__ import annotations

import base64
import re

import pytest
from playwright.async_api import expect

from .conftest import choose, composer, detail_field, header, reference, screenshot

pytestmark = pytest.mark.e2e


async def test_agent_changes_priority_and_sees_history_and_badge(e2e):
    ref = reference(6)  # open, Globex/ACME customer, not touched by any other test
    anna = await e2e.login('anna@pulse.demo')
    await expect(anna.page).to_have_url(re.compile(r'/tickets$'))
    page = await e2e.open_ticket(anna, ref)

    priority = page.get_by_label('Priority', exact=True)
    old = await priority.input_value()
    assert old, 'the Priority select shows no value'
    badges = header(page, ref).get_by_role('status')
    await expect(badges.filter(has_text=re.compile(rf'^{re.escape(old)}$'))).to_be_visible()

    new = 'Minor' if old != 'Minor' else 'Major'
    await choose(page, 'Priority', new)

    await expect(page.get_by_text(f'Anna Keller changed Priority {old} → {new}', exact=True)).to_be_visible()
    await expect(badges.filter(has_text=re.compile(rf'^{re.escape(new)}$'))).to_be_visible()
    await expect(badges.filter(has_text=re.compile(rf'^{re.escape(old)}$'))).to_have_count(0)
    await expect(priority).to_have_value(new)

    # it was saved, not just shown: a fresh load shows the same
    await page.reload()
    await expect(page.get_by_label('Priority', exact=True)).to_have_value(new)
    await expect(header(page, ref).get_by_role('status').filter(has_text=re.compile(rf'^{new}$'))).to_be_visible()
    await expect(page.get_by_text(f'Anna Keller changed Priority {old} → {new}', exact=True)).to_be_visible()
    await screenshot(page, 'priority-changed.png')


async def test_screenshots_of_ticket_page_and_list(e2e):
    anna = await e2e.login('anna@pulse.demo')
    page = anna.page
    await expect(page).to_have_url(re.compile(r'/tickets$'))
    await expect(page.get_by_text('Tickets', exact=True).last).to_be_visible()
    # the one ticket list: open + in progress by default; every status, recently updated first, from the address
    await page.goto(f'{e2e.url}/tickets?status=all&sort=updated')
    await expect(page.get_by_text('Reference', exact=True)).to_be_visible()
    links = page.get_by_role('link', name=re.compile(r'^PL-\d{4}-\d{6}$'))
    await expect(links).to_have_count(25)  # 60 demo tickets (plus those other tests opened), 25 per page
    summary = page.get_by_text(re.compile(r'^1–25 of \d+ tickets · page 1 of \d+$'))
    await expect(summary).to_be_visible()
    assert int((await summary.inner_text()).split()[2]) >= 60
    await screenshot(page, 'ticket-list.png')

    # open a ticket by clicking its reference in the list
    ref = reference(58)
    # other browser tests update tickets too, so this one may have left page 1: find it with the list's search
    await page.goto(f'{e2e.url}/tickets?status=all&sort=updated&q={ref}')
    link = page.get_by_role('link', name=ref, exact=True)
    await expect(link).to_be_visible()
    await link.click()
    await expect(page).to_have_url(re.compile(rf'/tickets/{ref}$'))
    await expect(page.get_by_text(ref, exact=True)).to_be_visible()
    await expect(page.get_by_text('ERP login locked after password change', exact=True)).to_be_visible()
    await expect(composer(page)).to_be_visible()
    await expect(page.get_by_role('button', name='Send')).to_be_visible()
    for section in ('Classification', 'Customer', 'Service', 'Technical details', 'Description'):
        await expect(page.get_by_text(section, exact=True).first).to_be_visible()
    await expect(page.get_by_text('Documents', exact=True)).to_be_visible()
    # the viewer's own avatar in the presence bar
    await expect(header(page, ref).get_by_text('AK', exact=True)).to_be_visible()
    await screenshot(page, 'ticket-page.png')


async def test_resolved_ticket_offers_distinct_actions(e2e):
    ref = reference(8)  # resolved
    anna = await e2e.login('anna@pulse.demo')
    page = await e2e.open_ticket(anna, ref)
    await expect(header(page, ref).get_by_role('status').filter(has_text=re.compile('^Resolved$'))).to_be_visible()
    await expect(page.get_by_role('button', name='Close', exact=True)).to_be_visible()
    actions = page.get_by_role('button', name=re.compile(r'^(Reopen|Resume work|Back to open|Start work|Close)'))
    await expect(actions).to_have_count(3)
    labels = [text.strip() for text in await actions.all_inner_texts()]
    assert len(set(labels)) == len(labels), f'two actions with the same label: {labels}'
    assert sorted(labels) == ['Close', 'Reopen', 'Resume work']


async def test_similar_tickets_stay_inside_their_panel(e2e):
    """Long similar-ticket titles are cut with an ellipsis; their status badges stay inside the panel and the page
    gets no horizontal scroll (the badges stuck out of the card and widened the page)."""
    anna = await e2e.login('anna@pulse.demo')
    page = await e2e.open_ticket(anna, reference(1))  # "Printer on floor 3 is down": several similar, long titles
    panel = page.locator('.q-expansion-item', has_text='Similar tickets and articles')
    await expect(panel.locator('.search-hit').first).to_be_visible()
    overflow = await panel.evaluate('''panel => {
        const right = panel.getBoundingClientRect().right;
        return [...panel.querySelectorAll('.search-hit *')].filter(e => e.getBoundingClientRect().right > right + 1)
            .map(e => e.textContent.trim().slice(0, 40));
    }''')
    assert overflow == []
    assert await page.evaluate('document.documentElement.scrollWidth <= window.innerWidth')
    await screenshot(page, 'similar-tickets.png')


async def test_field_labels_are_no_composited_layers_of_their_own(e2e):
    """Quasar's ``backface-visibility: hidden`` on every field label made each a composited layer (and every layer
    overlapping one another): 41 layers on a ticket page, 31 for its 17 labels, paid by each frame of every live
    update (``app.COMPOSITING_RULES``)."""
    anna = await e2e.login('anna@pulse.demo')
    page = await e2e.open_ticket(anna, reference(5))
    await expect(page.get_by_label('Priority', exact=True)).to_be_visible()  # the side column's fields are there
    hidden = await page.evaluate('''() => [...document.querySelectorAll('.q-field__label')]
        .filter(e => getComputedStyle(e).backfaceVisibility === 'hidden').length''')
    labels = await page.locator('.q-field__label').count()
    assert labels >= 10 and hidden == 0, (labels, hidden)


async def pixels_apart(page, a: bytes, b: bytes) -> float:
    """The share of the pixels of two same-sized PNG screenshots that differ visibly (decoded by the page's own
    canvas: no image library needed); 1.0 when their sizes differ."""
    return await page.evaluate('''async ([a, b]) => {
        const load = async (src) => { const img = new Image(); img.src = 'data:image/png;base64,' + src;
                                      await img.decode(); return img; };
        const [x, y] = await Promise.all([load(a), load(b)]);
        if (x.width !== y.width || x.height !== y.height) return 1;
        const pixels = (img) => { const c = document.createElement('canvas'); c.width = img.width;
                                  c.height = img.height; const g = c.getContext('2d'); g.drawImage(img, 0, 0);
                                  return g.getImageData(0, 0, img.width, img.height).data; };
        const p = pixels(x), q = pixels(y);
        let apart = 0;
        for (let i = 0; i < p.length; i += 4)
            if (Math.abs(p[i] - q[i]) + Math.abs(p[i + 1] - q[i + 1]) + Math.abs(p[i + 2] - q[i + 2]) > 48) apart++;
        return apart / (p.length / 4);
    }''', [base64.b64encode(a).decode(), base64.b64encode(b).decode()])


async def test_a_detail_field_looks_as_its_editor_and_what_is_typed_before_the_editor_comes_is_kept(e2e):
    """The detail fields are shown as their faces (components/details.py) until the user goes into one: a face
    looks exactly as its editor; text typed into a face before its editor came is carried into the editor, an Enter
    pressed meanwhile saves, and a user who went on meanwhile (Tab, a click elsewhere) keeps their place while the
    field saves as on leaving it. Each ``evaluate`` below runs in one task of the page: the editor can only come
    after it, as on a slow server."""
    ref = reference(22)
    anna = await e2e.login('anna@pulse.demo')
    page = await e2e.open_ticket(anna, ref)
    title = page.get_by_label('Title', exact=True)
    await expect(page.locator('.pl-face').filter(has=title)).to_have_count(1)
    field = page.locator('label.q-field').filter(has=title)
    await field.scroll_into_view_if_needed()
    scrolled = await page.evaluate('window.scrollY')
    await page.evaluate('document.fonts.ready.then(() => true)')  # a font still loading would change the text
    await page.mouse.move(0, 0)
    face_box = await field.bounding_box()
    face_look = await field.screenshot(animations='disabled')
    await detail_field(page, 'Title')
    await title.evaluate('e => e.blur()')  # in and out again, nothing changed: the editor, unfocused
    await page.mouse.move(0, 0)
    await expect(field).not_to_have_class(re.compile('q-field--focused'))
    await page.wait_for_timeout(500)  # Quasar's transitions from the focused look
    await page.evaluate(f'window.scrollTo(0, {scrolled})')
    assert await field.bounding_box() == face_box  # the same place and size
    # the same pixels, but for anti-aliasing (the field's label left unfloated, its text under the label: 1.3 %)
    assert await pixels_apart(page, face_look, await field.screenshot(animations='disabled')) < 0.005

    # typed into the title's face and Enter pressed, all before the editor came: saved
    await page.reload()
    await expect(page.locator('.pl-face').filter(has=title)).to_have_count(1)
    await page.evaluate('''() => {
        const face = document.getElementById('pl-face-title');
        face.focus();
        face.value = 'ERP login locked (typed fast)';
        face.dispatchEvent(new Event('input', {bubbles: true}));
        face.dispatchEvent(new KeyboardEvent('keydown', {key: 'Enter', bubbles: true}));
    }''')
    await expect(page.get_by_text('ERP login locked (typed fast)', exact=True).first).to_be_visible()  # the heading
    await expect(title).to_have_value('ERP login locked (typed fast)')
    await expect(title).to_be_focused()

    # typed into the description's face, then the editor comes: the text and the focus are in the editor
    await page.evaluate('''() => {
        const face = document.getElementById('pl-face-description');
        face.focus();
        face.value = 'Typed before the editor came';
        face.dispatchEvent(new Event('input', {bubbles: true}));
    }''')
    description = page.get_by_label('Description', exact=True)
    await expect(page.locator('.pl-face').filter(has=description)).to_have_count(0)
    await expect(description).to_have_value('Typed before the editor came')
    await expect(description).to_be_focused()
    await description.press('Tab')
    await expect(page.get_by_text('Anna Keller changed Description', exact=False).first).to_be_visible()

    # typed into a face, then on to another field before the editor came: saved as on leaving it
    await page.get_by_role('button', name='Expand "Technical details"').click()  # the collapsed section opens
    await expect(page.get_by_label('Work-around', exact=True)).to_be_visible()
    await page.evaluate('''() => {
        const face = document.getElementById('pl-face-workaround');
        face.focus();
        face.value = 'Print from tray 1';
        face.dispatchEvent(new Event('input', {bubbles: true}));
        document.querySelector('textarea[placeholder^="Write a message"]').focus();  // and on to the composer
    }''')
    await expect(page.get_by_text('Anna Keller changed Work-around', exact=False).first).to_be_visible()
    await expect(page.get_by_label('Work-around', exact=True)).to_have_value('Print from tray 1')
    await expect(composer(page)).to_be_focused()  # where the user went: the editor's save did not take them back


async def test_the_teams_picker_is_built_when_used_and_adds_a_member(e2e):
    """The team's "Add a member" is its face until the user goes into it (components/team.py): no select and no
    read of the people it offers on every open. A click builds it with its menu open; a pick and Add put the person
    on the team."""
    anna = await e2e.login('anna@pulse.demo')
    page = await e2e.open_ticket(anna, reference(25))
    picker = page.get_by_label('Add a member', exact=True)
    await expect(page.locator('.pl-face').filter(has=picker)).to_have_count(1)
    await choose(page, 'Add a member', 'Daniel Weber <daniel@pulse.demo>')  # the click opens the built select's menu
    await expect(page.locator('.pl-face').filter(has=picker)).to_have_count(0)
    team = page.locator('.q-card').filter(has=page.get_by_text('Notified', exact=True))
    await team.locator('button').filter(has_text='person_add').click()  # Add to team
    await expect(page.get_by_text('Anna Keller added Daniel Weber to the team', exact=False).first).to_be_visible()
