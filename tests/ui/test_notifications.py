"""The bell and the admin's outbox page with simulated users."""
import asyncio
from collections.abc import Callable

from nicegui import ui
from nicegui.testing import User
from sqlalchemy import update

from pulse_live import db
from pulse_live.models import MailOutbox
from pulse_live.services import chatter, tickets
from tests.ui.conftest import login


async def test_mention_raises_bell_of_online_agent(create_user: Callable[[], User], people) -> None:
    anna, ben = people.users['anna@pulse.demo'], people.users['ben@pulse.demo']
    ben_user = create_user()
    await login(ben_user, 'ben@pulse.demo')
    await ben_user.should_not_see(marker='bell-count')
    ticket = await tickets.create_ticket(actor=anna, title='Bell test')
    await ben_user.should_see(marker='bell-count', content='1', retries=50)  # the new ticket (support group)
    await chatter.post_message(actor=anna, ticket_id=ticket.id, body='@ben have a look')
    await ben_user.should_see(marker='bell-count', content='2', retries=50)  # then the mention
    await ben_user.should_see('mentioned you', retries=10)  # the toast
    assert ben.id  # Ben is online, so no mail was queued for him
    from sqlalchemy import select
    async with db.session() as s:
        to_ben = (await s.execute(select(MailOutbox).where(MailOutbox.to_user_id == ben.id))).scalars().all()
    assert to_ben == []


async def test_a_notification_wakes_only_its_persons_bells(create_user: Callable[[], User], people,
                                                            monkeypatch) -> None:
    """Every page has a bell; a notification for Ben calls Ben's bells, not every bell of every page of the process
    (with 200 agents' pages open that was 200 handlers and tasks per notification)."""
    from components.bell import Bell
    called: list[tuple[int, int]] = []  # (the bell's person, the notification's)
    created = Bell._created

    async def counting(self, event):
        called.append((self.user.id, event.user_id))
        return await created(self, event)
    monkeypatch.setattr(Bell, '_created', counting)
    anna, ben = people.users['anna@pulse.demo'], people.users['ben@pulse.demo']
    pages = [create_user() for _ in range(4)]
    for page, email in zip(pages, ('ben@pulse.demo', 'ben@pulse.demo', 'daniel@pulse.demo', 'maria@pulse.demo'),
                           strict=True):
        await login(page, email)
    ticket = await tickets.create_ticket(actor=anna, title='Only for Ben')
    await pages[0].should_see(marker='bell-count', retries=50)
    called.clear()
    await chatter.post_message(actor=anna, ticket_id=ticket.id, body='@ben have a look')
    await pages[0].should_see('mentioned you', retries=50)
    await pages[1].should_see('mentioned you', retries=50)  # both of Ben's tabs
    await asyncio.sleep(0.3)
    assert [c for c in called if c[1] == ben.id] == [(ben.id, ben.id)] * 2
    assert all(bell == notified for bell, notified in called), called  # no bell of anyone else


async def test_admin_outbox_page_lists_and_retries(create_user: Callable[[], User], people) -> None:
    anna = people.users['anna@pulse.demo']
    ticket = await tickets.create_ticket(actor=anna, title='Outbox test')
    await chatter.post_message(actor=anna, ticket_id=ticket.id, body='for the offline people')
    async with db.session() as s, s.begin():
        await s.execute(update(MailOutbox).values(status='dead', last_error='SMTPConnectError: refused'))
    admin, agent = create_user(), create_user()
    await login(admin, 'admin@pulse.demo')
    await admin.open('/admin/outbox')
    await admin.should_see('Mail outbox')
    table = admin.find(ui.table).elements.pop()
    assert table.rows and all(r['status'] == 'dead' and 'refused' in r['error'] for r in table.rows)
    await login(agent, 'anna@pulse.demo')
    await agent.open('/admin/outbox')
    await agent.should_not_see('Mail outbox')
