"""The SLA clock on screen: an agent sets Waiting for customer (status badge, history, the panel says paused) and the
customer's reply clears it live; the countdowns carry their due time for the browser to count; customers see no
SLA; an admin's bad policy is refused on the SLA page with a clear message; the SLA card is two elements (the card
and one static block of markup) and an admin's text in it is shown as text.

The card's parts are in its markup (``components.sla_badge.panel_html``), named by ``data-mark``: ``sla_parts``
reads them as the browser would (text unescaped, attributes)."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from html.parser import HTMLParser

from nicegui import ui
from nicegui.testing import User
from sqlalchemy import select

from components.sla_badge import iso
from pulse_live import db
from pulse_live.models import SlaPolicy
from pulse_live.services import chatter, sla_admin
from tests.factories import load_ticket, make_ticket, priority_id
from tests.ui.conftest import login, open_ticket, until


@dataclass
class Part:
    """One ``data-mark`` element of the SLA card: its attributes and its text as shown."""
    attrs: dict[str, str | None]
    text: str = ''


class _Parts(HTMLParser):
    def __init__(self) -> None:
        super().__init__()  # convert_charrefs: the text comes unescaped, as the browser shows it
        self.parts: dict[str, list[Part]] = {}
        self.open: list[Part | None] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        mark = dict(attrs).get('data-mark')
        part = Part(dict(attrs)) if mark else None
        if part is not None and mark is not None:
            self.parts.setdefault(mark, []).append(part)
        self.open.append(part)
        self.tags.append(tag)

    def handle_endtag(self, tag: str) -> None:
        self.open.pop()
        self.tags.append(f'/{tag}')

    def handle_data(self, data: str) -> None:
        for part in self.open:
            if part is not None:
                part.text += data


@dataclass
class Card:
    parts: dict[str, list[Part]] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)  # every start and end tag, in order
    markup: str = ''


def sla_card(user: User) -> Card:
    """The SLA card's markup as the browser gets it (empty before the side column came)."""
    found = user.find(marker='sla-panel-body').elements
    if not found:
        return Card()
    markup = next(iter(found)).content
    parser = _Parts()
    parser.feed(markup)
    parser.close()
    return Card(parser.parts, parser.tags, markup)


def list_cells(user: User, reference: str) -> dict[str, list[Part]]:
    """The marked parts of a work list row's static cells (components/work_list.row_html)."""
    [row] = user.find(marker=f'work-row {reference}').elements
    parser = _Parts()
    for child in row.default_slot.children:
        if isinstance(child, ui.html):
            parser.feed(child.content)
    parser.close()
    return parser.parts


def sla_parts(user: User) -> dict[str, list[Part]]:
    return sla_card(user).parts


async def sees_sla(user: User, mark: str, content: str = '') -> Part:
    """Wait until the SLA card has a ``mark`` part whose text contains ``content``; that part."""
    def hit() -> Part | None:
        return next((p for p in sla_parts(user).get(mark, []) if content in p.text), None)
    await until(lambda: hit() is not None)
    part = hit()
    assert part is not None
    return part


async def test_agent_sets_waiting_and_the_customer_reply_clears_it(create_user: Callable[[], User], people) -> None:
    ticket = await make_ticket(people, priority_id=await priority_id('Major'))
    anna, ben = create_user(), create_user()
    await open_ticket(anna, 'anna@pulse.demo', ticket.reference)
    await open_ticket(ben, 'ben@pulse.demo', ticket.reference)
    await anna.should_see(marker='sla-panel')
    await sees_sla(anna, 'sla-policy', 'Pulse · Major')
    anna.find(marker='status-waiting').click()
    await ben.should_see(marker='status-badge', content='Waiting for customer')
    await ben.should_see('Anna Keller changed Status Open → Waiting for customer')
    await sees_sla(ben, 'sla-first-response', 'paused')
    assert 'data-sla-due' not in sla_parts(ben)['sla-first-response'][0].attrs  # static text: nothing ticks it
    await sees_sla(ben, 'sla-note', 'waiting for the customer')
    await chatter.post_message(actor=people.users['carl@acme.demo'], ticket_id=ticket.id, body='Here you go')
    await ben.should_see(marker='status-badge', content='In progress')
    await ben.should_see('Pulse Live changed Status Waiting for customer → In progress (the customer replied)')
    await sees_sla(ben, 'sla-first-response', 'due in')
    assert not [n for n in sla_parts(ben).get('sla-note', []) if 'waiting for the customer' in n.text]


async def test_the_countdown_carries_its_due_time(create_user: Callable[[], User], people) -> None:
    ticket = await make_ticket(people, priority_id=await priority_id('Critical'))
    stored = await load_ticket(ticket.id)
    anna = create_user()
    await open_ticket(anna, 'anna@pulse.demo', ticket.reference)
    first = await sees_sla(anna, 'sla-first-response', 'due in')
    assert first.attrs['class'] == 'pl-sla'  # the head script's style and ticking ([data-sla-due])
    assert first.attrs['data-sla-due'] == iso(stored.first_response_due_at)
    assert first.attrs['data-sla-risk'] and first.attrs['data-sla-state'] in ('ok', 'risk')
    # the page's tooltip script shows it: no tooltip element
    assert first.attrs['data-tip'] == f'First response due {stored.first_response_due_at:%Y-%m-%d %H:%M} UTC'
    resolution = sla_parts(anna)['sla-resolution'][0]
    assert resolution.attrs['data-sla-due'] == iso(stored.resolution_due_at) and resolution.text.startswith('due in')
    # the work lists: a Due column with the same kind of element
    await anna.open('/tickets')
    await anna.should_see(marker=f'work-row {ticket.reference}')
    [cell] = list_cells(anna, ticket.reference)[f'sla-due {ticket.reference}']  # in the row's markup
    assert cell.attrs['class'] == 'pl-sla justify-self-start text-xs'  # the head script ticks it
    assert cell.attrs['data-sla-due'] == iso(stored.first_response_due_at)
    assert 'data-sla-compact' in cell.attrs and cell.attrs['data-sla-state'] in ('ok', 'risk')
    assert cell.text.startswith('in ')
    # its tooltip is the list's one tooltip script's data-tip, not an element of its own in every row
    assert cell.attrs['data-tip'] == f'First response due {stored.first_response_due_at:%Y-%m-%d %H:%M} UTC'


async def test_customers_see_no_sla(create_user: Callable[[], User], people) -> None:
    ticket = await make_ticket(people, priority_id=await priority_id('Critical'))
    carl, anna = create_user(), create_user()
    await login(carl, 'carl@acme.demo')
    await carl.open(f'/portal/requests/{ticket.reference}')
    await carl.should_see(ticket.reference)
    await carl.should_not_see(marker='sla-panel', retries=3)
    await carl.should_not_see('due in', retries=3)
    await open_ticket(anna, 'anna@pulse.demo', ticket.reference)
    await anna.should_see(marker='sla-panel')  # the same ticket has one, for staff


async def test_a_policy_that_could_never_match_is_refused_on_the_admin_page(create_user: Callable[[], User],
                                                                             people) -> None:
    admin = create_user()
    await login(admin, 'admin@pulse.demo')
    await admin.open('/admin/sla')
    await admin.should_see(marker='policy-row Pulse · Critical')
    await admin.should_see(marker='calendar-row Business hours')
    admin.find(marker='new-policy').click()
    admin.find(marker='policy-name').type('Too fast')
    admin.find(marker='policy-first').elements.pop().value = 0
    admin.find(marker='policy-save').click()
    await admin.should_see('First response target must be more than zero minutes.')
    admin.find(marker='policy-first').elements.pop().value = 15
    admin.find(marker='policy-save').click()
    await admin.should_see('Policy saved')
    await admin.should_see(marker='policy-row Too fast')
    admin.find(marker='new-calendar').click()
    admin.find(marker='calendar-name').type('Night shift')
    for day in ('mon', 'tue', 'wed', 'thu', 'fri'):
        admin.find(marker=f'calendar-hours-{day}').elements.pop().value = ''
    admin.find(marker='calendar-save').click()
    await admin.should_see('The calendar has no working hours at all')
    admin.find(marker='calendar-hours-mon').elements.pop().value = '22:00-24:00'
    admin.find(marker='calendar-save').click()
    await admin.should_see(marker='calendar-row Night shift')
    await admin.should_see(kind=ui.label, content='Mon 22:00-24:00 (Europe/Zurich)')


async def test_the_sla_card_is_two_elements(create_user: Callable[[], User], people) -> None:
    """Card and one block of markup (issue 16: every element costs server memory per open page), whatever it
    shows: the header with its timer icon and escalation badge, policy, calendar, a row per target, notes."""
    from pulse_live.models import Ticket
    ticket = await make_ticket(people, priority_id=await priority_id('Critical'))
    async with db.session() as s, s.begin():
        row = await s.get(Ticket, ticket.id)
        assert row is not None
        row.escalation_level, row.sla_cycle = 2, 2
    anna = create_user()
    await open_ticket(anna, 'anna@pulse.demo', ticket.reference)
    await sees_sla(anna, 'sla-escalation', 'Escalated · level 2')
    card = anna.find(marker='sla-panel').elements.pop()
    assert len(list(card.descendants(include_self=True))) == 2
    parts = sla_parts(anna)
    assert [p.text for p in parts['sla-policy']] == ['Pulse · Critical']
    assert [p.text for p in parts['sla-calendar']] == ['24/7']
    assert parts['sla-escalation'][0].attrs['class'] == \
        'q-badge flex inline items-center no-wrap q-badge--single-line bg-red'
    assert [p.text for p in parts['sla-note']] == ['Reopened: clock cycle 2']
    assert {'sla-first-response', 'sla-resolution'} <= set(parts)
    markup = sla_card(anna).markup
    assert '<i class="q-icon notranslate material-icons text-slate-500" aria-hidden="true" role="presentation" ' \
           'style="font-size: 18px;">timer</i>' in markup and '>Service level<' in markup


async def test_an_admins_policy_name_is_shown_as_text(create_user: Callable[[], User], people) -> None:
    """The card is markup built on the server (no sanitizer in the browser): a policy name with markup in it is
    escaped, never markup of the page."""
    nasty = '<img src=x onerror="alert(1)"> & <b>Major</b> \'quoted\''
    async with db.session() as s:
        major = (await s.execute(select(SlaPolicy).where(SlaPolicy.name == 'Pulse · Major'))).scalar_one()
    await sla_admin.save_policy(actor=people.users['admin@pulse.demo'], policy_id=major.id, name=nasty,
                                calendar_id=major.calendar_id, first_response_minutes=major.first_response_minutes,
                                resolution_minutes=major.resolution_minutes, update_minutes=major.update_minutes,
                                conditions=major.conditions)
    ticket = await make_ticket(people, priority_id=await priority_id('Major'))
    anna = create_user()
    await open_ticket(anna, 'anna@pulse.demo', ticket.reference)
    policy = await sees_sla(anna, 'sla-policy')
    assert policy.text == nasty  # shown as typed
    card = sla_card(anna)
    assert '<img' not in card.markup and '<b>' not in card.markup
    assert '&lt;img src=x onerror=&quot;alert(1)&quot;&gt; &amp; &lt;b&gt;Major&lt;/b&gt; &#x27;quoted&#x27;' \
        in card.markup
    assert 'img' not in card.tags and 'b' not in card.tags
