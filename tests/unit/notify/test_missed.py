"""Missed notifications (notify/missed.py): in-app notifications still unread after the user's delay, while the user
is offline, go out by mail, even behind another user's backlog."""
from datetime import timedelta

import pytest
from sqlalchemy import insert, select, update

from pulse_live import db, presence
from pulse_live.models import MailOutbox, Notification, utcnow
from pulse_live.notify import missed
from pulse_live.services import chatter, notifications, ownership, tickets
from tests.factories import make_ticket
from tests.helpers import clear_outbox, drain

pytestmark = pytest.mark.usefixtures('fresh_presence')  # nobody is online, nobody views


async def test_missed_scan_reaches_an_offline_user_behind_an_online_users_backlog(people, smtp):
    anna, ben, maria = (people.users[e] for e in ('anna@pulse.demo', 'ben@pulse.demo', 'maria@pulse.demo'))
    ticket = await tickets.create_ticket(actor=anna, title='VPN down', customer_id=people.users['carl@acme.demo'].id)
    old = utcnow() - timedelta(hours=1)
    async with db.session() as s, s.begin():
        await s.execute(MailOutbox.__table__.delete())
        await s.execute(Notification.__table__.delete())
        await s.execute(insert(Notification), [{'user_id': ben.id, 'ticket_id': ticket.id, 'text': f'for ben {i}',
                                                 'created_at': old} for i in range(1200)])
        s.add(Notification(user_id=maria.id, ticket_id=ticket.id, text='for maria', created_at=old))
    presence.connected(ben.id, 'ben-tab')  # Ben is online with 1200 old unread notifications
    assert await missed.mail_missed() == 1
    await drain()
    assert len(smtp.to('maria@pulse.demo')) == 1 and smtp.to('ben@pulse.demo') == []
    assert 'for maria' in smtp.to('maria@pulse.demo')[0].get_body(('plain',)).get_content()
    presence.disconnected(ben.id, 'ben-tab')  # Ben leaves: all of his are mailed (more than one page), in one mail
    assert await missed.mail_missed() == 1200
    await drain()
    assert len(smtp.to('ben@pulse.demo')) == 1
    body = smtp.to('ben@pulse.demo')[0].get_body(('plain',)).get_content()
    assert 'for ben 0' in body and 'for ben 1199' in body
    assert await missed.mail_missed() == 0


async def test_unread_in_app_notification_is_mailed_after_going_offline(people, smtp):
    anna, ben = people.users['anna@pulse.demo'], people.users['ben@pulse.demo']
    await notifications.update_preferences(actor=ben, email_notifications=True, notify_delay_s=0)
    ticket = await make_ticket(people, 'VPN down')
    await clear_outbox()
    presence.connected(ben.id, 'tab')
    await chatter.post_message(actor=anna, ticket_id=ticket.id, body='ping while online')
    assert await missed.mail_missed() == 0  # Ben is online: nothing to mail yet
    await drain()
    assert smtp.to('ben@pulse.demo') == []
    async with db.session() as s:
        pinged = list((await s.execute(select(Notification).where(Notification.user_id == ben.id))).scalars())
    assert len(pinged) == 1 and pinged[0].mailed_at is None  # still waiting in the bell
    presence.disconnected(ben.id, 'tab')
    assert await missed.mail_missed() == 1
    await drain()
    assert len(smtp.to('ben@pulse.demo')) == 1
    assert 'ping while online' in smtp.to('ben@pulse.demo')[0].get_body(('plain',)).get_content()
    assert await missed.mail_missed() == 0  # mailed once only


async def test_unread_notification_younger_than_the_users_delay_is_not_mailed_an_older_one_is(people, smtp):
    """The delay is each user's own and counts from when the notification was created."""
    ben, daniel = people.users['ben@pulse.demo'], people.users['daniel@pulse.demo']
    await notifications.update_preferences(actor=ben, email_notifications=True, notify_delay_s=600)
    await notifications.update_preferences(actor=daniel, email_notifications=True, notify_delay_s=0)
    ticket = await make_ticket(people, 'VPN down')
    await clear_outbox()
    now = utcnow()
    async with db.session() as s, s.begin():
        await s.execute(Notification.__table__.delete())
        for user, text, age_s in ((ben, 'ben old', 660), (ben, 'ben young', 540), (daniel, 'daniel just now', 1)):
            s.add(Notification(user_id=user.id, ticket_id=ticket.id, text=text,
                               created_at=now - timedelta(seconds=age_s)))
    assert await missed.mail_missed() == 2  # Ben's old one and Daniel's (delay 0); not Ben's young one
    await drain()
    ben_mails, daniel_mails = smtp.to('ben@pulse.demo'), smtp.to('daniel@pulse.demo')
    assert len(ben_mails) == 1 and len(daniel_mails) == 1
    ben_text = ben_mails[0].get_body(('plain',)).get_content()
    assert 'ben old' in ben_text and 'ben young' not in ben_text
    assert 'daniel just now' in daniel_mails[0].get_body(('plain',)).get_content()
    async with db.session() as s:
        young = (await s.execute(select(Notification).where(Notification.text == 'ben young'))).scalar_one()
    assert young.mailed_at is None and young.read_at is None
    assert await missed.mail_missed() == 0  # not yet
    async with db.session() as s, s.begin():  # time passes: now it is older than Ben's delay too
        await s.execute(update(Notification).where(Notification.id == young.id)
                        .values(created_at=utcnow() - timedelta(seconds=601)))
    assert await missed.mail_missed() == 1
    await drain()
    assert 'ben young' in smtp.to('ben@pulse.demo')[-1].get_body(('plain',)).get_content()


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
