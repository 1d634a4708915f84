"""Turn an outbox row into a mail: subject with reference and title (and who mentioned the reader), a clean plain-text
part and an HTML part with each message's markdown rendered safely (``pulse_live/markdown.py``: raw HTML shown as
text), threading headers.
Every header value is cleaned of control and line-breaking characters, so titles and names cannot inject headers
(nor make the email package refuse the header), and is set through ``set_header``, which writes it as that very text:
the email package (policy.default) decodes RFC 2047 encoded words in any value it is given, so a title
``=?utf-8?q?=0D=0AReply-To:...?=`` became raw CR LF, headers and a body of the sender's choosing in every mail
about the ticket."""
from __future__ import annotations

import functools
import html
import re
import textwrap
from email.header import Header
from email.message import EmailMessage
from email.utils import formatdate, parseaddr

from ..config import get_settings
from ..markdown import to_html, to_text

# Unicode categories Cc (C0 and C1 controls: CR, LF, VT, FF, the separators \x1c-\x1e, NEL \x85 …), Zl (U+2028) and
# Zp (U+2029). These are all the characters str.splitlines() breaks on (no Cf character does), which is what the
# email package refuses in a header value with "ValueError: Header values may not contain linefeed or carriage
# return characters" (tests/unit/notify/test_compose.py checks every code point).
_CONTROL = re.compile(r'[\x00-\x1f\x7f-\x9f\u2028\u2029]+')
INTROS = {
    'update': 'There are updates on a ticket you follow:',
    'missed': 'You have unread notifications on this ticket:',
    'resolved': 'Your request has been resolved.',
    'closed': 'Your request has been closed.',
}


def clean_header(value: str, limit: int = 200) -> str:
    value = _CONTROL.sub(' ', value or '').strip()
    return value[:limit]


ADDRESS_HEADERS = frozenset({'from', 'to', 'cc', 'bcc', 'reply-to', 'sender'})
IDENTIFIER_HEADERS = frozenset({'message-id', 'in-reply-to', 'references'})
MAX_LINE = 78  # policy.default's max_line_length: a longer line of a header set raw is refolded, i.e. decoded
ENCODED_WORD = '=?'  # where RFC 2047 (and the email package's parser) may see the start of an encoded word


def set_header(message: EmailMessage, name: str, value: str, limit: int = 200) -> None:
    """Set header ``name`` to ``value`` (cleaned: one line, at most ``limit`` characters), written as that text.

    Setting a string on a policy.default message parses it as a header as received: an encoded word in it
    (``=?charset?q|b?...?=``, anywhere, any case, nested layers one at a time) is decoded, CR LF included, and the
    generator writes the decoded text raw. So text holding ``=?`` is never given to the email package as it is:
    unstructured text (Subject, X- headers) is encoded by us as a whole (``email.header.Header``, folded to lines
    the generator leaves alone), and decodes to exactly the text; an address header keeps its address as it is and
    has its display name encoded the same way; an address or an identifier holding ``=?`` is refused (ValueError:
    the mail is not composed, the row fails with that message) — no real one does."""
    text = clean_header(value, limit)
    if ENCODED_WORD not in text:
        message[name] = text  # nothing for the parser to decode: the text is the header
        return
    key = name.lower()
    if key in IDENTIFIER_HEADERS:
        raise ValueError(f'refusing a {name} header holding an encoded word ({text[:80]!r})')
    if key in ADDRESS_HEADERS:
        display, address = parseaddr(text)
        if not address or ENCODED_WORD in address or not re.fullmatch(r'[^\s<>()",;:]+@[^\s<>()",;:@]+', address):
            raise ValueError(f'refusing a {name} address holding an encoded word ({text[:80]!r})')
        encoded = Header(display, 'utf-8', header_name=name).encode(linesep='\n')
        folded = f'{encoded}\n <{address}>'
    else:
        folded = Header(text, 'utf-8', header_name=name).encode(linesep='\n')
    first, *more = folded.split('\n')
    if len(name) + 2 + len(first) > MAX_LINE or any(len(line) > MAX_LINE for line in more):
        # the generator would refold (parse, so decode, and write again) a longer line: only an address that long
        raise ValueError(f'refusing a {name} header that cannot be written as its text ({text[:80]!r})')
    message.set_raw(name, folded)


def mark_automated(message: EmailMessage) -> None:
    """RFC 3834: a mail a program sent. Vacation responders must not answer it (Auto-Submitted; Exchange reads
    X-Auto-Response-Suppress), so a customer's auto-reply cannot start a loop; the intake also drops auto-replies."""
    message['Auto-Submitted'] = 'auto-generated'
    message['X-Auto-Response-Suppress'] = 'All'


def ticket_thread_id(ticket_id: int) -> str:
    return f'<ticket-{ticket_id}@pulse-live>'


def _account_mail(*, to_addr: str, subject: str, text: str, message_id: str) -> EmailMessage:
    """A mail about the account itself (password links): no ticket, the outbox row has subject and text."""
    settings = get_settings()
    message = EmailMessage()
    set_header(message, 'From', settings.mail_from)
    set_header(message, 'To', to_addr, 254)
    set_header(message, 'Subject', subject, 250)  # a bounce's: "Not delivered: <the stranger's subject>"
    set_header(message, 'Message-ID', message_id)
    message['Date'] = formatdate(localtime=False)
    mark_automated(message)
    message.set_content(text)
    paragraphs = ''.join(f'<p>{html.escape(p).replace(chr(10), "<br>")}</p>' for p in text.split('\n\n'))
    message.add_alternative(_LINK.sub(lambda m: f'<a href="{m.group(0)}">{m.group(0)}</a>', paragraphs),
                            subtype='html')
    return message


_LINK = re.compile(r'https?://[^\s<>"]+')


# a message's text and HTML, once per message however many recipients' mails carry it (the sender composes a
# thousand mails of the same ten messages: rendering each per mail cost ~1 s of CPU per mail for hostile markdown)
@functools.lru_cache(maxsize=256)
def _text_of(body: str) -> str:
    return to_text(body)


@functools.lru_cache(maxsize=256)
def _html_of(body: str) -> str:
    return to_html(body)


def _item_text(item: dict) -> str:
    """One item of the plain-text part: the line, or for a message its lead and the message as clean text."""
    body = item.get('body')
    if not body or 'lead' not in item:
        return f'- {item["text"]}'
    text = _text_of(body) or item['text']
    if '\n' not in text:
        return f'- {item["lead"]}: {text}'
    return f'- {item["lead"]}:\n' + textwrap.indent(text, '  ')


def _item_html(item: dict) -> str:
    """One item of the HTML part: a message's markdown rendered safely (raw HTML shown as text), else the line."""
    body = item.get('body')
    if not body or 'lead' not in item:
        return f'<li>{html.escape(item["text"])}</li>'
    return (f'<li><p style="margin:0"><b>{html.escape(item["lead"])}:</b></p>'
            f'<div style="margin:0.25em 0 0.75em 0">{_html_of(body)}</div></li>')


def _mention_subject(items: list[dict]) -> str:
    """"Anna Keller mentioned you" when the mail tells of a mention (the first one), else empty."""
    for why in ('mention', 'team'):
        for item in items:
            if why in (item.get('why') or []) and item.get('by'):
                return f'{item["by"]} mentioned {"you" if why == "mention" else "@Team"}'
    return ''


def build(*, to_addr: str, reference: str, title: str, ticket_id: int | None, kind: str, items: list[dict],
          message_id: str, resolution: str = '', subject: str = '', text: str = '') -> EmailMessage:
    if kind == 'account':
        return _account_mail(to_addr=to_addr, subject=subject, text=text, message_id=message_id)
    settings = get_settings()
    link = f'{settings.base_url.rstrip("/")}/tickets/{reference}'
    subject = clean_header(f'[{reference}] {title}', 250)
    mentioned = _mention_subject(items)
    if kind in ('resolved', 'closed'):
        subject = clean_header(f'[{reference}] {INTROS[kind].rstrip(".")}: {title}', 250)
    elif mentioned:
        subject = clean_header(f'[{reference}] {mentioned}: {title}', 250)
    intro = f'{mentioned} in {reference}.' if mentioned else INTROS.get(kind, INTROS['update'])
    lines = [intro, '']
    lines += [_item_text(item) for item in items]
    if resolution:
        lines += ['', 'Resolution:', to_text(resolution) or resolution]
    lines += ['', f'Open the ticket: {link}', '', f'Reply to this mail to answer on {reference}.']
    text = '\n'.join(lines)
    html_items = ''.join(_item_html(item) for item in items)
    html_body = (f'<p>{html.escape(intro)}</p><ul>{html_items}</ul>'
                 + (f'<p><b>Resolution:</b></p>{to_html(resolution)}' if resolution else '')
                 + f'<p><a href="{html.escape(link)}">Open {html.escape(reference)}</a></p>')
    message = EmailMessage()
    set_header(message, 'From', settings.mail_from)
    set_header(message, 'To', to_addr, 254)
    set_header(message, 'Subject', subject, 250)
    set_header(message, 'Message-ID', message_id)
    message['Date'] = formatdate(localtime=False)
    set_header(message, 'Reply-To', settings.mail_from)
    if ticket_id is not None:
        set_header(message, 'In-Reply-To', ticket_thread_id(ticket_id))
        set_header(message, 'References', ticket_thread_id(ticket_id))
    set_header(message, 'X-Pulse-Ticket', reference)
    mark_automated(message)
    message.set_content(text)
    message.add_alternative(html_body, subtype='html')
    return message
