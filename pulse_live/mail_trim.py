"""Trimming quoted history and signatures off a mail body, without ever stopping the server.

``mail-parser-reply`` finds quote headers ("On … wrote:", "Am … schrieb:", …) and signatures with regular expressions
whose time grows with the square of a line's length when a line starts like a header and never ends like one: a
40 KB line ``On a a a …`` took 25 s. A regular expression holds the interpreter lock for its whole run, so a thread
does not help — every page, socket and API call of the process would wait. So:

* a body whose size × longest line is small (every ordinary reply) is trimmed at once, in the caller's thread
  (at most ~20 ms however its lines look);
* a bigger one is trimmed in a worker process (``python -m pulse_live.mail_trim``), given ``TIMEOUT_S``; when it runs
  over, the worker is killed (a new one starts with the next mail) and the body is kept whole.

This module imports nothing of the app, so the worker process starts quickly and small.
"""
from __future__ import annotations

import asyncio
import logging
import sys

log = logging.getLogger(__name__)

LANGUAGES = ['en', 'de', 'fr', 'it', 'nl', 'es']
# size × longest line below which the trimmer's worst case stays within ~20 ms (measured: a 2,000-character
# line of "On a a …" alone costs ~80 ms, i.e. ~2e-8 ms per character squared)
INLINE_BUDGET = 1_000_000
TIMEOUT_S = 3.0

_state: dict = {'loop': None, 'lock': None, 'worker': None}


def trim_reply(text: str) -> str:
    """The new part of a mail: quoted history and signature removed; the text itself when the trimmer finds nothing
    left (pure and possibly slow on hostile text: call ``trim`` instead)."""
    from mailparser_reply import EmailReplyParser
    try:
        replies = EmailReplyParser(languages=LANGUAGES).read(text).replies
        reply = replies[0].body if replies else ''
    except Exception:  # noqa: BLE001 — a trimmer failure must not lose the mail: keep everything
        log.warning('could not trim a mail body; kept whole', exc_info=True)
        return text.strip()
    reply = (reply or '').strip()
    return reply or text.strip()


def is_cheap(text: str) -> bool:
    return len(text) * max((len(line) for line in text.split('\n')), default=0) <= INLINE_BUDGET


def trim_inline(text: str) -> str | None:
    """``trim_reply`` when it is cheap for this text, else None (then ``trim`` it: in the worker)."""
    return trim_reply(text) if is_cheap(text) else None


def _frame(text: str) -> bytes:
    data = text.encode('utf-8', 'surrogatepass')
    return len(data).to_bytes(8, 'big') + data


async def _worker() -> asyncio.subprocess.Process:
    """The worker process: ``python -m pulse_live.mail_trim``, one text in and one out at a time over its pipes
    (a process of its own, not a multiprocessing child: those re-import the server's main module)."""
    worker = _state['worker']
    if worker is None or worker.returncode is not None:
        worker = _state['worker'] = await asyncio.create_subprocess_exec(
            sys.executable, '-m', 'pulse_live.mail_trim', stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE)
    return worker


async def _kill_worker() -> None:
    worker, _state['worker'] = _state['worker'], None
    if worker is not None and worker.returncode is None:
        worker.kill()
        await worker.wait()


def _lock() -> asyncio.Lock:
    loop = asyncio.get_running_loop()
    if _state['loop'] is not loop:  # a new event loop (tests): a new lock; the old loop's worker is left to exit
        if _state['worker'] is not None and _state['worker'].returncode is None:
            _state['worker'].kill()
        _state.update(loop=loop, lock=asyncio.Lock(), worker=None)
    return _state['lock']


async def trim(text: str, *, timeout_s: float | None = None) -> tuple[str, bool]:
    """(the trimmed text, True) — or (the text whole, False) when trimming it ran over the time allowed."""
    done = trim_inline(text)
    if done is not None:
        return done, True
    async with _lock():
        try:
            async with asyncio.timeout(timeout_s if timeout_s is not None else TIMEOUT_S):
                worker = await _worker()
                assert worker.stdin is not None and worker.stdout is not None
                worker.stdin.write(_frame(text))
                await worker.stdin.drain()
                size = int.from_bytes(await worker.stdout.readexactly(8), 'big')
                return (await worker.stdout.readexactly(size)).decode('utf-8', 'surrogatepass'), True
        except (TimeoutError, OSError, asyncio.IncompleteReadError) as e:
            log.warning('trimming a mail body of %d characters %s; kept whole', len(text),
                        'ran over its time' if isinstance(e, TimeoutError) else f'failed ({e!r})')
            await _kill_worker()
            return text.strip(), False


async def shutdown() -> None:
    """Stop the worker process (at the end of the process, or of a test)."""
    await _kill_worker()


def _serve() -> None:
    """The worker's loop: a length-prefixed UTF-8 text in on stdin, its trimmed form out on stdout, until EOF."""
    source, sink = sys.stdin.buffer, sys.stdout.buffer
    while len(head := source.read(8)) == 8:
        text = source.read(int.from_bytes(head, 'big')).decode('utf-8', 'surrogatepass')
        sink.write(_frame(trim_reply(text)))
        sink.flush()


if __name__ == '__main__':
    _serve()
