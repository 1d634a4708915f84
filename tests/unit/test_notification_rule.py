"""Mail and toasts only to whom a change concerns, mentions that arrive, mails that read well.

The rule (notify/planner.py): the support group entry stands for whoever works the ticket (the queue's agents while
it is unassigned, its assignee after); people hear of a ticket when they are its assignee, on its team by name, or
mentioned; managers and admins choose what else they hear (``notify_scope``)."""
from collections import Counter

import pytest
from sqlalchemy import select

from pulse_live import db, presence
from pulse_live.bus import get_bus
from pulse_live.errors import ValidationError
from pulse_live.events import NotificationCreated
from pulse_live.models import MailOutbox, Notification, QueueMember, User
from pulse_live.notify import missed
from pulse_live.services import chatter, notifications, ownership, queues, tickets
from tests.factories import queue_ids
from tests.helpers import drain

pytestmark = pytest.mark.usefixtures('fresh_presence')  # nobody is online, nobody views


@pytest.fixture
def toasts():
    """The in-app notifications published to open tabs (each one is a toast in the bell), per user id."""
    seen: Counter = Counter()

    async def count(event):
        if isinstance(event, NotificationCreated):
            seen[event.user_id] += 1
    unsubscribe = get_bus().subscribe(count)
    yield seen
    unsubscribe()


async def test_a_scripted_day_tells_each_person_only_what_concerns_them(people, smtp, toasts):
    u = people.users
    anna, ben, daniel, maria, admin, carl, eva = (u[e] for e in (
        'anna@pulse.demo', 'ben@pulse.demo', 'daniel@pulse.demo', 'maria@pulse.demo', 'admin@pulse.demo',
        'carl@acme.demo', 'eva@acme.demo'))
    q = await queue_ids()  # 1st level: Anna, Ben, Daniel · 2nd level: Ben · Network: Daniel
    await queues.add_member(actor=admin, queue_id=q['2nd level'], user_id=maria.id)
    await notifications.update_preferences(actor=maria, email_notifications=True, notify_delay_s=300,
                                           notify_scope='queues')  # Maria follows her queue, 2nd level
    presence.connected(anna.id, 'anna-tab')  # Anna and Maria have the app open; the others are offline
    presence.connected(maria.id, 'maria-tab')

    # 09:00 Carl opens a request in the portal: unassigned in 1st level, so its agents hear of it
    t1 = await tickets.create_ticket(actor=carl, title='Printer jams on every page')
    await drain()
    # 09:05 Ben takes it: now it is Ben's; nobody else is told (Ben did it himself)
    t1 = await ownership.take_ticket(actor=ben, ticket_id=t1.id)
    await drain()
    # 09:10 Ben answers Carl
    await chatter.post_message(actor=ben, ticket_id=t1.id, body='We are on it.', internal=False)
    await drain()
    # 10:00 Anna opens a ticket for Eva by phone, in 2nd level: its agent (Ben), Maria (her queue), Eva (customer)
    t2 = await tickets.create_ticket(actor=anna, title='ERP export fails', customer_id=eva.id,
                                     queue_id=q['2nd level'])
    await drain()
    # 10:05 Anna's internal note mentions Ben
    await chatter.post_message(actor=anna, ticket_id=t2.id, body='@ben the vendor confirmed a patch', internal=True)
    await drain()
    # 11:00 Ben takes it: Anna (on its team, the creator) and Maria (her queue) hear of it
    t2 = await ownership.take_ticket(actor=ben, ticket_id=t2.id)
    await drain()
    # 11:30 Ben starts work on Carl's ticket: Carl sees the status in the portal, so he is told
    await tickets.change_status(actor=ben, ticket_id=t1.id, expected_version=t1.version, status='in_progress')
    await drain()
    # 13:00 Maria goes back to "only tickets I am on"; Ben's note on 2nd level no longer reaches her
    await notifications.update_preferences(actor=maria, email_notifications=True, notify_delay_s=300,
                                           notify_scope='mine')
    await chatter.post_message(actor=ben, ticket_id=t2.id, body='Patch applied on the test system.', internal=True)
    await drain()
    # 14:00 … but a mention always reaches her
    await chatter.post_message(actor=ben, ticket_id=t1.id, body='@maria FYI, the printer needs a new drum.',
                               internal=True)
    await drain()

    mails = Counter(m['To'] for m in smtp.messages)
    assert mails == {
        'ben@pulse.demo': 3,  # Carl's new request (1st level), Eva's new ticket (2nd level), the mention
        'daniel@pulse.demo': 1,  # Carl's new request, while it was unassigned in his queue; nothing after
        'carl@acme.demo': 2,  # Ben's answer and the status; never who took it or the internal notes
        'eva@acme.demo': 1,  # her ticket was opened; nothing internal
    }, mails
    assert dict(toasts) == {
        anna.id: 3,  # Carl's new request (1st level), Ben taking her ticket, Ben's note on her ticket
        maria.id: 4,  # 2nd level: new ticket, the note, Ben taking it (while "my queues"); the mention
    }, dict(toasts)
    for nobody in (admin, daniel):
        assert toasts[nobody.id] == 0
    async with db.session() as s:
        assert (await s.execute(select(Notification).where(Notification.user_id == admin.id))).first() is None
    mention = next(m for m in smtp.to('ben@pulse.demo') if 'mentioned you' in m['Subject'])
    assert f'Anna Keller mentioned you in {t2.reference}: @ben the vendor confirmed a patch' \
        in mention.get_body(('plain',)).get_content()


async def test_an_offline_mention_is_in_the_bell_unread_and_mailed_once_saying_so(people, smtp):
    u = people.users
    anna, ben, daniel = u['anna@pulse.demo'], u['ben@pulse.demo'], u['daniel@pulse.demo']
    ticket = await tickets.create_ticket(actor=anna, title='Wifi drops in room 4', customer_id=u['carl@acme.demo'].id)
    await ownership.assign_ticket(actor=anna, ticket_id=ticket.id, assignee_id=daniel.id)  # not Ben's
    async with db.session() as s, s.begin():
        await s.execute(MailOutbox.__table__.delete())
    await chatter.post_message(actor=anna, ticket_id=ticket.id, internal=True,
                               body='@ben could you check **the access point logs**?')
    async with db.session() as s:
        notes = list((await s.execute(select(Notification).where(Notification.user_id == ben.id))).scalars())
    assert len(notes) == 1 and notes[0].read_at is None  # in the bell, unread, though Ben was offline
    assert notes[0].text == (f'Anna Keller mentioned you in {ticket.reference}: '
                             '@ben could you check the access point logs?')
    await drain()
    [mail] = smtp.to('ben@pulse.demo')
    assert mail['Subject'] == f'[{ticket.reference}] Anna Keller mentioned you: Wifi drops in room 4'
    plain = mail.get_body(('plain',)).get_content()
    assert f'Anna Keller mentioned you in {ticket.reference}: @ben could you check the access point logs?' in plain
    assert '**' not in plain
    assert '<strong>the access point logs</strong>' in mail.get_body(('html',)).get_content()
    assert await missed.mail_missed() == 0  # the missed-notification scan does not mail it a second time
    await notifications.mark_read(actor=ben)
    async with db.session() as s:
        assert (await s.get(Notification, notes[0].id)).read_at is not None


async def test_an_online_mention_is_a_bell_entry_and_a_mail_only_if_still_unread_when_offline(people, smtp, toasts):
    anna, ben = people.users['anna@pulse.demo'], people.users['ben@pulse.demo']
    await notifications.update_preferences(actor=ben, email_notifications=True, notify_delay_s=0)
    ticket = await tickets.create_ticket(actor=anna, title='Badge reader')
    await ownership.assign_ticket(actor=anna, ticket_id=ticket.id, assignee_id=anna.id)  # Anna's, not Ben's
    async with db.session() as s, s.begin():
        await s.execute(MailOutbox.__table__.delete())  # the new ticket's mail to the queue is not the point here
    presence.connected(ben.id, 'ben-tab')
    await chatter.post_message(actor=anna, ticket_id=ticket.id, body='@ben have a look', internal=True)
    await drain()
    assert toasts[ben.id] == 1 and smtp.to('ben@pulse.demo') == []
    presence.disconnected(ben.id, 'ben-tab')
    assert await missed.mail_missed() == 1
    await drain()
    [mail] = smtp.to('ben@pulse.demo')
    assert 'Anna Keller mentioned you in' in mail.get_body(('plain',)).get_content()


async def test_mail_renders_markdown_safely_with_a_clean_plain_part(people, smtp):
    anna, carl = people.users['anna@pulse.demo'], people.users['carl@acme.demo']
    ticket = await tickets.create_ticket(actor=anna, title='Mailbox full', customer_id=carl.id)
    async with db.session() as s, s.begin():
        await s.execute(MailOutbox.__table__.delete())
    await chatter.post_message(actor=anna, ticket_id=ticket.id, internal=False, body=(
        '**Fixed**: see <script>alert(1)</script> and [the guide](https://example.org/guide) '
        'or [this](javascript:alert(2))\n\n- archive old mail\n- empty *Deleted items*'))
    await drain()
    [mail] = smtp.to('carl@acme.demo')
    html = mail.get_body(('html',)).get_content()
    assert '<strong>Fixed</strong>' in html and '<em>Deleted items</em>' in html
    assert '<li>archive old mail</li>' in html and 'href="https://example.org/guide"' in html
    assert '<script>' not in html and '&lt;script&gt;' in html  # raw HTML is shown as text, never run
    assert 'href="javascript' not in html
    plain = mail.get_body(('plain',)).get_content().replace('\r\n', '\n')
    assert '**' not in plain and '*Deleted' not in plain
    assert 'Fixed: see <script>alert(1)</script> and the guide (https://example.org/guide)' in plain
    assert '  - archive old mail\n  - empty Deleted items' in plain
    async with db.session() as s:
        assert not (await s.execute(select(Notification).where(Notification.user_id == carl.id))).first()


async def test_managers_choose_what_they_hear(people, smtp):
    u = people.users
    anna, maria, admin, ben = u['anna@pulse.demo'], u['maria@pulse.demo'], u['admin@pulse.demo'], u['ben@pulse.demo']
    q = await queue_ids()
    await queues.add_member(actor=admin, queue_id=q['Network'], user_id=maria.id)
    await notifications.update_preferences(actor=admin, email_notifications=True, notify_delay_s=300,
                                           notify_scope='all')

    async def told(ticket) -> set[int]:
        async with db.session() as s:
            return set((await s.execute(select(MailOutbox.to_user_id)
                                        .where(MailOutbox.ticket_id == ticket.id))).scalars())

    network = await tickets.create_ticket(actor=anna, title='Switch in rack 2', queue_id=q['Network'])
    first = await tickets.create_ticket(actor=anna, title='Toner low', queue_id=q['1st level'])
    assert maria.id not in await told(network)  # "only tickets I am on" (the default), though a Network member
    assert admin.id in await told(network) and admin.id in await told(first)  # "every change"
    await notifications.update_preferences(actor=maria, email_notifications=True, notify_delay_s=300,
                                           notify_scope='queues')
    await chatter.post_message(actor=anna, ticket_id=network.id, body='Ordered a spare', internal=True)
    await chatter.post_message(actor=anna, ticket_id=first.id, body='Ordered toner', internal=True)
    assert maria.id in await told(network) and maria.id not in await told(first)
    async with db.session() as s:
        assert (await s.get(User, maria.id)).notify_scope == 'queues'
    with pytest.raises(ValidationError, match='Only managers and admins'):
        await notifications.update_preferences(actor=ben, email_notifications=True, notify_delay_s=300,
                                               notify_scope='all')
    with pytest.raises(ValidationError, match='not a choice'):
        await notifications.update_preferences(actor=maria, email_notifications=True, notify_delay_s=300,
                                               notify_scope='everything')
    async with db.session() as s:
        assert (await s.get(User, ben.id)).notify_scope == 'mine'
        assert (await s.get(User, maria.id)).notify_scope == 'queues'


async def test_a_queue_without_agents_is_everyone_s_until_someone_takes_it(people, smtp):
    u = people.users
    anna, admin = u['anna@pulse.demo'], u['admin@pulse.demo']
    empty = await queues.create_queue(actor=admin, name='Facilities')
    ticket = await tickets.create_ticket(actor=anna, title='Door lock broken', queue_id=empty.id)
    async with db.session() as s:
        told = set((await s.execute(select(MailOutbox.to_user_id).where(MailOutbox.ticket_id == ticket.id))).scalars())
        members = (await s.execute(select(QueueMember).where(QueueMember.queue_id == empty.id))).first()
    assert members is None
    assert told == {u['ben@pulse.demo'].id, u['daniel@pulse.demo'].id}  # every agent but the actor; no manager
