"""A stranger's mail cannot make its text cost memory or time out of proportion to its size (each case was an attack
on the server through the mail intake): an encoded-word Subject whose parsing needed memory growing with the square
of its words (584 KB → 2.5 GB), and an HTML body of nested quotes that html2text turned into 625 M characters (325 KB
→ 2.5 GB, 7 s, the event loop stalled 1.2 s). Measured here with tracemalloc: the bound is what the test checks."""
from __future__ import annotations

import base64
import tracemalloc

from pulse_live.services import mail_intake

HEAD = (b'From: Eve <eve@evil.test>\r\nTo: support@pulse.demo\r\nMessage-ID: <x1@evil.test>\r\n'
        b'MIME-Version: 1.0\r\n')


def _peak_mb(raw: bytes) -> tuple[mail_intake.ParsedMail, float]:
    tracemalloc.start()
    try:
        parsed = mail_intake.parse_mail(raw)
        return parsed, tracemalloc.get_traced_memory()[1] / 1e6
    finally:
        tracemalloc.stop()


def test_a_subject_of_thousands_of_encoded_words_is_cut_before_it_is_parsed() -> None:
    words = b' '.join(b'=?utf-8?b?' + base64.b64encode(b'A' * 45) + b'?=' for _ in range(8000))
    parsed, peak = _peak_mb(HEAD + b'Subject: ' + words + b'\r\n\r\nbody')
    assert peak < 60, peak  # 2,350 MB before
    assert parsed.subject == ('A' * 400) and parsed.body == 'body'
    assert any('over-long header' in note for note in parsed.notes)


def test_a_hostile_file_name_header_of_a_part_is_cut_too() -> None:
    words = b' '.join(b'=?utf-8?b?' + base64.b64encode(b'B' * 45) + b'?=' for _ in range(6000))
    raw = (HEAD + b'Subject: files\r\nContent-Type: multipart/mixed; boundary="X"\r\n\r\n--X\r\n'
           b'Content-Type: text/plain\r\n\r\nsee attached\r\n--X\r\nContent-Type: application/octet-stream\r\n'
           b'Content-Disposition: attachment; filename="' + words + b'"\r\n\r\nxyz\r\n--X--\r\n')
    parsed, peak = _peak_mb(raw)
    assert peak < 60, peak
    assert [a.data for a in parsed.attachments] == [b'xyz']


def test_ordinary_headers_are_read_as_before() -> None:
    subject = '=?utf-8?q?Gr=C3=BC=C3=9Fe_aus_K=C3=B6ln?='.encode()
    parsed = mail_intake.parse_mail(HEAD + b'Subject: ' + subject + b'\r\nCc: a@x.test, b@x.test\r\n\r\nhello')
    assert parsed.subject == 'Grüße aus Köln' and parsed.cc == ['a@x.test', 'b@x.test'] and parsed.notes == []


def test_deeply_nested_quotes_in_html_are_flattened_not_multiplied() -> None:
    raw = HEAD + b'Subject: hi\r\nContent-Type: text/html; charset=utf-8\r\n\r\n' + b'<blockquote>x' * 25000
    parsed, peak = _peak_mb(raw)
    assert peak < 200, peak  # 2,500 MB before
    assert len(parsed.full_body) <= mail_intake.MAX_BODY_CHARS
    assert parsed.full_body.count('x') == 25000 or 'text cut' in ' '.join(parsed.notes)  # the text is kept


def test_ordinary_quotes_and_lists_keep_their_markdown() -> None:
    html = ('<p>Thanks</p><blockquote>On Monday you wrote:<blockquote>the printer</blockquote></blockquote>'
            '<ul><li>one<ul><li>two</li></ul></li></ul>')
    assert mail_intake.flatten_deep_nesting(html) == html
    assert mail_intake.html_to_text(mail_intake.flatten_deep_nesting(html)) == \
        'Thanks\n\n> On Monday you wrote:\n>\n>> the printer\n\n  * one\n    * two'


def test_nesting_deeper_than_the_limit_is_flattened_evenly() -> None:
    deep = '<blockquote>' * 30 + 'core' + '</blockquote>' * 30 + ' after'
    flat = mail_intake.flatten_deep_nesting(deep, limit=20)
    assert flat.count('<blockquote>') == 20 and flat.count('</blockquote>') == 20 and 'core' in flat
    assert flat.endswith(' after')
