"""The agents' new-ticket form (/tickets/new) with a priority label that fits, and jumping to a ticket by its
reference from the ticket list."""
from __future__ import annotations

from nicegui.testing import User
from sqlalchemy import func, select

from pulse_live import db
from pulse_live.config import reset_settings
from pulse_live.models import Ticket
from tests.factories import make_ticket
from tests.ui.conftest import login


async def _tickets_titled(title: str) -> int:
    async with db.session() as s:
        return (await s.execute(select(func.count()).select_from(Ticket).where(Ticket.title == title))).scalar_one()


async def test_double_click_on_create_opens_one_ticket(user: User, people) -> None:
    await login(user, 'anna@pulse.demo')
    await user.open('/tickets/new')
    user.find(marker='new-title').type('Scanner on floor 2 is offline')
    user.find(marker='new-create').click()
    user.find(marker='new-create').click()
    await user.should_see(marker='ticket-title', retries=50)  # the new ticket's page
    assert await _tickets_titled('Scanner on floor 2 is offline') == 1


async def test_a_refused_ticket_says_why_and_the_form_can_be_sent_again(user: User, people) -> None:
    await login(user, 'anna@pulse.demo')
    await user.open('/tickets/new')
    user.find(marker='new-create').click()  # no title
    await user.should_see('Title is required', retries=30)
    assert 'loading' not in user.find(marker='new-create').elements.pop().props
    user.find(marker='new-title').type('Badge reader at the door')
    user.find(marker='new-create').click()
    await user.should_see(marker='ticket-title', retries=50)
    assert await _tickets_titled('Badge reader at the door') == 1


async def test_the_ticket_list_jumps_to_a_reference_with_the_configured_prefix(user: User, people, monkeypatch) -> None:
    monkeypatch.setenv('PULSE_TICKET_PREFIX', 'HD')
    reset_settings()
    ticket = await make_ticket(people, 'Website form fails')
    assert ticket.reference.startswith('HD-')
    await login(user, 'anna@pulse.demo')
    await user.open('/tickets')
    user.find(marker='open-search').type(ticket.reference.lower()).trigger('keydown.enter')
    await user.should_see(marker='ticket-title', content='Website form fails', retries=30)


async def test_the_new_ticket_priority_label_fits(user: User, people) -> None:
    await login(user, 'anna@pulse.demo')
    await user.open('/tickets/new')
    priority = user.find(marker='new-priority').elements.pop()
    assert priority.props['label'] == 'Priority'
    assert priority.props['hint'] == 'Automatic when left empty'
