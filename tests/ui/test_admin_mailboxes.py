"""The admin page for e-mail in (/admin/mailboxes): connect a mailbox against a real dovecot, test it, see and
discard a mail that could not be imported; other roles get nothing of it."""
from __future__ import annotations

import pytest
from nicegui import ui
from nicegui.testing import User
from sqlalchemy import select

from pulse_live import db
from pulse_live.models import FailedImport, Mailbox
from pulse_live.services import mail_intake, mailboxes
from tests.dovecot import Dovecot, dovecot_available
from tests.ui.conftest import login


@pytest.fixture
def imap_server():
    if not dovecot_available():
        pytest.skip('dovecot is not installed (scripts/find-dovecot.sh installs it)')
    server = Dovecot().start()
    yield server
    server.close()


async def test_admin_connects_and_tests_a_mailbox(user: User, people, imap_server) -> None:
    await login(user, 'admin@pulse.demo')
    await user.open('/admin/mailboxes')
    await user.should_see('Nothing waiting: every mail was imported.')
    user.find(marker='new-mailbox').click()
    await user.should_see(marker='box-name')
    user.find(marker='box-save').click()  # nothing filled in: refused, the dialog stays
    await user.should_see('Name is required.')
    user.find(marker='box-name').type('Support')
    user.find(marker='box-host').type(imap_server.host)
    user.find(marker='box-security').elements.pop().value = 'none'
    user.find(marker='box-port').elements.pop().value = imap_server.port
    user.find(marker='box-user').type('helpdesk')
    user.find(marker='box-secret').type('secret')
    user.find(marker='box-save').click()
    await user.should_see('Mailbox saved', retries=100)
    async with db.session() as s:
        box = (await s.execute(select(Mailbox).where(Mailbox.name == 'Support'))).scalar_one()
    assert (box.host, box.port, box.security, box.username) == (imap_server.host, imap_server.port, 'none',
                                                                'helpdesk')
    assert 'secret' not in box.secret_encrypted
    await user.should_see(kind=ui.table, marker='mailbox-table')
    assert user.find(marker='mailbox-table').elements.pop().rows[0]['name'] == 'Support'
    table = user.find(marker='mailbox-table').elements.pop()
    await _emit(table, 'test', box.id)
    await user.should_see('Connected: INBOX has 0 mail(s)', retries=100)


async def _emit(element, event: str, arg) -> None:
    """What the row button does in the browser: emit the event with the row id."""
    from nicegui.events import GenericEventArguments
    for listener in list(element._event_listeners.values()):
        if listener.type == event:
            result = listener.handler(GenericEventArguments(sender=element, client=element.client, args=arg))
            if hasattr(result, '__await__'):
                await result


async def test_a_mail_that_could_not_be_imported_is_shown_and_can_be_discarded(user: User, people,
                                                                             monkeypatch) -> None:
    from pulse_live.config import reset_settings
    admin = people.users['admin@pulse.demo']
    box = await mailboxes.save_mailbox(actor=admin, name='Support', host='127.0.0.1', port=1, security='none',
                                       username='helpdesk', secret='secret', active=False)
    monkeypatch.setenv('PULSE_MAIL_INTAKE_MAX_BYTES', '1024')
    reset_settings()
    raw = (b'From: Carl Jensen <carl@acme.demo>\r\nTo: support@pulse.demo\r\nSubject: Big logs\r\n'
           b'Message-ID: <big@acme.demo>\r\n\r\n' + b'x' * 4000 + b'\r\n')
    outcome = await mail_intake.import_mail(mailbox_id=box.id, uidvalidity=1, uid=1, raw=raw)
    assert outcome.outcome == 'failed'
    await login(user, 'admin@pulse.demo')
    await user.open('/admin/mailboxes')
    await user.should_see(kind=ui.table, marker='failed-table')
    [row] = user.find(marker='failed-table').elements.pop().rows
    assert (row['sender'], row['subject']) == ('carl@acme.demo', 'Big logs') and 'Too large' in row['error']
    # the admin downloads the mail as it came (the Original button's address), never shown inline
    response = await user.http_client.get(f'/admin/mail-imports/{row["id"]}/original')
    assert response.status_code == 200 and response.content == raw
    assert response.headers['content-disposition'].startswith('attachment')
    assert response.headers['content-type'] == 'application/octet-stream'
    await _emit(user.find(marker='failed-table').elements.pop(), 'discard', row['id'])
    await user.should_see('Discarded')
    await user.should_see('Nothing waiting: every mail was imported.')
    async with db.session() as s:
        assert (await s.execute(select(FailedImport.status))).scalar_one() == 'discarded'


async def test_only_admins_get_the_page(user: User, people) -> None:
    await login(user, 'anna@pulse.demo')
    await user.open('/admin/mailboxes')
    await user.should_not_see('Connect a mailbox')


async def test_only_admins_download_a_mail_that_was_not_imported(create_user, people) -> None:
    admin = people.users['admin@pulse.demo']
    box = await mailboxes.save_mailbox(actor=admin, name='Support', host='127.0.0.1', port=1, security='none',
                                       username='helpdesk', secret='secret', active=False)
    await mail_intake.keep_failed(mailbox_id=box.id, uidvalidity=1, uid=7, raw=b'Subject: kept\r\n\r\nbody\r\n',
                                  error='boom')
    async with db.session() as s:
        failed_id = (await s.execute(select(FailedImport.id))).scalar_one()
    for email in ('anna@pulse.demo', 'carl@acme.demo'):  # an agent and a customer: as if there were nothing
        other = create_user()
        await login(other, email)
        response = await other.http_client.get(f'/admin/mail-imports/{failed_id}/original')
        assert response.status_code == 404 and b'kept' not in response.content
    anonymous = create_user()
    response = await anonymous.http_client.get(f'/admin/mail-imports/{failed_id}/original')
    assert b'body' not in response.content


@pytest.fixture(scope='module')
def s3_endpoint(tmp_path_factory):
    from tests import s3
    with s3.moto_server(tmp_path_factory.mktemp('moto')) as endpoint:
        yield endpoint


@pytest.fixture(params=['local', 's3'])
def store_backend(request, monkeypatch) -> str:
    """The attachment store on either backend (as tests/unit/test_storage_backends.py switches it)."""
    from pulse_live import storage
    from tests import s3
    if request.param == 's3':
        s3.use_fresh_bucket(request.getfixturevalue('s3_endpoint'), monkeypatch)
    assert storage.backend().name == request.param
    return request.param


async def test_the_kept_original_downloads_from_either_store(create_user, people, store_backend) -> None:
    """On object storage the kept mail is no file on the local disk: the download streams it from the store (it
    answered 404 "The file is missing on the server" there)."""
    from pulse_live import storage
    admin = people.users['admin@pulse.demo']
    box = await mailboxes.save_mailbox(actor=admin, name='Support', host='127.0.0.1', port=1, security='none',
                                       username='helpdesk', secret='secret', active=False)
    raw = (b'From: Carl Jensen <carl@acme.demo>\r\nSubject: kept\r\n\r\nbody \xff\xfe\x00 '
           + bytes(range(256)) * 600 + b'\r\n')
    await mail_intake.keep_failed(mailbox_id=box.id, uidvalidity=1, uid=9, raw=raw, error='boom')
    async with db.session() as s:
        kept = (await s.execute(select(FailedImport))).scalar_one()
    assert storage.path_of(kept.sha256).exists() == (store_backend == 'local')
    for email in ('anna@pulse.demo', 'carl@acme.demo'):  # an agent and a customer: as if there were nothing
        other = create_user()
        await login(other, email)
        response = await other.http_client.get(f'/admin/mail-imports/{kept.id}/original')
        assert response.status_code == 404 and b'kept' not in response.content
    admin_user = create_user()
    await login(admin_user, 'admin@pulse.demo')
    response = await admin_user.http_client.get(f'/admin/mail-imports/{kept.id}/original')
    assert response.status_code == 200 and response.content == raw
    assert response.headers['content-disposition'] == f"attachment; filename*=UTF-8''not-imported-{kept.id}.eml"
    assert response.headers['content-type'] == 'application/octet-stream'
    assert response.headers['x-content-type-options'] == 'nosniff'
    assert response.headers['content-length'] == str(len(raw))
