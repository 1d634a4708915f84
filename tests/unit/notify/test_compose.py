"""Turning an outbox row into a mail (notify/compose.py): clean headers whatever the title, markdown rendered safely
with a clean plain part, threading headers."""
import sys
import unicodedata
from email.message import EmailMessage

import pytest
from sqlalchemy import select, update

from pulse_live import db
from pulse_live.models import MailOutbox, Notification, ResolutionCode, Ticket
from pulse_live.notify import compose, sender
from pulse_live.services import chatter, tickets, users
from tests.helpers import drain, make_due, outbox

pytestmark = pytest.mark.usefixtures('fresh_presence')  # nobody is online, nobody views


def test_clean_header_neutralises_every_character_the_email_package_would_refuse():
    breaking = [chr(c) for c in range(sys.maxunicode + 1) if not 0xD800 <= c <= 0xDFFF
                and (len(f'a{chr(c)}b'.splitlines()) > 1 or unicodedata.category(chr(c)) in ('Cc', 'Zl', 'Zp'))]
    assert {'\r', '\n', '\x0b', '\x0c', '\x1c', '\x85', '\x9b', '\u2028', '\u2029'} <= set(breaking)
    for ch in breaking:
        assert compose.clean_header(f'Printer{ch}down') == 'Printer down', repr(ch)
    message = EmailMessage()
    message['Subject'] = compose.clean_header('x'.join(breaking))  # one header with every one of them: accepted
    assert len(str(message['Subject']).splitlines()) == 1
    # ordinary text is kept: accents, emoji sequences (zero width joiner), right-to-left scripts
    kept = 'Drucker \u00e9t\u00e9 \U0001F469\u200D\U0001F4BB \u05e9\u05dc\u05d5\u05dd'
    assert compose.clean_header(kept) == kept


async def _store_title(ticket, title: str) -> None:
    """A title written before the services folded titles to one line (older data): the mail must still cope."""
    async with db.session() as s, s.begin():
        await s.execute(update(Ticket).where(Ticket.id == ticket.id).values(title=title))
    ticket.title = title


async def test_poison_titles_go_out_with_a_clean_subject(people, smtp):
    """U+2028, U+2029, NEL and C1 controls in a title once made composing raise, so no mail of the round was ever
    recorded (and all were sent again after each claim expiry)."""
    anna, carl = people.users['anna@pulse.demo'], people.users['carl@acme.demo']
    titles = {'Printer\u2028down': 'Printer down', 'VPN\u2029slow': 'VPN slow', 'Mail\x85bounces': 'Mail bounces',
              'Disk\x9b31mfull': 'Disk 31mfull', 'Normal ticket': 'Normal ticket'}
    created = [await tickets.create_ticket(actor=anna, title=title, customer_id=carl.id) for title in titles]
    for ticket, title in zip(created, titles, strict=True):  # as stored before titles were folded to one line
        await _store_title(ticket, title)
        await chatter.post_message(actor=anna, ticket_id=ticket.id, body=f'news on {ticket.reference}')
    for _ in range(3):  # a few rounds, each after the claims ran out
        await make_due()
        await sender.send_due()
    rows = await outbox()
    assert rows and all(r.status == 'sent' and r.attempts == 1 for r in rows)
    assert set(smtp.per_message_id().values()) == {1}
    subjects = {m['Subject'] for m in smtp.to('daniel@pulse.demo')}
    assert subjects == {f'[{t.reference}] {titles[t.title]}' for t in created}


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


async def test_mail_renders_markdown_safely_with_a_clean_plain_part(people, smtp):
    anna, carl = people.users['anna@pulse.demo'], people.users['carl@acme.demo']
    ticket = await tickets.create_ticket(actor=anna, title='Mailbox full', customer_id=carl.id)
    async with db.session() as s, s.begin():
        await s.execute(MailOutbox.__table__.delete())
    await chatter.post_message(actor=anna, ticket_id=ticket.id, internal=False, body=(
        '**Fixed**: see <script>alert(1)</script> and [the guide](https://example.org/guide) '
        'or [this](javascript:alert(2))\n\n- archive old mail\n- empty *Deleted items*'))
    await drain()
    [mail] = smtp.to('carl@acme.demo')
    html = mail.get_body(('html',)).get_content()
    assert '<strong>Fixed</strong>' in html and '<em>Deleted items</em>' in html
    assert '<li>archive old mail</li>' in html and 'href="https://example.org/guide"' in html
    assert '<script>' not in html and '&lt;script&gt;' in html  # raw HTML is shown as text, never run
    assert 'href="javascript' not in html
    plain = mail.get_body(('plain',)).get_content().replace('\r\n', '\n')
    assert '**' not in plain and '*Deleted' not in plain
    assert 'Fixed: see <script>alert(1)</script> and the guide (https://example.org/guide)' in plain
    assert '  - archive old mail\n  - empty Deleted items' in plain
    async with db.session() as s:
        assert not (await s.execute(select(Notification).where(Notification.user_id == carl.id))).first()


def _build(**values):
    base = {'to_addr': 'carl@acme.demo', 'reference': 'PL-2026-000042', 'title': 'Printer on floor 3 is down',
            'ticket_id': 42, 'kind': 'update', 'message_id': '<m1@pulse-live>',
            'items': [{'text': 'Anna Keller replied', 'lead': 'Anna Keller replied', 'body': 'We are **on it**.'}]}
    return compose.build(**{**base, **values})


def test_every_mail_of_a_ticket_is_in_one_thread_and_other_tickets_in_theirs():
    first, second = _build(message_id='<m1@pulse-live>'), _build(message_id='<m2@pulse-live>')
    other = _build(ticket_id=43, reference='PL-2026-000043', message_id='<m3@pulse-live>')
    assert first['Message-ID'] == '<m1@pulse-live>' and second['Message-ID'] == '<m2@pulse-live>'
    thread = compose.ticket_thread_id(42)
    assert first['In-Reply-To'] == first['References'] == second['In-Reply-To'] == second['References'] == thread
    assert other['In-Reply-To'] == other['References'] == compose.ticket_thread_id(43) != thread
    assert first['X-Pulse-Ticket'] == 'PL-2026-000042' and first['Reply-To'] == first['From']


def test_a_mail_about_the_account_stands_alone():
    mail = compose.build(to_addr='carl@acme.demo', reference='', title='', ticket_id=None, kind='account', items=[],
                         message_id='<a1@pulse-live>', subject='Set your password',
                         text='Open https://desk.example/reset?t=abc\n\nThe link works once.')
    assert mail['In-Reply-To'] is None and mail['References'] is None and mail['X-Pulse-Ticket'] is None
    assert mail['Subject'] == 'Set your password' and mail['Message-ID'] == '<a1@pulse-live>'
    assert '<a href="https://desk.example/reset?t=abc">' in mail.get_body(('html',)).get_content()


def test_the_subject_names_the_ticket_a_mention_or_the_resolution():
    assert _build()['Subject'] == '[PL-2026-000042] Printer on floor 3 is down'
    mention = _build(items=[{'text': 'Anna mentioned you', 'lead': 'Anna Keller', 'body': '@carl look',
                             'why': ['mention'], 'by': 'Anna Keller'}])
    assert mention['Subject'] == '[PL-2026-000042] Anna Keller mentioned you: Printer on floor 3 is down'
    resolved = _build(kind='resolved', resolution='Toner replaced.')
    assert resolved['Subject'] == '[PL-2026-000042] Your request has been resolved: Printer on floor 3 is down'
    plain = resolved.get_body(('plain',)).get_content()
    assert 'Resolution:\nToner replaced.' in plain.replace('\r\n', '\n')


def test_no_value_can_add_a_header():
    evil = 'x\r\nBcc: evil@example.org\nX-Evil: 1'
    mail = _build(to_addr=f'carl@acme.demo{evil}', reference=f'PL-1{evil}', title=f'Hello{evil}',
                  message_id=f'<m1@pulse-live>{evil}')
    headers = mail.as_string().split('\n\n', 1)[0]  # the header block, up to the first empty line
    assert mail['Bcc'] is None and mail['X-Evil'] is None
    assert '\nBcc:' not in headers and '\nX-Evil:' not in headers
    flat = 'x Bcc: evil@example.org X-Evil: 1'  # the text is kept, on one line
    assert mail['Subject'] == f'[PL-1{flat}] Hello{flat}' and mail['X-Pulse-Ticket'] == f'PL-1{flat}'
    assert str(mail['To']).startswith('carl@acme.demox') and str(mail['Message-ID']).startswith('<m1@pulse-live>')


# --- encoded words: a title is written as its text, never decoded on the way out ----------------------------------
# policy.default decodes RFC 2047 encoded words in any value set on a header, and the generator wrote the decoded
# CR LF raw: the auditor's title gave every mail about the ticket the sender's Reply-To and an HTML body of theirs.

AUDITOR_TITLE = ('VPN =?utf-8?q?=0D=0AReply-To:_x@evil.example=0D=0AContent-Type:_text/html=0D=0A=0D=0A'
                 '<b>Session_expired</b><form_action=3D//evil.example><input_name=3Dpw_type=3Dpassword>'
                 '<button>Sign_in</button></form><img_src=3D//evil.example/t>?=')


def _q(text: str) -> str:
    """``text`` as one more layer of Q encoding (what a stranger sends so that the intake's decoding leaves the
    encoded word in the subject)."""
    return ''.join({'=': '=3D', '?': '=3F', '_': '=5F', ' ': '_'}.get(c, c) for c in text)


def _b64(text: str) -> str:
    import base64
    return base64.b64encode(text.encode()).decode()


HOSTILE_TITLES = {
    'auditor': AUDITOR_TITLE,
    'b-encoding': 'Printer =?UTF-8?B?' + _b64('\r\nBcc: x@evil.example\r\nX-Evil: 1\r\n\r\n<form>pw</form>') + '?=',
    'lowercase': 'Mail =?utf-8?b?' + _b64('\nreply-to: x@evil.example\n') + '?= down',
    'q-uppercase-latin1': '=?ISO-8859-1?Q?=0D=0AReply-To:_x@evil.example?= caf\u00e9',
    'inside a word': 'VPN=?utf-8?q?=0A=0DX-Evil:_1?=down',
    'nested': '=?utf-8?q?' + _q('=?utf-8?q?=0D=0AReply-To:_x@evil.example?=') + '?=',
    'several': '=?utf-8?q?a=0D=0AX-Evil:_1?= =?utf-8?q?=0D=0ABcc:_x@evil.example?=',
}
TICKET_HEADERS = {'From', 'To', 'Subject', 'Message-ID', 'Date', 'Reply-To', 'In-Reply-To', 'References',
                  'X-Pulse-Ticket', 'Auto-Submitted', 'X-Auto-Response-Suppress', 'MIME-Version', 'Content-Type'}
ACCOUNT_HEADERS = TICKET_HEADERS - {'Reply-To', 'In-Reply-To', 'References', 'X-Pulse-Ticket'}


def _sent(mail: EmailMessage) -> tuple[EmailMessage, list[bytes]]:
    """The mail as the server receives it (parsed back from its bytes) and its raw header lines."""
    import email
    from email import policy
    raw = mail.as_bytes(policy=policy.SMTP)
    head = raw.split(b'\r\n\r\n', 1)[0]
    return email.message_from_bytes(raw, policy=policy.default), head.split(b'\r\n')


def _assert_only_our_headers(mail: EmailMessage, expected: set[str], subject: str) -> None:
    received, lines = _sent(mail)
    assert set(received.keys()) == expected and len(received.keys()) == len(expected), received.keys()
    for line in lines:  # no CR or LF inside a line: each is a header of ours or the continuation of one
        assert b'\r' not in line and b'\n' not in line
        assert line[:1] in (b' ', b'\t') or line.split(b':', 1)[0].decode() in expected, line
    assert received['Subject'] == subject
    assert '\r' not in received['Subject'] and '\n' not in received['Subject']
    assert received['Reply-To'] in (None, received['From'])
    assert received.get_content_type() == 'multipart/alternative'
    assert [p.get_content_type() for p in received.iter_parts()] == ['text/plain', 'text/html']
    assert 'evil.example' not in received.get_body(('html',)).get_content()


@pytest.mark.parametrize('variant', sorted(HOSTILE_TITLES))
@pytest.mark.parametrize('kind', ['update', 'missed', 'mention', 'resolved', 'closed'])
def test_an_encoded_word_in_a_title_is_written_as_text_in_every_ticket_mail(variant, kind):
    title = HOSTILE_TITLES[variant]
    values: dict = {'title': title, 'kind': kind}
    if kind == 'mention':
        values.update(kind='update', items=[{'text': 'Anna mentioned you', 'lead': 'Anna Keller', 'body': '@carl',
                                             'why': ['mention'], 'by': 'Anna Keller'}])
        subject = f'[PL-2026-000042] Anna Keller mentioned you: {title}'
    elif kind in ('resolved', 'closed'):
        values['resolution'] = 'Toner replaced.'
        subject = f'[PL-2026-000042] {compose.INTROS[kind].rstrip(".")}: {title}'
    else:
        subject = f'[PL-2026-000042] {title}'
    subject = subject[:250]  # subjects are cut at 250 characters (an encoded word cut short is plain text)
    mail = _build(**values)
    assert mail['Subject'] == subject
    _assert_only_our_headers(mail, TICKET_HEADERS, subject)


@pytest.mark.parametrize('variant', sorted(HOSTILE_TITLES))
def test_an_encoded_word_in_a_bounce_subject_is_written_as_text(variant):
    """A stranger's mail the intake refuses is answered "Not delivered: <their subject>" (an account mail)."""
    subject = f'Not delivered: {HOSTILE_TITLES[variant]}'[:250]
    mail = compose.build(to_addr='stranger@outside.example', reference='', title='', ticket_id=None, kind='account',
                         items=[], message_id='<b1@pulse-live>', subject=subject, text='We could not accept it.')
    _assert_only_our_headers(mail, ACCOUNT_HEADERS, subject)


def test_a_double_encoded_subject_read_by_the_intake_goes_out_as_the_text_it_became():
    from pulse_live.services.mail_intake import parse_mail
    raw = (f'From: Stranger <s@outside.example>\r\nTo: support@pulse.local\r\nSubject: =?utf-8?q?{_q(AUDITOR_TITLE)}'
           '?=\r\nMessage-ID: <x1@outside.example>\r\nDate: Sun, 06 Dec 2026 12:00:00 +0000\r\n\r\nhello\r\n')
    parsed = parse_mail(raw.encode())
    assert parsed.subject == AUDITOR_TITLE  # one layer decoded: the title holds the encoded word as text
    mail = _build(title=parsed.subject)
    _assert_only_our_headers(mail, TICKET_HEADERS, f'[PL-2026-000042] {AUDITOR_TITLE}')
    bounce = compose.build(to_addr=parsed.sender, reference='', title='', ticket_id=None, kind='account', items=[],
                           message_id='<b2@pulse-live>', subject=f'Not delivered: {parsed.subject}', text='x')
    _assert_only_our_headers(bounce, ACCOUNT_HEADERS, f'Not delivered: {AUDITOR_TITLE}')


def test_addresses_and_identifiers_holding_an_encoded_word_are_refused_or_written_as_text(monkeypatch):
    from pulse_live.config import reset_settings
    for to_addr in ('=?utf-8?q?=0D=0ABcc:_x@evil.example?=@evil.example',
                    'Carl =?utf-8?q?=0D=0ABcc:_x@evil.example?= <carl@acme.demo>'):
        try:
            mail = _build(to_addr=to_addr)
        except ValueError:
            continue  # no mail at all is as good: the row fails with that message
        _assert_only_our_headers(mail, TICKET_HEADERS, '[PL-2026-000042] Printer on floor 3 is down')
    with pytest.raises(ValueError):
        _build(message_id='<=?utf-8?q?=0D=0AX-Evil:_1?=@pulse-live>')
    monkeypatch.setenv('PULSE_MAIL_FROM', 'Help =?utf-8?q?=0D=0AX-Evil=3A_1?= desk <helpdesk@pulse.local>')
    reset_settings()
    try:
        mail = _build()
        _assert_only_our_headers(mail, TICKET_HEADERS, '[PL-2026-000042] Printer on floor 3 is down')
        received, _ = _sent(mail)
        assert received['From'].addresses[0].display_name == 'Help =?utf-8?q?=0D=0AX-Evil=3A_1?= desk'
        assert received['From'].addresses[0].addr_spec == 'helpdesk@pulse.local'
    finally:
        monkeypatch.undo()
        reset_settings()


async def test_a_customer_s_hostile_title_reaches_no_mailbox_as_headers(people, smtp):
    """End to end: the customer opens the ticket (the new-ticket mail to staff), staff answer (the update to the
    customer), resolve and close it (the mails to the customer): each arrives with our headers only."""
    anna, carl = people.users['anna@pulse.demo'], people.users['carl@acme.demo']
    ticket = await tickets.create_ticket(actor=carl, title=AUDITOR_TITLE, description='see title')
    assert ticket.title == AUDITOR_TITLE
    await chatter.post_message(actor=anna, ticket_id=ticket.id, body='We are on it')
    async with db.session() as s:
        fixed = (await s.execute(select(ResolutionCode.id).where(ResolutionCode.name == 'Fixed'))).scalar_one()
        version = (await s.execute(select(Ticket.version).where(Ticket.id == ticket.id))).scalar_one()
    t = await tickets.change_status(actor=anna, ticket_id=ticket.id, expected_version=version, status='resolved',
                                    resolution_code_id=fixed, resolution_text='Rebooted the VPN gateway')
    await tickets.change_status(actor=anna, ticket_id=ticket.id, expected_version=t.version, status='closed')
    await drain()
    to_customer = smtp.to('carl@acme.demo')
    to_staff = [m for m in smtp.messages if m['To'] != 'carl@acme.demo']
    assert to_staff and len(to_customer) >= 3
    subjects = {m['Subject'] for m in to_customer}
    assert {f'[{ticket.reference}] Your request has been resolved: {AUDITOR_TITLE}'[:250],
            f'[{ticket.reference}] Your request has been closed: {AUDITOR_TITLE}'[:250],
            f'[{ticket.reference}] {AUDITOR_TITLE}'} <= subjects
    for m in smtp.messages:
        assert set(m.keys()) == TICKET_HEADERS and len(m.keys()) == len(TICKET_HEADERS), m.keys()
        assert m['Reply-To'] == m['From'] and m['Subject'].startswith(f'[{ticket.reference}] ')
        assert AUDITOR_TITLE[:100] in m['Subject'] and '\n' not in m['Subject']
        assert 'evil.example' not in m.get_body(('html',)).get_content()
