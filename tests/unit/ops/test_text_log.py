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


def test_engine_io_errors_a_stranger_causes_are_one_line_each_and_bounded() -> None:
    """engine.io logged a traceback per malformed polling request through a handler of its own (1.2 MB in 5 s)."""
    import engineio.base_server  # noqa: F401  (creates its logger with its own handler, as at the app's start)
    stream = io.StringIO()
    eio = logging.getLogger('engineio.server')
    saved = (list(eio.handlers), eio.propagate, list(eio.filters))
    eio.addHandler(logging.StreamHandler(io.StringIO()))  # what engine.io does when nothing else is configured
    eio.filters = []  # a fresh window (another test's app may have configured it already)
    root, before = _configured_text(stream)
    try:
        for _ in range(100):
            try:
                raise ValueError('Too many packets in payload\nforged line')
            except ValueError:
                eio.exception('post request handler error')
    finally:
        root.handlers, root.level = before
        eio.handlers, eio.propagate, eio.filters = saved
    lines = stream.getvalue().splitlines()
    assert len(lines) == logs.TransportNoise.PER_MINUTE
    assert lines[0] == 'post request handler error (ValueError: Too many packets in payload\\nforged line)'
    assert not [line for line in lines if 'Traceback' in line]
