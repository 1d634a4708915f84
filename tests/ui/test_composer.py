"""The agents' composer: Reply to customer / Internal note, unmistakable; the customer's composer has no modes."""
import asyncio
import html
import re
from collections.abc import Callable

import pytest
from nicegui import ui
from nicegui.testing import User
from sqlalchemy import select

from pulse_live import db
from pulse_live.config import reset_settings
from pulse_live.models import TicketEvent
from pulse_live.services import chatter, tickets
from tests.factories import make_ticket
from tests.ui.conftest import document_names, login, open_ticket, until


async def _messages(ticket_id: int) -> list[tuple[str, bool]]:
    async with db.session() as s:
        rows = await s.execute(select(TicketEvent.body, TicketEvent.is_internal)
                               .where(TicketEvent.ticket_id == ticket_id, TicketEvent.kind == 'message')
                               .order_by(TicketEvent.id))
        return [tuple(r) for r in rows]


def _box(user: User) -> ui.column:
    """The composer's frame (its look tells the mode)."""
    return user.find(marker='composer').elements.pop().parent_slot.parent


def _audience(user: User) -> str:
    """The line under the modes naming who will read the message (one static element with its icon)."""
    content = user.find(marker='composer-audience').elements.pop().content
    return html.unescape(re.search(r'data-mark="composer-audience-text">(.*?)</div>', content).group(1))


def _send_text(user: User) -> str:
    return user.find(marker='composer-send').elements.pop().text


async def test_a_new_install_opens_on_internal_note_and_says_so(create_user: Callable[[], User], people) -> None:
    ticket = await make_ticket(people)
    anna, carl = create_user(), create_user()
    await open_ticket(anna, 'anna@pulse.demo', ticket.reference)
    await login(carl, 'carl@acme.demo', expect='My requests')
    await carl.open(f'/portal/requests/{ticket.reference}')
    await carl.should_see(marker='request-title')
    assert anna.find(marker='composer-mode').elements.pop().value == 'note'
    assert 'Only staff see internal notes' in _audience(anna)
    assert 'bg-amber-50' in _box(anna).classes and _send_text(anna) == 'Send internal note'
    anna.find(marker='composer').type('Ben, the vendor confirmed a patch')
    anna.find(marker='composer-send').click()
    await anna.should_see(kind=ui.html, content='the vendor confirmed a patch', retries=30)
    await anna.should_see(marker='internal-badge')
    assert await _messages(ticket.id) == [('Ben, the vendor confirmed a patch', True)]
    await carl.should_not_see('the vendor confirmed')


async def test_reply_mode_names_the_customer_and_switching_keeps_the_draft(create_user: Callable[[], User],
                                                                            people) -> None:
    ticket = await make_ticket(people)
    anna, carl = create_user(), create_user()
    await open_ticket(anna, 'anna@pulse.demo', ticket.reference)
    await login(carl, 'carl@acme.demo', expect='My requests')
    await carl.open(f'/portal/requests/{ticket.reference}')
    await carl.should_see(marker='request-title')
    anna.find(marker='composer').type('Hello Carl, a technician')
    await anna.find(ui.upload).elements.pop().handle_uploads(
        [ui.upload.SmallFileUpload('route.txt', 'text/plain', b'floor 3')])
    await anna.should_see(marker='pending-file')
    anna.find(marker='mode-reply').click()
    assert _audience(anna) == 'Visible to Carl Jensen (the customer) and staff.'
    assert 'bg-amber-50' not in _box(anna).classes and _send_text(anna) == 'Send reply'
    anna.find(marker='mode-note').click()
    anna.find(marker='mode-reply').click()
    composer = anna.find(marker='composer').elements.pop()
    assert composer.value == 'Hello Carl, a technician'  # the draft survived both switches …
    await anna.should_see(marker='pending-file')  # … and so did the file
    anna.find(marker='composer').type(' is on the way.')
    anna.find(marker='composer-send').click()
    await carl.should_see(kind=ui.html, content='a technician is on the way', retries=50)
    await until(lambda: 'route.txt' in document_names(carl))
    assert await _messages(ticket.id) == [('Hello Carl, a technician is on the way.', False)]
    assert anna.find(marker='composer-mode').elements.pop().value == 'reply'  # the chosen mode stays


async def test_the_named_customer_follows_a_change_of_customer(create_user: Callable[[], User], people) -> None:
    ticket = await make_ticket(people)
    anna = create_user()
    await open_ticket(anna, 'anna@pulse.demo', ticket.reference)
    anna.find(marker='mode-reply').click()
    assert 'Carl Jensen' in _audience(anna)
    await tickets.update_ticket(actor=people.users['ben@pulse.demo'], ticket_id=ticket.id,
                                expected_version=ticket.version,
                                changes={'customer_id': people.users['eva@acme.demo'].id})
    await anna.should_see(content='Customer: Eva Lindqvist', retries=50)
    anna.find(marker='composer').type('Hello')  # the line is brought up to date as the agent writes
    await until(lambda: _audience(anna) == 'Visible to Eva Lindqvist (the customer) and staff.')


async def test_without_a_customer_reply_mode_says_only_staff_read_it(user: User, people) -> None:
    ticket = await make_ticket(people, customer_id=None)
    await open_ticket(user, 'anna@pulse.demo', ticket.reference)
    user.find(marker='mode-reply').click()
    assert _audience(user) == 'No customer on this ticket: replies are seen by staff only.'


async def test_the_default_mode_is_a_setting(user: User, people, monkeypatch) -> None:
    monkeypatch.setenv('PULSE_COMPOSER_DEFAULT_INTERNAL', 'false')
    reset_settings()
    ticket = await make_ticket(people)
    await open_ticket(user, 'anna@pulse.demo', ticket.reference)
    assert user.find(marker='composer-mode').elements.pop().value == 'reply'
    assert _audience(user) == 'Visible to Carl Jensen (the customer) and staff.'


@pytest.mark.parametrize('text', ['@ben please check the vendor patch', '@Team please all check'])
async def test_a_reply_mentioning_only_staff_asks_once(user: User, people, text) -> None:
    ticket = await make_ticket(people)
    await open_ticket(user, 'anna@pulse.demo', ticket.reference)
    user.find(marker='mode-reply').click()
    composer = next(iter(user.find(marker='composer').elements))
    def dialogs() -> list[ui.dialog]:
        return [e for e in user.client.elements.values() if isinstance(e, ui.dialog)]
    assert dialogs() == []  # the question is built when it is first asked, not with every ticket page

    # dismissed: nothing is sent, the draft stays
    user.find(marker='composer').type(text)
    user.find(marker='composer-send').click()
    await until(lambda: dialogs() and dialogs()[0].value)
    [dialog] = dialogs()
    with user.client:
        dialog.submit(None)
    await user.should_see(marker='composer-mode')
    assert composer.value == text and await _messages(ticket.id) == []

    # "Send as internal note": sent internal, and the composer shows note mode
    user.find(marker='composer-send').click()
    await until(lambda: dialog.value)
    user.find(marker='send-as-note').click()
    await user.should_see(marker='internal-badge', retries=50)
    assert await _messages(ticket.id) == [(text, True)]
    assert dialogs() == [dialog]  # asked again: the same dialog
    assert user.find(marker='composer-mode').elements.pop().value == 'note'

    # "Send to customer": sent public, asked only once
    user.find(marker='mode-reply').click()
    user.find(marker='composer').type(text + ' again')
    user.find(marker='composer-send').click()
    await until(lambda: dialog.value)
    user.find(marker='send-to-customer').click()
    await until(lambda: len(composer.value or '') == 0)
    assert (await _messages(ticket.id))[-1] == (text + ' again', False)
    assert not dialog.value


async def test_a_reply_mentioning_the_customer_or_nobody_is_not_questioned(user: User, people) -> None:
    ticket = await make_ticket(people)
    await open_ticket(user, 'anna@pulse.demo', ticket.reference)
    user.find(marker='mode-reply').click()
    for text in ('@carl and @ben: the patch is ready', 'Mail me at carl@acme.demo', 'No mention at all'):
        user.find(marker='composer').type(text)
        user.find(marker='composer-send').click()
        await until(lambda: not (user.find(marker='composer').elements.pop().value or ''))
        assert not [e for e in user.client.elements.values() if isinstance(e, ui.dialog)]  # never asked
    assert [internal for _, internal in await _messages(ticket.id)] == [False, False, False]


async def test_the_customers_composer_has_no_modes(user: User, people) -> None:
    ticket = await make_ticket(people)
    await login(user, 'carl@acme.demo', expect='My requests')
    await user.open(f'/portal/requests/{ticket.reference}')
    await user.should_see(marker='composer')
    await user.should_not_see(marker='composer-mode')
    await user.should_not_see('Internal note')
    assert _send_text(user) == 'Send'
    user.find(marker='composer').type('@ben is there news?')
    user.find(marker='composer-send').click()
    await user.should_see(kind=ui.html, content='is there news?', retries=50)
    assert await _messages(ticket.id) == [('@ben is there news?', False)]


async def test_a_message_sent_while_the_last_is_on_its_way_goes_after_it_and_nothing_typed_is_lost(
        user: User, people, monkeypatch) -> None:
    """A busy server takes a while to post; what the agent does meanwhile is neither dropped nor wiped: a second
    message sent meanwhile goes after the first (a second click on the same one does not post it twice), and text
    typed after Send stays in the composer when the first is done."""
    ticket = await make_ticket(people)
    await open_ticket(user, 'anna@pulse.demo', ticket.reference)
    gate, original, calls = asyncio.Event(), chatter.post_message, []

    calls_kw: list[dict] = []

    async def slow_post(**kwargs):
        calls.append(kwargs['body'])
        calls_kw.append(kwargs)
        if len(calls) == 1:
            await gate.wait()  # the server is busy with the first message
        return await original(**kwargs)
    monkeypatch.setattr(chatter, 'post_message', slow_post)
    composer, send_button = user.find(marker='composer'), user.find(marker='composer-send')
    await user.find(ui.upload).elements.pop().handle_uploads(
        [ui.upload.SmallFileUpload('screenshot.txt', 'text/plain', b'the error dialog')])
    composer.type('First message')
    send_button.click()
    await until(lambda: calls == ['First message'])
    send_button.click()  # a second click on the message on its way: nothing more
    composer.clear().type('Second message')
    send_button.click()  # another message, sent while the first is on its way
    await asyncio.sleep(0.05)  # (the click's handler starts)
    composer.clear().type('Third, still typing')  # and typing on
    await asyncio.sleep(0.2)
    assert calls == ['First message']  # the second waits for the first
    gate.set()
    await until(lambda: len(calls) == 2)
    for _ in range(100):
        if len(await _messages(ticket.id)) == 2:
            break
        await asyncio.sleep(0.05)
    assert [body for body, _ in await _messages(ticket.id)] == ['First message', 'Second message']
    assert [len(c['files']) for c in calls_kw] == [1, 0]  # the file went with the first, not twice
    await asyncio.sleep(0.2)
    assert composer.elements.pop().value == 'Third, still typing'  # what was typed after Send is kept
    assert calls == ['First message', 'Second message']


async def test_text_typed_on_after_send_stays_once_the_message_is_posted(user: User, people, monkeypatch) -> None:
    """What was sent leaves the composer; what the agent typed on after Send, before the post was done, stays."""
    ticket = await make_ticket(people)
    await open_ticket(user, 'anna@pulse.demo', ticket.reference)
    gate, original, calls = asyncio.Event(), chatter.post_message, []

    async def slow_post(**kwargs):
        calls.append(kwargs['body'])
        await gate.wait()
        return await original(**kwargs)
    monkeypatch.setattr(chatter, 'post_message', slow_post)
    composer = user.find(marker='composer')
    composer.type('The printer is back.')
    user.find(marker='composer-send').click()
    await until(lambda: calls == ['The printer is back.'])
    composer.type(' Also, the scanner')  # typed on in the same box
    gate.set()
    for _ in range(100):
        if await _messages(ticket.id):
            break
        await asyncio.sleep(0.05)
    assert [body for body, _ in await _messages(ticket.id)] == ['The printer is back.']
    [box] = composer.elements
    await until(lambda: box.value != 'The printer is back. Also, the scanner')
    assert box.value == 'Also, the scanner'
