"""When one of two processes dies, its users' presence lives on in the other for up to ``REMOTE_TTL_S``: a message
posted then must still reach them — in the bell, and by mail once the scan sees they are gone (issue 17)."""
import time

import pytest
from sqlalchemy import select

from pulse_live import db, presence
from pulse_live.events import PresenceChanged
from pulse_live.models import Notification
from pulse_live.notify import missed
from pulse_live.services import chatter, notifications
from tests.factories import make_ticket
from tests.helpers import clear_outbox, drain

pytestmark = pytest.mark.usefixtures('fresh_presence')


async def _share_of_process_a(ticket_id: int, user) -> None:
    """Process A's last heartbeat (over the bus): the user views the ticket there and is online there."""
    viewer = {'user_id': user.id, 'name': user.display_name, 'is_staff': True}
    await presence.on_bus_event(PresenceChanged(ticket_id=ticket_id, data={'origin': 'process-a', 'viewers': [viewer],
                                                                           'typing': []}))
    await presence.on_bus_event(PresenceChanged(ticket_id=None, data={'origin': 'process-a', 'online': [user.id]}))


def _age_shares_of(origin: str, seconds: float) -> None:
    for shares in presence._remote.values():
        if origin in shares:
            seen, share = shares[origin]
            shares[origin] = (seen - seconds, share)


async def _notes(user_id: int) -> list[Notification]:
    async with db.session() as s:
        return list((await s.execute(select(Notification).where(Notification.user_id == user_id))).scalars())


async def test_a_message_posted_after_the_viewers_process_died_reaches_them_in_the_bell_and_by_mail(people, smtp,
                                                                                                    toasts):
    anna, ben = people.users['anna@pulse.demo'], people.users['ben@pulse.demo']
    await notifications.update_preferences(actor=ben, email_notifications=True, notify_delay_s=0)
    ticket = await make_ticket(people, 'VPN down')
    await clear_outbox()
    await _share_of_process_a(ticket.id, ben)
    assert presence.viewing(ticket.id) == {ben.id} and presence.is_online(ben.id)
    # process A is killed here (no goodbye); within its share's lifetime Anna posts on this process
    await chatter.post_message(actor=anna, ticket_id=ticket.id, body='posted after process A died')
    pinged = await _notes(ben.id)
    assert len(pinged) == 1 and pinged[0].read_at is None  # in the bell (a live tab of his would mark it read)
    assert toasts[ben.id] == 1
    assert await missed.mail_missed() == 0  # A's share is fresh: Ben may still be reading there
    _age_shares_of('process-a', presence.FRESH_S + 1)  # one heartbeat missed: A is gone
    assert presence.is_online(ben.id)  # (the share is still kept for the views until REMOTE_TTL_S)
    assert await missed.mail_missed() == 1  # ... but the scan no longer trusts it
    await drain()
    mails = smtp.to('ben@pulse.demo')
    assert len(mails) == 1 and 'posted after process A died' in mails[0].get_body(('plain',)).get_content()
    assert await missed.mail_missed() == 0


async def test_a_viewer_in_this_process_is_still_spared_the_notification(people, smtp, toasts):
    anna, ben = people.users['anna@pulse.demo'], people.users['ben@pulse.demo']
    ticket = await make_ticket(people, 'VPN down')
    await presence.join(ticket.id, client_id='ben-tab', user_id=ben.id, name='Ben', is_staff=True)
    presence.connected(ben.id, 'ben-tab')
    await chatter.post_message(actor=anna, ticket_id=ticket.id, body='he sees it live')
    assert await _notes(ben.id) == [] and toasts[ben.id] == 0


async def test_online_only_by_a_stale_share_counts_as_offline_for_the_scan(people, smtp):
    ben = people.users['ben@pulse.demo']
    await presence.on_bus_event(PresenceChanged(ticket_id=None, data={'origin': 'process-a', 'online': [ben.id]}))
    assert presence.is_online(ben.id, fresh_s=presence.FRESH_S)
    _age_shares_of('process-a', presence.FRESH_S + 1)
    assert not presence.is_online(ben.id, fresh_s=presence.FRESH_S)
    _age_shares_of('process-a', time.monotonic())  # long gone: forgotten everywhere
    assert not presence.is_online(ben.id)
