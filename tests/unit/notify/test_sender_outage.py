"""An outage longer than the retry budget (issue 17): mails that died of it are tried again by themselves once the
server answers (a probe of the oldest, then all of them), each sent once; refusals stay dead; admins retry all."""
import asyncio
import contextlib
import time

import pytest
from aiosmtpd.controller import Controller

from pulse_live.config import reset_settings
from pulse_live.errors import PermissionDenied
from pulse_live.notify import sender
from pulse_live.services import chatter, notifications
from tests.factories import make_ticket
from tests.helpers import clear_outbox, drain, make_due, outbox

pytestmark = pytest.mark.usefixtures('fresh_presence')  # nobody is online: changes are mailed


@pytest.fixture
def short_budget(monkeypatch):
    """Two attempts per mail, and a probe of the dead ones every 0.2 s."""
    monkeypatch.setenv('PULSE_MAIL_MAX_ATTEMPTS', '2')
    monkeypatch.setenv('PULSE_MAIL_DEAD_RETRY_S', '0.2')
    reset_settings()
    monkeypatch.setattr(sender, '_last_probe', [0.0])


def _restart(smtp) -> None:
    smtp.controller = Controller(smtp, hostname='127.0.0.1', port=smtp.controller.port)
    smtp.controller.start()


async def _mails_dead_of_an_outage(people, smtp, count: int = 3) -> list:
    anna = people.users['anna@pulse.demo']
    await clear_outbox()
    smtp.controller.stop()  # the mail server is down for longer than the retry budget
    for i in range(count):
        ticket = await make_ticket(people, f'Outage {i}')
        await chatter.post_message(actor=anna, ticket_id=ticket.id, body=f'during the outage {i}')
    await drain()
    rows = await outbox()
    assert rows and all(r.status == 'dead' and r.last_failure == 'outage' for r in rows)
    return rows


async def test_dead_mails_of_an_outage_go_out_once_the_server_answers_and_none_twice(people, smtp, short_budget):
    rows = await _mails_dead_of_an_outage(people, smtp)
    # still down: the probe tries the oldest once and it is dead again at once (no new series of retries)
    assert await sender.probe_dead_if_due() == 1
    await sender.send_due()
    after_probe = await outbox()
    assert [r.status for r in after_probe] == ['dead'] * len(rows) and smtp.messages == []
    _restart(smtp)
    await asyncio.sleep(0.25)
    assert await sender.probe_dead_if_due() == 1  # the oldest goes out; that success revives all the others
    await drain()
    assert [r.status for r in await outbox()] == ['sent'] * len(rows)
    assert sorted(m['Message-ID'] for m in smtp.messages) == sorted(r.message_id for r in rows)
    assert set(smtp.per_message_id().values()) == {1}
    assert await sender.revive_dead() == 0 and await sender.revive_dead(probe=True) == 0


async def test_the_running_sender_retries_dead_mails_by_itself(people, smtp, short_budget):
    rows = await _mails_dead_of_an_outage(people, smtp)
    _restart(smtp)
    task = asyncio.get_running_loop().create_task(sender.run_forever(idle_s=0.2))
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and any(r.status != 'sent' for r in await outbox()):
            await asyncio.sleep(0.1)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert [r.status for r in await outbox()] == ['sent'] * len(rows)
    assert set(smtp.per_message_id().values()) == {1} and len(smtp.messages) == len(rows)


async def test_two_processes_reviving_at_once_revive_each_mail_once(people, smtp, short_budget):
    rows = await _mails_dead_of_an_outage(people, smtp)
    _restart(smtp)
    revived = await asyncio.gather(sender.revive_dead(), sender.revive_dead(), sender.revive_dead(probe=True))
    assert sum(revived) == len(rows)
    await asyncio.gather(sender.send_due(), sender.send_due())
    await drain()
    assert set(smtp.per_message_id().values()) == {1} and len(smtp.messages) == len(rows)


async def test_a_refused_mail_stays_dead_when_others_go_out(people, smtp, short_budget):
    anna = people.users['anna@pulse.demo']
    ticket = await make_ticket(people, 'Refused')
    await clear_outbox()
    smtp.refuse = True  # the server answers, and says no: not an outage
    await chatter.post_message(actor=anna, ticket_id=ticket.id, body='refused')
    await drain()
    refused = await outbox()
    assert refused and all(r.status == 'dead' and r.last_failure == 'refused' for r in refused)
    smtp.refuse = False
    other = await make_ticket(people, 'Fine')
    await chatter.post_message(actor=anna, ticket_id=other.id, body='fine')
    await drain()
    by_id = {r.id: r for r in await outbox()}
    assert all(by_id[r.id].status == 'dead' for r in refused)  # left for an admin
    assert await sender.probe_dead_if_due() == 0


async def test_admins_retry_all_failed_mails_at_once(people, smtp, short_budget):
    anna, admin = people.users['anna@pulse.demo'], people.users['admin@pulse.demo']
    ticket = await make_ticket(people, 'Refused')
    await clear_outbox()
    smtp.refuse = True
    await chatter.post_message(actor=anna, ticket_id=ticket.id, body='refused')
    await drain()
    dead = await outbox()
    assert dead and all(r.status == 'dead' for r in dead)
    with pytest.raises(PermissionDenied):
        await notifications.retry_all(actor=anna)
    smtp.refuse = False
    assert await notifications.retry_all(actor=admin) == len(dead)
    assert await notifications.retry_all(actor=admin) == 0  # nothing dead any more: counted once
    await make_due()
    await drain()
    assert [r.status for r in await outbox()] == ['sent'] * len(dead)
    assert set(smtp.per_message_id().values()) == {1}


async def test_a_mail_that_always_loses_the_connection_is_revived_once_not_for_ever(people, smtp, short_budget):
    """One mail makes the server drop the connection every time (looks like an outage), while the others go out:
    it is revived with the others once, then left for an admin — not retried with a fresh set of attempts after
    every mail sent, for ever. The probe never sticks on it either."""
    rows = await _mails_dead_of_an_outage(people, smtp, count=2)
    poison = rows[0]
    _restart(smtp)
    smtp.drop_ids = {poison.message_id}
    assert await sender.probe_dead_if_due() == 1  # the oldest is tried first: it fails, and goes to the back
    await sender.send_due()
    await asyncio.sleep(0.25)
    assert await sender.probe_dead_if_due() == 1  # the next one goes out, and revives the rest with a fresh budget
    await drain()
    by_id = {r.id: r for r in await outbox()}
    assert [by_id[r.id].status for r in rows[1:]] == ['sent'] * (len(rows) - 1)
    assert by_id[poison.id].status == 'dead' and by_id[poison.id].last_failure == 'outage-again'
    attempts = by_id[poison.id].attempts
    other = await make_ticket(people, 'Fine')  # more mail goes out: the poison one is not revived again
    await chatter.post_message(actor=people.users['anna@pulse.demo'], ticket_id=other.id, body='fine')
    await drain()
    await asyncio.sleep(0.25)
    assert await sender.probe_dead_if_due() == 0
    await drain()
    again = {r.id: r for r in await outbox()}[poison.id]
    assert again.status == 'dead' and again.attempts == attempts
    assert smtp.per_message_id()[poison.message_id] == 0
    admin = people.users['admin@pulse.demo']
    smtp.drop_ids = set()
    assert await notifications.retry_all(actor=admin) == 1  # the admin's retry: a clean slate
    await make_due()
    await drain()
    assert {r.id: r for r in await outbox()}[poison.id].status == 'sent'
