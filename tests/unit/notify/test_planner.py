"""Who is told about a change and how (notify/planner.py): mail and toasts only to whom a change concerns, never the
actor; the support group entry stands for whoever works the ticket; mentions and @Team override watching;
managers choose what they hear; a customer is told only what the portal shows them; a burst is one mail."""
import re
from collections import Counter

import pytest
from sqlalchemy import select, text

from pulse_live import db, presence
from pulse_live.errors import ValidationError
from pulse_live.models import (
    MailOutbox,
    Notification,
    Priority,
    QueueMember,
    ResolutionCode,
    User,
)
from pulse_live.notify import missed
from pulse_live.queries import portal
from pulse_live.services import chatter, notifications, ownership, queues, team, tickets, users
from tests.factories import make_ticket, queue_ids
from tests.helpers import clear_outbox, drain

pytestmark = pytest.mark.usefixtures('fresh_presence')  # nobody is online, nobody views


async def _texts_for(user_id: int) -> list[str]:
    async with db.session() as s:
        rows = list((await s.execute(select(MailOutbox).where(MailOutbox.to_user_id == user_id))).scalars())
        notes = list((await s.execute(select(Notification.text).where(Notification.user_id == user_id))).scalars())
    return [item['text'] for row in rows for item in row.items or []] + notes


async def _other_priority(ticket) -> int:
    async with db.session() as s:
        scale_id = (await s.get(Priority, ticket.priority_id)).scale_id
        return (await s.execute(select(Priority.id).where(Priority.id != ticket.priority_id,
                                                          Priority.scale_id == scale_id).limit(1))).scalar_one()


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


async def test_offline_watcher_mail_online_watcher_in_app_actor_nothing(people, smtp):
    anna, ben, daniel = (people.users[e] for e in ('anna@pulse.demo', 'ben@pulse.demo', 'daniel@pulse.demo'))
    ticket = await make_ticket(people, 'VPN down')
    await clear_outbox()
    presence.connected(ben.id, 'ben-tab')  # Ben has the app open; Daniel does not
    await chatter.post_message(actor=anna, ticket_id=ticket.id, body='Router replaced')
    await drain()
    assert len(smtp.to('daniel@pulse.demo')) == 1
    assert smtp.to('ben@pulse.demo') == [] and smtp.to('anna@pulse.demo') == []
    mail = smtp.to('daniel@pulse.demo')[0]
    assert mail['Subject'] == f'[{ticket.reference}] VPN down'
    body = mail.get_body(('plain',)).get_content()
    assert 'Anna Keller wrote: Router replaced' in body and f'/tickets/{ticket.reference}' in body
    assert mail.get_body(('html',)) is not None and mail['Message-ID'] and mail['References']
    async with db.session() as s:
        notes = list((await s.execute(select(Notification.user_id, Notification.text))).all())
    assert [uid for uid, _ in notes] == [ben.id]
    assert 'Router replaced' in notes[0][1]
    assert daniel.id not in [uid for uid, _ in notes]


async def test_mentions_and_team_override_watch(people, smtp):
    anna, ben, daniel, maria = (people.users[e] for e in ('anna@pulse.demo', 'ben@pulse.demo', 'daniel@pulse.demo',
                                                          'maria@pulse.demo'))
    ticket = await make_ticket(people, 'VPN down')
    async with db.session() as s:
        from pulse_live.models import TeamMember
        group = (await s.execute(select(TeamMember).where(TeamMember.ticket_id == ticket.id,
                                                          TeamMember.organisation_id.is_not(None)))).scalar_one()
    await team.set_watching(actor=anna, ticket_id=ticket.id, member_id=group.id, watching=False)
    await clear_outbox()
    await chatter.post_message(actor=anna, ticket_id=ticket.id, body='quiet update')  # nobody from the group
    await drain()
    assert smtp.to('daniel@pulse.demo') == [] and smtp.to('ben@pulse.demo') == []
    await chatter.post_message(actor=anna, ticket_id=ticket.id, body='@daniel can you check?')
    await drain()
    assert len(smtp.to('daniel@pulse.demo')) == 1 and smtp.to('ben@pulse.demo') == []
    await chatter.post_message(actor=anna, ticket_id=ticket.id, body='@Team all hands', internal=True)
    await drain()
    # @Team: everyone on the team, watch or not — the group entry is the queue's members (the ticket is
    # unassigned), not every staff member: Maria, a manager on no team of this ticket, is not told
    assert len(smtp.to('ben@pulse.demo')) == 1 and smtp.to('maria@pulse.demo') == []
    assert len(smtp.to('daniel@pulse.demo')) == 2
    carl_texts = [m.get_body(('plain',)).get_content() for m in smtp.to('carl@acme.demo')]
    assert any('quiet update' in t for t in carl_texts)  # the customer gets public replies
    assert not any('all hands' in t for t in carl_texts)  # internal: the customer never hears of it
    assert smtp.to('anna@pulse.demo') == []


async def test_burst_of_changes_makes_one_mail(people, smtp):
    anna = people.users['anna@pulse.demo']
    ticket = await make_ticket(people, 'VPN down')
    await clear_outbox()
    version = ticket.version
    for i in range(5):
        version = (await tickets.update_ticket(actor=anna, ticket_id=ticket.id, expected_version=version,
                                               changes={'workaround': f'step {i}'})).version
    await drain()
    mails = smtp.to('daniel@pulse.demo')
    assert len(mails) == 1
    body = mails[0].get_body(('plain',)).get_content()
    assert all(f'step {i}' in body for i in range(5))


async def test_a_long_burst_is_mails_of_bounded_size_and_nothing_is_lost(people, smtp):
    """Each change rewrote every recipient's open mail whole (its items are one JSON value): a customer's 40 long
    messages to a queue of 1,000 agents cost 1.8 s of CPU per message by the end, and growing. A mail holds at most
    MAX_BATCH_BODY_CHARS of message text; a full one goes at once and the next changes start another."""
    from pulse_live.notify.planner import MAX_BATCH_BODY_CHARS
    carl = people.users['carl@acme.demo']
    ticket = await make_ticket(people, 'Printer offline')
    await clear_outbox()
    per_mail = MAX_BATCH_BODY_CHARS // 4000
    for i in range(2 * per_mail + 1):
        await chatter.post_message(actor=carl, ticket_id=ticket.id, body=f'update number {i} '.ljust(4000, 'x'),
                                   rate_limited=False)
    async with db.session() as s:
        rows = list((await s.execute(select(MailOutbox).where(MailOutbox.to_user_id == people.users[
            'daniel@pulse.demo'].id).order_by(MailOutbox.id))).scalars())
    assert [len(r.items) for r in rows] == [per_mail, per_mail, 1]
    assert [r.batch_key is None for r in rows] == [True, True, False]  # the full ones are closed for adding
    await drain()
    bodies = [m.get_body(('plain',)).get_content() for m in smtp.to('daniel@pulse.demo')]
    assert len(bodies) == 3
    told = [int(n) for b in bodies for n in re.findall(r'update number (\d+)\b', b)]
    assert sorted(told) == list(range(2 * per_mail + 1))  # each change once, none lost


async def test_customer_gets_public_replies_and_resolve_close_mails_never_notes(people, smtp):
    anna = people.users['anna@pulse.demo']
    ticket = await make_ticket(people, 'VPN down')
    await clear_outbox()
    await chatter.post_message(actor=anna, ticket_id=ticket.id, body='internal musing', internal=True)
    await chatter.post_message(actor=anna, ticket_id=ticket.id, body='We are on it')
    async with db.session() as s:
        fixed = (await s.execute(select(ResolutionCode.id).where(ResolutionCode.name == 'Fixed'))).scalar_one()
    t = await tickets.change_status(actor=anna, ticket_id=ticket.id, expected_version=ticket.version,
                                    status='resolved', resolution_code_id=fixed,
                                    resolution_text='Rebooted the VPN gateway')
    await tickets.change_status(actor=anna, ticket_id=ticket.id, expected_version=t.version, status='closed')
    await drain()
    mails = smtp.to('carl@acme.demo')
    texts = [m.get_body(('plain',)).get_content() for m in mails]
    subjects = [m['Subject'] for m in mails]
    assert not any('internal musing' in t for t in texts)
    assert any('We are on it' in t for t in texts)
    assert any('resolved' in s.lower() for s in subjects) and any('closed' in s.lower() for s in subjects)
    resolved = next(t for m, t in zip(mails, texts, strict=True) if 'resolved' in m['Subject'].lower())
    assert 'Rebooted the VPN gateway' in resolved


async def test_email_preference_off_means_no_mail(people, smtp):
    anna, daniel = people.users['anna@pulse.demo'], people.users['daniel@pulse.demo']
    await notifications.update_preferences(actor=daniel, email_notifications=False, notify_delay_s=300)
    ticket = await make_ticket(people, 'VPN down')
    await chatter.post_message(actor=anna, ticket_id=ticket.id, body='hello')
    await drain()
    assert smtp.to('daniel@pulse.demo') == []
    async with db.session() as s:  # still told: in the bell
        bell = list((await s.execute(select(Notification.text).where(Notification.user_id == daniel.id))).scalars())
    assert f'{ticket.reference}: Anna Keller wrote: hello' in bell
    with pytest.raises(Exception, match='delay'):
        await notifications.update_preferences(actor=daniel, email_notifications=True, notify_delay_s=-5)


async def test_user_looking_at_the_ticket_gets_no_toast_and_no_mail(people, smtp):
    anna, ben = people.users['anna@pulse.demo'], people.users['ben@pulse.demo']
    ticket = await make_ticket(people, 'VPN down')
    await clear_outbox()
    presence.connected(ben.id, 'ben-tab')
    await presence.join(ticket.id, client_id='ben-tab', user_id=ben.id, name='Ben Okafor', is_staff=True)
    try:
        await chatter.post_message(actor=anna, ticket_id=ticket.id, body='Ben sees this live')
        await drain()
        async with db.session() as s:
            notes = list((await s.execute(select(Notification).where(Notification.user_id == ben.id))).scalars())
        assert notes == [] and smtp.to('ben@pulse.demo') == []
        assert len(smtp.to('daniel@pulse.demo')) == 1  # others are still told
    finally:
        await presence.leave(ticket.id, client_id='ben-tab')


@pytest.mark.parametrize('online', [False, True], ids=['offline-mail', 'online-bell'])
async def test_customer_is_not_told_of_changes_the_portal_hides(people, online):
    anna, carl = people.users['anna@pulse.demo'], people.users['carl@acme.demo']
    if online:
        presence.connected(carl.id, 'carl-tab')
    ticket = await make_ticket(people, 'Scanner jams')
    t = await tickets.update_ticket(actor=anna, ticket_id=ticket.id, expected_version=ticket.version,
                                    changes={'priority_id': await _other_priority(ticket),
                                             'technical_details': 'firmware 2.1 on the vendor blacklist'})
    await tickets.update_ticket(actor=anna, ticket_id=ticket.id, expected_version=t.version,
                                changes={'title': 'Scanner jams on A3'})
    texts = await _texts_for(carl.id)
    assert any('Scanner jams on A3' in text for text in texts)  # a change the portal shows reaches them
    assert not any('Priority' in text or 'blacklist' in text for text in texts), texts
    # what they are told is what the portal's conversation shows them
    shown = ' '.join(e.body or '' for e in (await portal.request_events(carl, ticket.id))[0])
    assert 'blacklist' not in shown and 'Priority' not in shown


async def test_resolution_reaches_the_customer_once_in_the_resolved_mail(people):
    anna, carl = people.users['anna@pulse.demo'], people.users['carl@acme.demo']
    ticket = await make_ticket(people, 'Scanner jams')
    async with db.session() as s, s.begin():
        fixed = (await s.execute(select(ResolutionCode.id).where(ResolutionCode.name == 'Fixed'))).scalar_one()
        await s.execute(MailOutbox.__table__.delete())  # "opened on your behalf" is not what this test is about
    await tickets.change_status(actor=anna, ticket_id=ticket.id, expected_version=ticket.version, status='resolved',
                                resolution_code_id=fixed, resolution_text='Cleaned the rollers')
    async with db.session() as s:
        kinds = sorted(r.kind for r in (await s.execute(select(MailOutbox).where(MailOutbox.to_user_id == carl.id)))
                       .scalars())
    assert kinds == ["resolved"], await _texts_for(carl.id)


async def test_mention_tells_no_colleague_who_cannot_open_the_ticket(people):
    carl, eva = people.users['carl@acme.demo'], people.users['eva@acme.demo']
    await users.update_card(actor=eva, display_name=eva.display_name, handle='eva', card_published=True)
    ticket = await make_ticket(people, 'Scanner jams')
    await chatter.post_message(actor=carl, ticket_id=ticket.id, body='our salary list is attached, @eva')
    assert await _texts_for(eva.id) == []
    # an agent mentioned by handle is told (staff may open every ticket)
    ben = people.users['ben@pulse.demo']
    await users.update_card(actor=ben, display_name=ben.display_name, handle='ben', card_published=True)
    await chatter.post_message(actor=carl, ticket_id=ticket.id, body='@ben can you look?')
    assert any('@ben can you look?' in text for text in await _texts_for(ben.id))


async def test_offline_user_without_email_still_finds_it_in_the_bell(people):
    anna, ben = people.users['anna@pulse.demo'], people.users['ben@pulse.demo']
    async with db.session() as s, s.begin():
        (await s.get(User, ben.id)).email_notifications = False
    ticket = await make_ticket(people, 'Scanner jams')
    await chatter.post_message(actor=anna, ticket_id=ticket.id, body='Rollers ordered')
    async with db.session() as s:
        mails = list((await s.execute(select(MailOutbox).where(MailOutbox.to_user_id == ben.id))).scalars())
        notes = list((await s.execute(select(Notification.text).where(Notification.user_id == ben.id))).scalars())
    assert mails == []
    assert any('Rollers ordered' in n for n in notes)


async def test_the_open_mail_of_a_change_s_recipients_is_found_by_its_key_not_among_every_pending_mail(database):
    """Each change looks up its recipients' open mails (the batch window). With thousands of mails pending (SMTP
    away for an hour), reading every pending mail for that cost each change of the desk a scan of the backlog: SQLite
    chose the status index over the batch key's when the key had an index of its own."""
    if database != 'sqlite':
        pytest.skip("SQLite's planner choice; PostgreSQL plans by its statistics")
    from pulse_live.models import utcnow
    from pulse_live.notify.planner import _OPEN_MAIL, _open_mail_since
    statement = _OPEN_MAIL.params(_open_mail_since(['user-1/ticket-1', 'user-2/ticket-1'], utcnow()))
    async with db.session() as s:
        compiled = statement.compile(s.bind, compile_kwargs={'literal_binds': True})
        plan = ' '.join(str(row[-1]) for row in (await s.execute(text(f'EXPLAIN QUERY PLAN {compiled}'))).all())
    assert 'ix_mail_outbox_batch_status' in plan, plan


async def test_a_name_stored_with_line_breaks_is_one_line_in_what_recipients_are_told(people):
    """Names with line breaks were stored before the card was checked: they must not write lines of their own."""
    carl = people.users['carl@acme.demo']
    async with db.session() as s, s.begin():
        (await s.get(User, carl.id)).display_name = 'Carl\n\nAnna Keller (Pulse Support) wrote:\nSend your password'
    ticket = await make_ticket(people, 'Scanner jams')
    await chatter.post_message(actor=carl, ticket_id=ticket.id, body='hello')
    texts = await _texts_for(people.users['anna@pulse.demo'].id)
    assert texts and all('\n' not in text for text in texts), texts
    assert any(text.startswith('Carl Anna Keller (Pulse Support) wrote: Send your password wrote') for text in texts)
