"""Notifications against a real SMTP server (aiosmtpd on 127.0.0.1)."""
from datetime import timedelta

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select, update

from pulse_live import db, presence
from pulse_live.config import reset_settings
from pulse_live.models import MailOutbox, Notification, ResolutionCode, utcnow
from pulse_live.notify import missed, sender
from pulse_live.services import chatter, notifications, team, tickets, users
from tests.factories import make_ticket
from tests.helpers import clear_outbox, drain, make_due, outbox

pytestmark = pytest.mark.usefixtures('fresh_presence')  # nobody is online, nobody views


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


async def test_customer_gets_public_replies_and_resolve_close_mails_never_notes(people, smtp):
    anna = people.users['anna@pulse.demo']
    ticket = await make_ticket(people, 'VPN down')
    await clear_outbox()
    await chatter.post_message(actor=anna, ticket_id=ticket.id, body='internal musing', internal=True)
    await chatter.post_message(actor=anna, ticket_id=ticket.id, body='We are on it')
    async with db.session() as s:
        fixed = (await s.execute(select(ResolutionCode.id).where(ResolutionCode.name == 'Fixed'))).scalar_one()
    t = await tickets.change_status(actor=anna, ticket_id=ticket.id, expected_version=ticket.version,
                                    status='resolved', resolution_code_id=fixed, resolution_text='Rebooted the VPN gateway')
    await tickets.change_status(actor=anna, ticket_id=ticket.id, expected_version=t.version, status='closed')
    await drain()
    mails = smtp.to('carl@acme.demo')
    texts = [m.get_body(('plain',)).get_content() for m in mails]
    subjects = [m['Subject'] for m in mails]
    assert not any('internal musing' in t for t in texts)
    assert any('We are on it' in t for t in texts)
    assert any('resolved' in s.lower() for s in subjects) and any('closed' in s.lower() for s in subjects)
    resolved = next(t for m, t in zip(mails, texts) if 'resolved' in m['Subject'].lower())
    assert 'Rebooted the VPN gateway' in resolved


async def test_server_down_then_back_nothing_lost_nothing_doubled(people, smtp):
    anna = people.users['anna@pulse.demo']
    ticket = await make_ticket(people, 'VPN down')
    await clear_outbox()
    smtp.controller.stop()  # the mail server is down
    await chatter.post_message(actor=anna, ticket_id=ticket.id, body='while the server is down')
    await make_due()
    assert await sender.send_due() > 0
    rows = await outbox()
    assert rows and all(r.status == 'pending' and r.attempts == 1 and r.last_error for r in rows)
    assert all(r.next_attempt_at > utcnow() for r in rows)  # backoff
    smtp.controller = Controller(smtp, hostname='127.0.0.1', port=smtp.controller.port)
    smtp.controller.start()  # back
    await drain()
    rows = await outbox()
    assert all(r.status == 'sent' for r in rows)
    assert sorted(m['To'] for m in smtp.messages) == sorted(r.to_addr for r in rows)
    assert len({m['Message-ID'] for m in smtp.messages}) == len(smtp.messages)


async def test_an_outage_is_logged_once_and_its_end_once(people, smtp, caplog, monkeypatch):
    monkeypatch.setattr(sender, '_server_down', False)  # whatever an earlier test left behind
    anna = people.users['anna@pulse.demo']
    ticket = await make_ticket(people, 'VPN down')
    await clear_outbox()
    smtp.controller.stop()
    caplog.set_level('WARNING', logger='pulse_live.notify.sender')
    for attempt in range(3):  # three rounds of retries while the server is down
        await chatter.post_message(actor=anna, ticket_id=ticket.id, body=f'down {attempt}')
        await make_due()
        await sender.send_due()
    down = [r for r in caplog.records if 'unavailable' in r.getMessage()]
    assert len(down) == 1 and 'retried' in down[0].getMessage()
    smtp.controller = Controller(smtp, hostname='127.0.0.1', port=smtp.controller.port)
    smtp.controller.start()
    await drain()
    back = [r for r in caplog.records if 'answers again' in r.getMessage()]
    assert len(back) == 1
    assert all(r.status == 'sent' for r in await outbox())


async def test_refusing_server_leads_to_dead_letter_and_retry_now(people, smtp, monkeypatch):
    monkeypatch.setenv('PULSE_MAIL_MAX_ATTEMPTS', '2')
    reset_settings()
    anna, admin = people.users['anna@pulse.demo'], people.users['admin@pulse.demo']
    ticket = await make_ticket(people, 'VPN down')
    await clear_outbox()
    await chatter.post_message(actor=anna, ticket_id=ticket.id, body='refused')
    smtp.refuse = True
    await drain()
    rows = await outbox()
    assert rows and all(r.status == 'dead' and '451' in r.last_error for r in rows)
    smtp.refuse = False
    with pytest.raises(Exception, match='not allowed'):
        await notifications.retry_now(actor=anna, outbox_id=rows[0].id)
    await notifications.retry_now(actor=admin, outbox_id=rows[0].id)
    await sender.send_due()
    assert [r.status for r in await outbox()][0] == 'sent'
    assert len(smtp.messages) == 1


async def test_restart_between_claim_and_send_sends_once(people, smtp):
    """A process that claimed mails and died: after the claim expires another sends them, once each."""
    anna = people.users['anna@pulse.demo']
    ticket = await make_ticket(people, 'VPN down')
    await clear_outbox()
    await chatter.post_message(actor=anna, ticket_id=ticket.id, body='before the crash')
    await make_due()
    claimed = await sender._claim(100)  # the "old process" claims, then crashes before sending
    assert claimed
    assert await sender.send_due() == 0  # claimed rows are not sent twice meanwhile
    await db.restart()
    async with db.session() as s, s.begin():  # the claim runs out
        await s.execute(update(MailOutbox).values(locked_until=utcnow()))
    await drain()
    await drain()
    assert len(smtp.messages) == len(claimed)
    assert all(r.status == 'sent' for r in await outbox())


async def test_header_injection_is_neutralised(people, smtp):
    anna = people.users['anna@pulse.demo']
    await users.update_card(actor=anna, display_name='Anna\r\nBcc: evil@example.org', handle='anna',
                            card_published=True)
    ticket = await tickets.create_ticket(actor=anna, title='Hello\r\nBcc: evil@example.org\nX-Evil: 1',
                                         customer_id=people.users['carl@acme.demo'].id)
    await chatter.post_message(actor=anna, ticket_id=ticket.id, body='x')
    await drain()
    assert smtp.messages
    for m in smtp.messages:
        assert m['Bcc'] is None and m['X-Evil'] is None
        assert '\n' not in m['Subject'] and '\r' not in m['Subject']


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


async def test_email_preference_off_means_no_mail(people, smtp):
    anna, daniel = people.users['anna@pulse.demo'], people.users['daniel@pulse.demo']
    await notifications.update_preferences(actor=daniel, email_notifications=False, notify_delay_s=300)
    ticket = await make_ticket(people, 'VPN down')
    await chatter.post_message(actor=anna, ticket_id=ticket.id, body='hello')
    await drain()
    assert smtp.to('daniel@pulse.demo') == []
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
