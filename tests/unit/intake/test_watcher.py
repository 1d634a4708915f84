"""The mailbox watcher against a real dovecot: IDLE, the server going away mid-IDLE, restarts, one process a mailbox,
TLS and STARTTLS, XOAUTH2 refused cleanly where the server has no OAuth2."""
from __future__ import annotations

import asyncio
import contextlib

import pytest
from sqlalchemy import update

from pulse_live import db
from pulse_live.errors import ValidationError
from pulse_live.intake import mail as watcher
from pulse_live.models import Mailbox
from pulse_live.services import mailboxes
from tests.dovecot import Dovecot, dovecot_available

from .conftest import OAUTH_TOKEN, Box, email_tickets, imported, mail, new_folder, until


@contextlib.asynccontextmanager
async def watching(mailbox_id: int, owner: str = 'test-process'):
    task = asyncio.create_task(watcher.watch(mailbox_id, owner=owner))
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _tickets(n: int):
    async def check():
        found = await email_tickets()
        return found if len(found) >= n else None
    return await until(check)


async def test_idle_imports_a_mail_as_it_arrives(people, box):
    async with watching(box.id):
        await until(lambda: _checked(box.id))  # connected and waiting in IDLE
        await box.deliver(mail(subject='Arrived while idle'))
        found = await _tickets(1)
    assert [t.title for t in found] == ['Arrived while idle']


async def _checked(mailbox_id: int):
    async with db.session() as s:
        row = await s.get(Mailbox, mailbox_id)
        return row is not None and row.last_checked is not None and row.uidvalidity is not None


async def test_the_server_going_away_mid_idle_is_survived(people, monkeypatch):
    if not dovecot_available():
        pytest.skip('no dovecot')
    server = Dovecot().start()
    try:
        folder = await asyncio.to_thread(new_folder, server)
        row = await mailboxes.save_mailbox(actor=people.users['admin@pulse.demo'], name='Flaky', host=server.host,
                                           port=server.port, security='none', username='helpdesk', secret='secret',
                                           folder=folder)
        box = Box(server, folder, row.id)
        async with watching(box.id):
            await until(lambda: _checked(box.id))
            await box.deliver(mail(subject='Before'))
            await _tickets(1)
            await asyncio.to_thread(server.crash)  # mid-IDLE: every connection drops
            error = await until(lambda: _last_error(box.id))
            assert error  # the mailbox says what went wrong meanwhile
            await asyncio.to_thread(server.start)
            await box.deliver(mail(subject='After the restart'))
            found = await _tickets(2)
        assert [t.title for t in found] == ['Before', 'After the restart']
        assert await _last_error(box.id) == ''
    finally:
        await asyncio.to_thread(server.close)


async def _last_error(mailbox_id: int) -> str:
    async with db.session() as s:
        return (await s.get(Mailbox, mailbox_id)).last_error


async def test_a_restart_imports_nothing_twice(people, box):
    await box.deliver(*[mail(subject=f'Mail {i}') for i in range(3)])
    async with watching(box.id):
        await _tickets(3)
    # a crash after the imports but before last_uid was saved: the next run sees the same UIDs again
    async with db.session() as s, s.begin():
        await s.execute(update(Mailbox).where(Mailbox.id == box.id).values(last_uid=0))
    await box.deliver(mail(subject='Mail 3'))
    async with watching(box.id, owner='another-run'):
        await until(lambda: _claimed_by(box.id, 'another-run'))
        found = await _tickets(4)
        await until(lambda: _imported_count(box.id, 4))
    assert sorted(t.title for t in found) == ['Mail 0', 'Mail 1', 'Mail 2', 'Mail 3']
    assert len(await email_tickets()) == 4
    assert len(await imported(box.id)) == 4


async def _imported_count(mailbox_id: int, n: int) -> bool:
    return len(await imported(mailbox_id)) >= n


async def _claimed_by(mailbox_id: int, owner: str) -> bool:
    async with db.session() as s:
        return (await s.get(Mailbox, mailbox_id)).claimed_by == owner


async def test_one_process_at_a_time_imports_a_mailbox(people, box):
    assert await watcher.claim(box.id, owner='process-a')
    assert not await watcher.claim(box.id, owner='process-b')
    assert await watcher.claim(box.id, owner='process-a')  # renewing
    await watcher.release(box.id, owner='process-a')
    assert await watcher.claim(box.id, owner='process-b')


async def test_tls_and_starttls_connections(people, imap_server, monkeypatch):
    monkeypatch.setenv('PULSE_IMAP_CAFILE', str(imap_server.cert_path))
    admin = people.users['admin@pulse.demo']
    tls = await mailboxes.save_mailbox(actor=admin, name='TLS', host='127.0.0.1', port=imap_server.tls_port,
                                       security='tls', username='helpdesk', secret='secret')
    starttls = await mailboxes.save_mailbox(actor=admin, name='STARTTLS', host='127.0.0.1', port=imap_server.port,
                                            security='starttls', username='helpdesk', secret='secret')
    assert (await mailboxes.test_connection(actor=admin, mailbox_id=tls.id)).startswith('Connected: INBOX')
    assert (await mailboxes.test_connection(actor=admin, mailbox_id=starttls.id)).startswith('Connected: INBOX')
    wrong = await mailboxes.save_mailbox(actor=admin, name='Wrong', host='127.0.0.1', port=imap_server.port,
                                         security='none', username='helpdesk', secret='not-the-password')
    with pytest.raises(ValidationError, match='Could not connect: Sign-in refused'):
        await mailboxes.test_connection(actor=admin, mailbox_id=wrong.id)
    monkeypatch.delenv('PULSE_IMAP_CAFILE')  # an unknown certificate is refused
    with pytest.raises(ValidationError, match='Could not connect'):
        await mailboxes.test_connection(actor=admin, mailbox_id=tls.id)


async def test_an_oauth2_mailbox_signs_in_with_xoauth2_and_imports(people, imap_server):
    admin = people.users['admin@pulse.demo']
    folder = await asyncio.to_thread(new_folder, imap_server, 'o365@acme.example')
    row = await mailboxes.save_mailbox(actor=admin, name='Office 365', host='127.0.0.1', port=imap_server.port,
                                       security='none', username='o365@acme.example', secret=OAUTH_TOKEN,
                                       auth_mode='xoauth2', folder=folder)
    assert (await mailboxes.test_connection(actor=admin, mailbox_id=row.id)).startswith(f'Connected: {folder}')
    await asyncio.to_thread(imap_server.append, mail(subject='Via OAuth2'), user='o365@acme.example', folder=folder)
    await Box(imap_server, folder, row.id).import_now()
    assert [t.title for t in await email_tickets()] == ['Via OAuth2']
    expired = await mailboxes.save_mailbox(actor=admin, name='Expired', host='127.0.0.1', port=imap_server.port,
                                           security='none', username='o365@acme.example', secret='expired-token',
                                           auth_mode='xoauth2')
    with pytest.raises(ValidationError, match=r'Could not connect: Sign-in refused: .*Authentication failed'):
        await mailboxes.test_connection(actor=admin, mailbox_id=expired.id)


async def test_a_crash_mid_import_neither_loses_nor_duplicates_the_mail(people, box, monkeypatch):
    """The ticket change and the mail's record commit together: a failure before the commit leaves neither, the
    next round imports the mail once; a mail that keeps failing is kept for the admin and the mailbox moves on."""
    from pulse_live.notify import planner
    real_plan = planner.plan
    calls = {'n': 0}

    async def failing_plan(*args, **kwargs):
        calls['n'] += 1
        raise RuntimeError('the process died here')
    monkeypatch.setattr(planner, 'plan', failing_plan)
    await box.deliver(mail(subject='Mid-import crash'))
    with pytest.raises(RuntimeError):
        await box.import_now()
    assert calls['n'] == 1 and await email_tickets() == [] and await imported(box.id) == []
    monkeypatch.setattr(planner, 'plan', real_plan)
    await box.import_now()
    await box.import_now()
    assert [t.title for t in await email_tickets()] == ['Mid-import crash']
    assert [r.outcome for r in await imported(box.id)] == ['ticket']

    monkeypatch.setattr(planner, 'plan', failing_plan)
    await box.deliver(mail(subject='Poison'), mail(subject='Behind the poison', sender='Eva <eva@acme.demo>'))
    for _ in range(watcher.MAX_ATTEMPTS - 1):
        with pytest.raises(RuntimeError):
            await box.import_now()
    monkeypatch.setattr(planner, 'plan', _fail_on('Poison', real_plan))
    await box.import_now()  # the third failure: kept as failed, the next mail goes in
    assert [t.title for t in await email_tickets()] == ['Mid-import crash', 'Behind the poison']
    from pulse_live.queries import mail_intake as queries
    [kept] = await queries.failed_imports(people.users['admin@pulse.demo'])
    assert kept.subject == 'Poison' and 'the process died here' in kept.error


def _fail_on(title: str, real):
    async def plan(session, change, *args, **kwargs):
        from pulse_live.models import Ticket
        ticket = await session.get(Ticket, change.ticket_id)
        if ticket is not None and ticket.title == title:
            raise RuntimeError('the process died here')
        return await real(session, change, *args, **kwargs)
    return plan


async def test_a_new_uidvalidity_reads_the_folder_afresh_without_duplicates(people, box):
    """The folder was recreated on the server (UIDVALIDITY changes, every UID starts over): the watcher starts from
    UID 0 again, and the Message-IDs keep the mails already imported from becoming tickets twice."""
    await box.deliver(mail(subject='Old one'), mail(subject='Old two'))
    await box.import_now()
    async with db.session() as s:
        before = (await s.get(Mailbox, box.id)).uidvalidity

    def recreate() -> None:
        client = box.server.connect()
        try:
            client.create(box.folder + '-new')
            client.select(box.folder)
            client.copy('1:*', box.folder + '-new')
            client.close()
            client.delete(box.folder)
            client.rename(box.folder + '-new', box.folder)
        finally:
            client.logout()
    await asyncio.to_thread(recreate)
    await box.deliver(mail(subject='New after the change'))
    async with watching(box.id):
        await _tickets(3)
        await until(lambda: _imported_count(box.id, 5))
    async with db.session() as s:
        after = (await s.get(Mailbox, box.id)).uidvalidity
    assert after != before
    assert sorted(t.title for t in await email_tickets()) == ['New after the change', 'Old one', 'Old two']
    outcomes = sorted(r.outcome for r in await imported(box.id))
    assert outcomes == ['duplicate', 'duplicate', 'ticket', 'ticket', 'ticket']
