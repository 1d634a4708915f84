"""A mail over PULSE_MAIL_INTAKE_MAX_BYTES is refused from its header: its body is never downloaded nor parsed (a
4.8 MB HTML mail cost 13.6 s of CPU to read before it was refused), yet it is recorded, kept for the admin, bounced
and marked done exactly as an oversized mail was before — and a retry fetches it from the server once it fits."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from pulse_live import db, storage
from pulse_live.config import reset_settings
from pulse_live.intake.mail import imap
from pulse_live.models import FailedImport, ImportedMail, Mailbox, MailOutbox
from pulse_live.services import mail_intake

from .conftest import email_tickets, imported, mail

LIMIT = 64 * 1024


@pytest.fixture
def spy(monkeypatch):
    """What the intake asked the server for (whole mails, headers: UIDs and bytes) and every mail it parsed."""
    seen = {'fetch': [], 'fetch_bytes': 0, 'headers': [], 'parsed': []}
    fetch, fetch_headers, parse = imap.Connection.fetch, imap.Connection.fetch_headers, mail_intake.parse_mail

    async def counting_fetch(self, uids):
        seen['fetch'].extend(uids)
        mails = await fetch(self, uids)
        seen['fetch_bytes'] += sum(len(m) for m in mails.values())
        return mails

    async def counting_headers(self, uids):
        seen['headers'].extend(uids)
        return await fetch_headers(self, uids)

    def counting_parse(raw, **kwargs):
        seen['parsed'].append(len(raw))
        return parse(raw, **kwargs)
    monkeypatch.setattr(imap.Connection, 'fetch', counting_fetch)
    monkeypatch.setattr(imap.Connection, 'fetch_headers', counting_headers)
    monkeypatch.setattr(mail_intake, 'parse_mail', counting_parse)
    return seen


def _limit(monkeypatch, value: int) -> None:
    monkeypatch.setenv('PULSE_MAIL_INTAKE_MAX_BYTES', str(value))
    reset_settings()


async def test_a_mail_over_the_limit_is_refused_from_its_header_and_never_fetched_whole(people, box, spy,
                                                                                      monkeypatch):
    _limit(monkeypatch, LIMIT)
    html = '<html><body>' + '<p>Hello <b>team</b>, see the log below.</p>' * 8000 + '</body></html>'  # ~350 KB
    big = mail(subject='Huge HTML', body='see the HTML', html=html)
    assert len(big) > 4 * LIMIT
    await box.deliver(mail(subject='Small one'), big, mail(subject='Small two', sender='Eva <eva@acme.demo>'))
    await box.import_now()

    assert spy['fetch'] == [1, 3] and spy['headers'] == [2]  # the big one's body was never asked for
    assert spy['fetch_bytes'] < LIMIT and max(spy['parsed']) < LIMIT  # nor read
    assert [t.title for t in await email_tickets()] == ['Small one', 'Small two']
    assert [(r.uid, r.outcome, r.subject) for r in await imported(box.id)] == [
        (1, 'ticket', 'Small one'), (2, 'failed', 'Huge HTML'), (3, 'ticket', 'Small two')]
    async with db.session() as s:
        [kept] = (await s.execute(select(FailedImport))).scalars()
        [bounce] = (await s.execute(select(MailOutbox).where(MailOutbox.subject.like('Not delivered%')))).scalars()
        assert (await s.get(Mailbox, box.id)).last_uid == 3
    # recorded as an oversized mail always was: the sender, the subject, its size, "Too large", a polite bounce
    assert (kept.sender, kept.subject) == ('carl@acme.demo', 'Huge HTML')
    assert kept.size >= len(big)  # its size on the server (RFC822.SIZE: CRLF line ends)
    assert kept.error.startswith('Too large: the mail is ') and 'Too large to fetch' in kept.error
    assert bounce.to_addr == 'carl@acme.demo' and 'could not accept' in bounce.body_text
    assert 'Huge HTML' in bounce.subject
    header = await storage.read(kept.sha256)  # what is kept: the header only
    assert b'Subject: Huge HTML' in header and b'Hello' not in header and len(header) < 4096

    await box.import_now()  # marked done: not fetched again, not bounced again
    assert spy['fetch'] == [1, 3] and spy['headers'] == [2]
    async with db.session() as s:
        assert len((await s.execute(select(MailOutbox).where(MailOutbox.subject.like('Not delivered%'))))
                   .scalars().all()) == 1
        assert len((await s.execute(select(ImportedMail))).scalars().all()) == 3

    # a retry while it is still too large: refused again without fetching it
    admin = people.users['admin@pulse.demo']
    again = await mail_intake.retry_failed(actor=admin, failed_id=kept.id)
    assert again.outcome == 'failed' and again.detail.startswith('Too large')
    assert spy['fetch'] == [1, 3]
    async with db.session() as s:
        row = await s.get(FailedImport, kept.id)
        assert row.status == 'open' and row.error.startswith('Retried: Too large')
    # the limit raised: the retry fetches it from the server and it becomes a ticket, its whole original kept
    _limit(monkeypatch, 10 * 1024 * 1024)
    done = await mail_intake.retry_failed(actor=admin, failed_id=kept.id)
    assert done.outcome == 'ticket' and spy['fetch'] == [1, 3, 2]
    [ticket] = [t for t in await email_tickets() if t.title == 'Huge HTML']
    assert 'Hello **team**' in ticket.description or 'see the HTML' in ticket.description
    async with db.session() as s:
        assert (await s.get(FailedImport, kept.id)).status == 'retried'
        assert [r.outcome for r in await imported(box.id)] == ['ticket', 'ticket', 'ticket']


async def test_an_oversized_auto_reply_is_recorded_as_a_loop_from_its_header(people, box, spy, monkeypatch):
    """The header decides what it did before: an auto-reply over the limit is a loop, neither kept nor bounced."""
    _limit(monkeypatch, LIMIT)
    await box.deliver(mail(subject='Out of office', headers={'Auto-Submitted': 'auto-replied'},
                           attachments=[('big.bin', 'application/octet-stream', b'x' * (2 * LIMIT))]))
    await box.import_now()
    assert spy['fetch'] == [] and spy['headers'] == [1]
    assert [r.outcome for r in await imported(box.id)] == ['loop']
    async with db.session() as s:
        assert (await s.execute(select(FailedImport))).first() is None
        assert (await s.execute(select(MailOutbox))).first() is None


def test_a_mail_over_the_limit_counts_as_its_header_in_a_fetch_batch():
    big = 20 * 1024 * 1024
    assert imap.batches([(1, 10), (2, big), (3, 10)]) == [[1], [2], [3]]
    assert imap.batches([(1, 10), (2, big), (3, 10)], max_bytes=LIMIT) == [[1, 2, 3]]
