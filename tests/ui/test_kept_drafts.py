"""No typed text lost: a refused field edit keeps "your version" beside the fresh value; a message to a ticket
closed meanwhile stays in the composer (agents) or is handed back to copy (customers)."""
import asyncio
from collections.abc import Callable

from nicegui.testing import User
from sqlalchemy import select

from pulse_live import db
from pulse_live.models import ResolutionCode, TicketEvent
from pulse_live.services import tickets
from tests.factories import load_ticket, make_ticket
from tests.ui.conftest import detail_field, login, open_ticket


def _value(user: User, marker: str):
    return user.find(marker=marker).elements.pop().value


def _is_right_below(user: User, editor: str, box: str) -> None:
    """The box of a refused version is the next element after its editor."""
    element = user.find(marker=editor).elements.pop()
    siblings = element.parent_slot.children
    assert siblings[siblings.index(element) + 1] is user.find(marker=box).elements.pop()


async def _close(people, ticket_id: int) -> None:
    ben = people.users['ben@pulse.demo']
    async with db.session() as s:
        code = (await s.execute(select(ResolutionCode.id).limit(1))).scalar_one()
    t = await load_ticket(ticket_id)
    t = await tickets.change_status(actor=ben, ticket_id=ticket_id, expected_version=t.version, status='resolved',
                                    resolution_code_id=code, resolution_text='Replaced the fuser')
    await tickets.change_status(actor=ben, ticket_id=ticket_id, expected_version=t.version, status='closed')


async def _someone_else_changes(people, ticket_id: int, field: str, value: str) -> None:
    t = await load_ticket(ticket_id)
    await tickets.update_ticket(actor=people.users['ben@pulse.demo'], ticket_id=ticket_id, expected_version=t.version,
                                changes={field: value}, seen={field: getattr(t, field)})


async def test_same_field_conflict_keeps_my_version_and_use_mine_applies_it(user: User, people) -> None:
    ticket = await make_ticket(people, description='Shows E-53.')
    await open_ticket(user, 'anna@pulse.demo', ticket.reference)
    mine = 'Shows E-53 after every 20 pages; the fuser is hot.\nTried: power cycle, new toner.'
    (await detail_field(user, 'description')).value = mine  # typing, not saved yet
    await _someone_else_changes(people, ticket.id, 'description', 'Ben: fuser ordered.')
    await user.should_see('Ben Okafor changed Description', retries=50)
    assert _value(user, 'field-description') == mine  # a live update never overwrites what the user is typing
    user.find(marker='field-description').trigger('blur')  # save → refused: Ben changed the same field
    await user.should_see(marker='kept-description', retries=50)
    assert _value(user, 'field-description') == 'Ben: fuser ordered.'  # the fresh value in the editor …
    assert _value(user, 'kept-text-description') == mine  # … and mine beside it, in a box to copy from
    await user.should_see('was changed by someone else meanwhile')
    await user.should_see(marker='copy-description')
    assert (await load_ticket(ticket.id)).description == 'Ben: fuser ordered.'

    user.find(marker='use-mine-description').click()  # re-applied on the fresh version
    await user.should_not_see(marker='kept-description')
    fresh = await load_ticket(ticket.id)
    assert fresh.description == mine
    assert _value(user, 'field-description') == mine


async def test_discard_drops_my_version_and_keeps_theirs(user: User, people) -> None:
    ticket = await make_ticket(people, title='Printer down')
    await open_ticket(user, 'anna@pulse.demo', ticket.reference)
    # no box is built for a version nobody had refused (13 hidden ones were ~5 % of every ticket page's elements)
    assert not [e for e in user.client.elements.values() if any(m.startswith('kept-') for m in e._markers)]
    (await detail_field(user, 'title')).value = 'Printer down on floor 3'
    await _someone_else_changes(people, ticket.id, 'title', 'Printer jams (E-53)')
    await user.should_see('Ben Okafor changed Title', retries=50)
    user.find(marker='field-title').trigger('blur')
    await user.should_see(marker='kept-title', retries=50)
    assert user.find(marker='kept-text-title').elements.pop().text == 'Printer down on floor 3'
    _is_right_below(user, 'field-title', 'kept-title')  # between the title and the description, not after both
    user.find(marker='discard-title').click()
    await user.should_not_see(marker='kept-title')
    assert _value(user, 'field-title') == 'Printer jams (E-53)'
    assert (await load_ticket(ticket.id)).title == 'Printer jams (E-53)'
    # a second refusal shows the same box again, still below its editor
    (await detail_field(user, 'title')).value = 'Printer down, floor 3'
    await _someone_else_changes(people, ticket.id, 'title', 'Printer jams (E-53) again')
    await user.should_see('Printer jams (E-53) again', retries=50)
    user.find(marker='field-title').trigger('blur')
    await user.should_see(marker='kept-text-title', content='Printer down, floor 3', retries=50)
    assert len(user.find(marker='kept-title').elements) == 1
    _is_right_below(user, 'field-title', 'kept-title')


async def test_a_change_of_another_field_meanwhile_saves_without_asking(user: User, people) -> None:
    ticket = await make_ticket(people, description='Shows E-53.')
    await open_ticket(user, 'anna@pulse.demo', ticket.reference)
    (await detail_field(user, 'description')).value = 'Shows E-53 twice a day.'
    await _someone_else_changes(people, ticket.id, 'title', 'Printer jams (E-53)')
    await user.should_see('Ben Okafor changed Title', retries=50)
    user.find(marker='field-description').trigger('blur')
    await user.should_see('Anna Keller changed Description', retries=100)  # a chatter entry (one HTML block)
    fresh = await load_ticket(ticket.id)
    assert (fresh.title, fresh.description) == ('Printer jams (E-53)', 'Shows E-53 twice a day.')
    await user.should_not_see(marker='kept-description')


async def test_a_field_edit_on_a_ticket_closed_meanwhile_is_kept(user: User, people) -> None:
    ticket = await make_ticket(people)
    await open_ticket(user, 'anna@pulse.demo', ticket.reference)
    (await detail_field(user, 'workaround')).value = 'Print from tray 1 until the fuser arrives.'
    await _close(people, ticket.id)
    await user.should_see(marker='status-badge', content='Closed', retries=50)
    user.find(marker='field-workaround').trigger('blur')
    await user.should_see(marker='kept-workaround', retries=50)
    assert _value(user, 'kept-text-workaround') == 'Print from tray 1 until the fuser arrives.'
    await user.should_see('your version was not saved')


async def test_a_message_to_a_ticket_closed_meanwhile_stays_in_the_composer(user: User, people) -> None:
    ticket = await make_ticket(people)
    await open_ticket(user, 'anna@pulse.demo', ticket.reference)
    draft = 'Carl, the technician comes tomorrow at 9.'
    user.find(marker='composer').type(draft)
    await _close(people, ticket.id)
    await user.should_see(marker='status-badge', content='Closed', retries=50)
    user.find(marker='composer-send').click()
    await user.should_see(marker='composer-kept', retries=50)
    await user.should_see(f'Not sent: {ticket.reference} was closed meanwhile')
    await user.should_see(marker='composer-copy')
    assert _value(user, 'composer') == draft
    async with db.session() as s:
        bodies = (await s.execute(select(TicketEvent.body).where(TicketEvent.ticket_id == ticket.id,
                                                                 TicketEvent.kind == 'message'))).scalars().all()
    assert bodies == []


async def test_a_customers_draft_survives_the_request_being_closed(create_user: Callable[[], User], people) -> None:
    ticket = await make_ticket(people)
    carl = create_user()
    await login(carl, 'carl@acme.demo', expect='My requests')
    await carl.open(f'/portal/requests/{ticket.reference}')
    await carl.should_see(marker='composer')
    draft = 'It jams again, now also on tray 2.'
    carl.find(marker='composer').type(draft)
    await _close(people, ticket.id)
    await carl.should_see('This request is closed', retries=50)
    await carl.should_not_see(marker='composer')  # removed: nothing can be sent to a closed request …
    await carl.should_see(marker='kept-draft')  # … but the text is handed back to copy
    assert _value(carl, 'kept-draft-text') == draft
    await carl.should_see(marker='kept-draft-copy')


async def test_use_mine_on_a_searched_select_that_no_longer_offers_it_applies_it(user: User, people) -> None:
    """A refused customer choice is kept; the user types in the picker meanwhile (its options become what matches,
    without the kept one); "Use mine" still applies and saves the kept choice, shown with its name."""
    from nicegui import ui

    from components.details import FieldEditor, FieldSpec
    await login(user, 'anna@pulse.demo')
    saved: list = []
    editors: list[FieldEditor] = []

    async def save(field, value, version) -> bool:
        saved.append((field, value))
        return True

    async def search(text, value) -> dict:
        return {3: 'Tom Brooks (Globex)'}  # what matches the text typed: not the kept choice

    @ui.page('/test-kept-select')
    def page() -> None:
        spec = FieldSpec('customer_id', 'Customer', 'select', options={1: 'Carl Jensen (ACME)', 2: 'Zelda (ACME)'},
                         search=search)
        editors.append(FieldEditor(spec, 1, 1, editable=True, save=save))
        editors[-1].open()  # the user went into the field
        ui.label('built')

    await user.open('/test-kept-select')
    await user.should_see('built')
    editor = editors[0]
    editor._show_kept(2, changed_meanwhile=True)  # as a refused save leaves it
    await user.should_see(marker='kept-customer_id')
    await editor._search(type('E', (), {'args': 'tom'})())
    assert 2 not in editor.element.options
    user.find(marker='use-mine-customer_id').click()
    for _ in range(50):
        if saved:
            break
        await asyncio.sleep(0.05)
    assert saved == [('customer_id', 2)]
    assert editor.element.value == 2 and editor.element.props['model-value']['label'] == 'Zelda (ACME)'
