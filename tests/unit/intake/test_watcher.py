"""The mailbox watcher against a real dovecot: IDLE, the server going away mid-IDLE, restarts, one process a mailbox,
TLS and STARTTLS, XOAUTH2 refused cleanly where the server has no OAuth2."""
from __future__ import annotations

import asyncio
import contextlib

import pytest
from sqlalchemy import update

from pulse_live import db
from pulse_live.config import reset_settings
from pulse_live.errors import ValidationError
from pulse_live.intake import mail as watcher
from pulse_live.models import Mailbox
from pulse_live.services import mailboxes
from tests.dovecot import Dovecot, dovecot_available

from .conftest import OAUTH_TOKEN, Box, email_tickets, entries, imported, mail, new_folder, until


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


def _note_idling(monkeypatch) -> asyncio.Event:
    """Set once a watcher waits in IDLE (the server acknowledged the IDLE command: what it announces now comes)."""
    import aioimaplib
    idling = asyncio.Event()
    real = aioimaplib.IMAP4.wait_server_push

    async def noted(self, *args, **kwargs):
        idling.set()
        return await real(self, *args, **kwargs)
    monkeypatch.setattr(aioimaplib.IMAP4, 'wait_server_push', noted)
    return idling


async def test_idle_imports_a_mail_as_it_arrives(people, box, monkeypatch):
    """Only IDLE can bring the mail in time: the poll (and the IDLE renewal) is a minute away, the mail is delivered
    once the watcher waits in IDLE, and its ticket must be there within a few seconds."""
    monkeypatch.setenv('PULSE_MAIL_INTAKE_POLL_S', '60')
    monkeypatch.setenv('PULSE_MAIL_INTAKE_CLAIM_S', '300')
    reset_settings()
    idling = _note_idling(monkeypatch)
    async with watching(box.id):
        await asyncio.wait_for(idling.wait(), 20)  # connected, caught up and waiting in IDLE
        await box.deliver(mail(subject='Arrived while idle'))
        found = await until(email_tickets, timeout=8)
    assert [t.title for t in found] == ['Arrived while idle']


async def test_without_idle_the_watcher_polls(people, box, monkeypatch):
    """IDLE off (PULSE_MAIL_INTAKE_IDLE=false; the same path as a server without IDLE): a mail delivered after a
    poll round is imported by the next one, and IDLE is never used."""
    from pulse_live.intake.mail import imap
    monkeypatch.setenv('PULSE_MAIL_INTAKE_IDLE', 'false')
    monkeypatch.setenv('PULSE_MAIL_INTAKE_POLL_S', '1')
    reset_settings()
    idling = _note_idling(monkeypatch)
    polled = asyncio.Event()
    real_noop = imap.Connection.noop

    async def noted_noop(self):
        polled.set()
        await real_noop(self)
    monkeypatch.setattr(imap.Connection, 'noop', noted_noop)
    async with watching(box.id):
        await asyncio.wait_for(polled.wait(), 20)  # one poll round has passed: only a later one can see the mail
        await box.deliver(mail(subject='Arrived between polls'))
        found = await until(email_tickets, timeout=10)
    assert [t.title for t in found] == ['Arrived between polls']
    assert not idling.is_set()


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


async def test_a_failing_claim_is_noted_and_retried_not_the_end_of_the_watcher(people, box, monkeypatch):
    """The lease is renewed in the database; a database error there (a restart, a lock) ended the watcher for good,
    silently: no error on the mailbox, no mail imported until the process restarted."""
    real_claim = watcher.claim
    failures = [RuntimeError('the database went away for a moment')]

    async def flaky_claim(mailbox_id, *, owner):
        if failures:
            raise failures.pop()
        return await real_claim(mailbox_id, owner=owner)
    monkeypatch.setattr(watcher, 'claim', flaky_claim)
    async with watching(box.id) as task:
        error = await until(lambda: _last_error(box.id))
        assert 'went away for a moment' in error
        await box.deliver(mail(subject='After the hiccup'))
        found = await _tickets(1)
        assert not task.done()
    assert [t.title for t in found] == ['After the hiccup']


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


class TokenEndpoint:
    """A local stand-in for the provider's OAuth2 token endpoint (RFC 6749 §6): answers a refresh_token grant with
    ``answer`` and records every form it was sent."""

    def __init__(self, answer: dict, status: int = 200) -> None:
        import json
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
        from urllib.parse import parse_qs
        self.answer, self.status, self.forms = answer, status, []
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get('Content-Length') or 0)
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                endpoint.forms.append(form)
                body = json.dumps(endpoint.answer).encode()
                self.send_response(endpoint.status)
                self.send_header('Content-Type', 'application/json')
                self.send_header('Content-Length', str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass
        self.server = ThreadingHTTPServer(('127.0.0.1', 0), Handler)
        self.url = f'http://127.0.0.1:{self.server.server_address[1]}/oauth2/v2.0/token'
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


async def test_an_oauth2_mailbox_refreshes_its_expired_access_token_and_imports(people, imap_server):
    from pulse_live.models import utcnow
    admin = people.users['admin@pulse.demo']
    folder = await asyncio.to_thread(new_folder, imap_server, 'o365@acme.example')
    endpoint = TokenEndpoint({'access_token': OAUTH_TOKEN, 'token_type': 'Bearer', 'expires_in': 3599,
                              'refresh_token': 'rt-rotated'})
    try:
        row = await mailboxes.save_mailbox(
            actor=admin, name='Office 365', host='127.0.0.1', port=imap_server.port, security='none',
            username='o365@acme.example', secret='expired-access-token', auth_mode='xoauth2', folder=folder,
            oauth_token_url=endpoint.url, oauth_client_id='pulse-app', oauth_client_secret='app-secret',
            refresh_token='rt-first')
        await asyncio.to_thread(imap_server.append, mail(subject='After a refresh'), user='o365@acme.example',
                                folder=folder)
        await Box(imap_server, folder, row.id).import_now()
        assert [t.title for t in await email_tickets()] == ['After a refresh']
        assert endpoint.forms == [{'grant_type': 'refresh_token', 'refresh_token': 'rt-first',
                                   'client_id': 'pulse-app', 'client_secret': 'app-secret'}]
        async with db.session() as s:
            box = await s.get(Mailbox, row.id)
        assert mailboxes.decrypt_secret(box.secret_encrypted) == OAUTH_TOKEN
        assert mailboxes.decrypt_secret(box.oauth_refresh_encrypted) == 'rt-rotated'  # the provider rotated it
        assert box.oauth_expires_at > utcnow()
        # a token still valid is used as it is: no second refresh
        assert (await mailboxes.test_connection(actor=admin, mailbox_id=row.id)).startswith(f'Connected: {folder}')
        assert len(endpoint.forms) == 1
        # the server refuses a token that should still be valid (revoked): refreshed once, then signed in
        async with db.session() as s, s.begin():
            await s.execute(update(Mailbox).where(Mailbox.id == row.id).values(
                secret_encrypted=mailboxes.encrypt_secret('revoked-token')))
        assert (await mailboxes.test_connection(actor=admin, mailbox_id=row.id)).startswith(f'Connected: {folder}')
        assert [f['refresh_token'] for f in endpoint.forms] == ['rt-first', 'rt-rotated']
    finally:
        endpoint.close()


async def test_a_refused_refresh_says_why_and_the_watcher_records_it(people, imap_server):
    admin = people.users['admin@pulse.demo']
    endpoint = TokenEndpoint({'error': 'invalid_grant', 'error_description': 'AADSTS70008: the refresh token expired'},
                             status=400)
    try:
        row = await mailboxes.save_mailbox(
            actor=admin, name='Lapsed', host='127.0.0.1', port=imap_server.port, security='none',
            username='o365@acme.example', secret='expired-access-token', auth_mode='xoauth2',
            oauth_token_url=endpoint.url, oauth_client_id='pulse-app', refresh_token='rt-old')
        with pytest.raises(ValidationError, match='invalid_grant: AADSTS70008: the refresh token expired'):
            await mailboxes.test_connection(actor=admin, mailbox_id=row.id)
        assert endpoint.forms[0] == {'grant_type': 'refresh_token', 'refresh_token': 'rt-old', 'client_id': 'pulse-app'}
        async with watching(row.id):
            async def error() -> str:
                async with db.session() as s:
                    return (await s.get(Mailbox, row.id)).last_error
            assert 'invalid_grant' in await until(error)
    finally:
        endpoint.close()
    with pytest.raises(ValidationError, match='https://'):
        await mailboxes.save_mailbox(actor=admin, name='Bad', host='127.0.0.1', port=993, security='tls',
                                     username='x', secret='y', auth_mode='xoauth2',
                                     oauth_token_url='http://login.example.com/token')


async def _import_until_done(box: Box, rounds: int = watcher.MAX_ATTEMPTS) -> int:
    """Run the watcher's rounds as it would after each failure (reconnect, import again); how many rounds failed."""
    failed = 0
    for _ in range(rounds):
        try:
            await box.import_now()
            return failed
        except RuntimeError:
            failed += 1
    return failed


async def test_a_batch_with_a_broken_mail_imports_the_good_ones_once_and_lists_the_broken_one(people, box,
                                                                                              monkeypatch):
    """The mails of one fetch go in as one transaction, each mail in a savepoint: a mail that cannot be imported
    (too large: refused and bounced; an error: tried again, then kept) stays out on its own, and every good mail
    around it — a reply behind it included — is imported exactly once."""
    from pulse_live.notify import planner
    from pulse_live.queries import mail_intake as queries
    monkeypatch.setenv('PULSE_MAIL_INTAKE_MAX_BYTES', '20000')
    reset_settings()
    monkeypatch.setattr(planner, 'plan', _fail_on('Poison', planner.plan))
    first_id = '<first-of-batch@acme.demo>'
    await box.deliver(
        mail(subject='Good one', message_id=first_id),
        mail(subject='Good two', sender='Eva <eva@acme.demo>'),
        mail(subject='Too large', attachments=[('big.bin', 'application/octet-stream', b'x' * 30000)]),
        mail(subject='Poison', sender='Tom Baker <tom@globex.demo>'),
        mail(subject='Good three', sender='Eva <eva@acme.demo>'),
        mail(subject='Re: Good one', body='Still broken here.', headers={'In-Reply-To': first_id}))
    assert await _import_until_done(box) == watcher.MAX_ATTEMPTS - 1  # the poison ended two rounds, then was kept
    await box.import_now()  # and once more: nothing twice
    assert [t.title for t in await email_tickets()] == ['Good one', 'Good two', 'Good three']
    first = (await email_tickets())[0]
    assert [e.body for e in await entries(first.id)] == ['Still broken here.']
    assert [r.outcome for r in await imported(box.id)] == ['ticket', 'ticket', 'failed', 'failed', 'ticket', 'reply']
    kept = sorted(await queries.failed_imports(people.users['admin@pulse.demo']), key=lambda k: k.subject)
    assert [k.subject for k in kept] == ['Poison', 'Too large']
    assert 'the process died here' in kept[0].error and 'Too large' in kept[1].error
    async with db.session() as s:
        assert (await s.get(Mailbox, box.id)).last_uid == 6


class _Crash(BaseException):
    """The process dying: nothing below catches it."""


async def test_a_crash_mid_batch_then_a_restart_neither_loses_nor_duplicates_mails(people, box, monkeypatch):
    """A batch commits all of its mails or none: the process dying in the middle of one leaves no ticket, no record
    and the old last_uid; after the restart every mail of the batch is imported exactly once."""
    from pulse_live.services import mail_intake
    monkeypatch.setenv('PULSE_MAIL_INTAKE_BATCH_S', '30')  # the five mails are one batch however slow the machine
    reset_settings()
    real = mail_intake.import_mail
    calls = {'n': 0}

    async def dying(**kwargs):
        calls['n'] += 1
        if calls['n'] == 3:
            raise _Crash()
        return await real(**kwargs)
    monkeypatch.setattr(mail_intake, 'import_mail', dying)
    await box.deliver(*[mail(subject=f'Batch mail {i}') for i in range(5)])
    with pytest.raises(_Crash):
        await box.import_now()
    assert calls['n'] == 3  # two mails were in (uncommitted) when it died
    assert await email_tickets() == [] and await imported(box.id) == []
    async with db.session() as s:
        assert (await s.get(Mailbox, box.id)).last_uid == 0
    monkeypatch.setattr(mail_intake, 'import_mail', real)
    await db.restart()  # a new process: nothing held over
    await box.import_now()
    await box.import_now()
    assert [t.title for t in await email_tickets()] == [f'Batch mail {i}' for i in range(5)]
    assert [r.outcome for r in await imported(box.id)] == ['ticket'] * 5


async def test_a_mail_arriving_during_a_catch_up_is_imported_without_waiting_for_the_next_poll(people, box,
                                                                                               monkeypatch):
    """IDLE announces only what arrives after it started: the watcher looks again after a catch-up that imported
    something, so a mail delivered meanwhile does not wait for the next poll (here a minute away)."""
    from pulse_live.intake.mail import imap
    monkeypatch.setenv('PULSE_MAIL_INTAKE_POLL_S', '120')
    monkeypatch.setenv('PULSE_MAIL_INTAKE_CLAIM_S', '120')
    reset_settings()
    real = imap.Connection.fetch
    delivered: list[bool] = []

    async def deliver_then_fetch(self, uids):  # the server tells of the new mail in its answer to the FETCH
        if not delivered:
            delivered.append(True)
            await box.deliver(mail(subject='During the catch-up'))
            await asyncio.sleep(1)
        return await real(self, uids)
    monkeypatch.setattr(imap.Connection, 'fetch', deliver_then_fetch)
    async with watching(box.id):
        await until(lambda: _checked(box.id))
        await box.deliver(mail(subject='First'))
        found = await _tickets(2)
    assert found is not None and [t.title for t in found] == ['First', 'During the catch-up']


async def test_an_agent_posts_while_a_mail_batch_waits_for_the_file_store(people, monkeypatch):
    """The object store answers slowly while a mail with an attachment comes in: the files are written before the
    batch takes the write lock, so an agent's post goes through meanwhile (it waited for the store behind the
    batch), and the mail is imported once with its attachment when the store answers."""
    from pulse_live import storage
    from pulse_live.services import chatter
    from pulse_live.services.mail_intake import intake_user
    from tests.factories import make_ticket
    ticket = await make_ticket(people)
    anna = people.users['anna@pulse.demo']
    async with db.session() as s:
        box = Mailbox(name='Slow store', host='imap.test', username='u')
        s.add(box)
        await s.commit()
        box_id = box.id
    await intake_user()
    backend, gate, writing = storage.backend(), asyncio.Event(), asyncio.Event()
    real_put = backend.put

    async def slow_put(digest, data):
        writing.set()
        await gate.wait()
        return await real_put(digest, data)
    monkeypatch.setattr(backend, 'put', slow_put)
    raw = mail(subject='Scanner jams', attachments=[('log.txt', 'text/plain', b'paper jam at tray 2\n' * 10)])
    task = asyncio.create_task(watcher._import_batch(box_id, 1, [1], {1: raw}, 0))  # noqa: SLF001
    try:
        await asyncio.wait_for(writing.wait(), 30)
        posted = await asyncio.wait_for(chatter.post_message(actor=anna, ticket_id=ticket.id,
                                                             body='answering meanwhile'), 15)
        assert posted.body == 'answering meanwhile'
        assert not task.done()  # the mail still waits for the store
    finally:
        gate.set()
    assert await asyncio.wait_for(task, 30) == (1, None)
    [made] = await email_tickets()
    assert made.title == 'Scanner jams'
    async with db.session() as s:
        assert (await s.get(Mailbox, box_id)).last_uid == 1


async def test_a_connection_lost_while_idle_starts_ends_the_wait_at_once():
    """Found by CI (the survive-a-crash test, 1 run in ~15): the server went away after IDLE was sent and before its
    "+ idling" came. aioimaplib's IDLE command has no timeout, so the wait never ended: no error on the mailbox, no
    reconnect, no mail imported until the process restarted."""
    from types import SimpleNamespace

    from pulse_live.intake.mail.imap import Connection, ImapError, MailboxSettings
    conn = Connection(MailboxSettings(id=1, name='m', host='127.0.0.1', port=1, security='none', auth='password',
                                      username='u', secret='s', folder='INBOX'), timeout=300)
    started = asyncio.Event()

    async def idle_start(timeout):
        started.set()
        await asyncio.get_running_loop().create_future()  # the acknowledgement that never comes
    conn.client = SimpleNamespace(idle_start=idle_start, idle_done=lambda: None)
    conn.idle_ok = True
    waiting = asyncio.create_task(conn.wait(600))
    await asyncio.wait_for(started.wait(), 10)
    conn.lost.set()  # aioimaplib's connection-lost callback
    with pytest.raises(ImapError, match='went away'):
        await asyncio.wait_for(waiting, 10)


async def test_a_command_in_flight_ends_as_soon_as_the_connection_is_lost():
    """The server goes away while a command (listing new mail, a fetch) waits for its answer: the command ends at
    once with 'went away' — it used to wait out its timeout (30 s, 2 minutes for a fetch), so the mailbox showed no
    error and the reconnect came late (the survive-a-crash test flaked on it)."""
    from pulse_live.intake.mail.imap import Connection, ImapError, MailboxSettings
    conn = Connection(MailboxSettings(id=1, name='m', host='127.0.0.1', port=1, security='none', auth='password',
                                      username='u', secret='s', folder='INBOX'), timeout=300)
    never = asyncio.get_running_loop().create_future()  # an answer that never comes
    command = asyncio.create_task(conn._command(never, 300))  # noqa: SLF001
    await asyncio.sleep(0.05)
    assert not command.done()
    conn.lost.set()  # aioimaplib's connection-lost callback
    with pytest.raises(ImapError, match='went away'):
        await asyncio.wait_for(command, 10)
    assert never.cancelled()
    with pytest.raises(ImapError, match='gone'):  # and no new command starts on a lost connection
        await conn._command(asyncio.sleep(0), 5)  # noqa: SLF001
