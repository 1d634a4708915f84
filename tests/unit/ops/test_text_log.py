"""The default text log: warnings and worse, the bare message, one line per record — text from outside (a browser's
message, a typed address, a URL) cannot write a line that looks like one of ours."""
from __future__ import annotations

import io
import logging

from pulse_live.ops import logs


def _configured_text(stream: io.StringIO):
    root = logging.getLogger()
    before = (list(root.handlers), root.level)
    logs.configure('text', stream=stream)
    logs.configure('text', stream=stream)  # again (a second app in the same process): still one handler
    return root, before


def test_a_message_with_newlines_is_one_line_and_a_traceback_still_follows() -> None:
    stream = io.StringIO()
    root, before = _configured_text(stream)
    try:
        logger = logging.getLogger('pulse_live.test_text_log')
        logger.warning('refused: %s', 'x\n2026-12-06 06:20:00,000 WARNING pulse_live.security: forged\r\u2028end')
        logger.info('not written: the text log has warnings and worse, as before')
        try:
            raise ValueError('boom')
        except ValueError:
            logger.exception('failed\nhere')
    finally:
        root.handlers, root.level = before
    lines = stream.getvalue().splitlines()
    assert lines[0] == 'refused: x\\n2026-12-06 06:20:00,000 WARNING pulse_live.security: forged\\r\\u2028end'
    assert lines[1] == 'failed\\nhere'
    assert lines[2] == 'Traceback (most recent call last):' and lines[-1] == 'ValueError: boom'
    assert not any('not written' in line for line in lines)


def test_one_line_leaves_ordinary_text_alone() -> None:
    text = 'Lena Fischer <lena@globex.demo> — Grüße, 50% done\ttab'
    assert logs.one_line(text) == text.replace('\t', '\\t')
