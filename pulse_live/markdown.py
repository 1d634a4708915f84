"""Safe markdown, one renderer for the chatter on screen and for mail: markdown-it (CommonMark, tables,
strikethrough) with raw HTML disabled, so HTML in a message is shown as text and never executed; markdown-it's
link check drops ``javascript:``/``vbscript:``/``data:`` links. An image from another site (a tracking pixel in a
mail) or any address that is not a file of ours is shown as a link to it, never loaded; files of this site
(``/attachments/1``, ``/help/files/3``) and inline pictures stay images. ``to_text`` gives the clean plain text of
the same markdown (no ``**``, links as "text (address)", lists kept) for mail's plain part and one-line summaries.

No NiceGUI here: ``components/markdown.py`` wraps ``to_html`` in a ``ui.html`` element.
"""
from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import re
import weakref
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import urlsplit

from markdown_it import MarkdownIt
from markdown_it.common.utils import escapeHtml
from markdown_it.renderer import RendererHTML
from markdown_it.token import Token
from markdown_it.utils import OptionsDict

log = logging.getLogger(__name__)
_md = MarkdownIt('commonmark', {'html': False, 'linkify': False, 'breaks': True}).enable(['table', 'strikethrough'])
MENTION = re.compile(r'(?<![\w@/])@([A-Za-z0-9][A-Za-z0-9_.-]{0,59})')


def _link_open(renderer: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: Any) -> str:
    tokens[idx].attrSet('target', '_blank')
    tokens[idx].attrSet('rel', 'noopener noreferrer nofollow')
    return renderer.renderToken(tokens, idx, options, env)


def _text(_renderer: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: Any) -> str:
    """Text nodes only: a mention is highlighted where it is read, never inside an attribute (a link's address, an
    image's description) or code, where a ``<span>`` would break the markup."""
    content = escapeHtml(tokens[idx].content)
    known = env.get('mentions') if isinstance(env, dict) else None
    if known and '@' in content:
        content = MENTION.sub(lambda m: f'<span class="mention">@{m.group(1)}</span>'
                              if m.group(1).lower().rstrip('.-') in known else m.group(0), content)
    return content


_IGNORED_IN_URLS = re.compile(r'[\x00-\x20\x7f]')  # browsers drop tabs and line breaks inside an address


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()


def _own_origin() -> tuple[str, str] | None:
    try:
        from .config import get_settings
        return _origin(get_settings().base_url.strip())
    except Exception:  # pylint: disable=broad-except  # no settings (a script, a test): only relative is ours
        return None


# The files of this site a message or an article shows as pictures: an attachment and a help-centre file, by id, as
# the composer and the article editor write them. Any other address of this site is a link, never fetched by the
# reader's browser on its own: 550 images of ``/tickets/PL-…?n`` in one customer message made every agent who opened
# the ticket build 550 ticket pages on the server (17 s of CPU, +300 MB).
_OWN_FILE = re.compile(r'/(?:attachments|help/files)/[0-9]{1,12}')


def loads_as_image(src: str) -> bool:
    """Whether an image address is shown as a picture: an inline picture (``data:image/…``, which markdown-it lets
    through) or a file of this site (``/attachments/1``, ``/help/files/3``, relative or absolute to our own address,
    ``base_url``), without a query. Anything else — another site (``https://tracker.example/x.png``,
    ``//tracker.example``, ``/\\tracker.example``) or another address of ours (a page) — becomes a link."""
    url = _IGNORED_IN_URLS.sub('', src).replace('\\', '/')
    lower = url.lower()
    if lower.startswith('data:image/'):
        return True
    parts = urlsplit(url)
    if parts.scheme or parts.netloc or lower.startswith('//'):
        own = _own_origin()
        if own is None or own[1] == '' or _origin(url) != own:
            return False
    return not parts.query and _OWN_FILE.fullmatch(parts.path) is not None


_LINK_DEPTH = 'pulse_link_depth'


def _mark_link_depths(tokens: Sequence[Token]) -> None:
    """Note on every image of an inline run how many links are open before it, in one pass over the run (asking
    each image to count the tokens before it made a paragraph of many images quadratic)."""
    depth = 0
    for t in tokens:
        if t.type == 'link_open':
            depth += 1
        elif t.type == 'link_close':
            depth -= 1
        elif t.type == 'image':
            t.meta[_LINK_DEPTH] = depth


def _image(renderer: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: Any) -> str:
    """A file of this site as an image; any other address as a plain link to it, never fetched by the reader's
    browser (a tracking pixel tells the sender who read the message, when and from where; a page of ours costs a
    page build per image)."""
    token = tokens[idx]
    src = str(token.attrGet('src') or '')
    if loads_as_image(src):
        return renderer.image(tokens, idx, options, env)
    label = escapeHtml(renderer.renderInlineAsText(token.children or [], options, env) or src)
    if _LINK_DEPTH not in token.meta:
        _mark_link_depths(tokens)
    if token.meta[_LINK_DEPTH] > 0:  # inside a link (``[![logo](https://…)](https://…)``): its text, no link in a link
        return label
    title = str(token.attrGet('title') or '')
    return (f'<a href="{escapeHtml(src)}" target="_blank" rel="noopener noreferrer nofollow"'
            + (f' title="{escapeHtml(title)}"' if title else '') + f'>{label}</a>')


_md.add_render_rule('link_open', _link_open)  # markdown-it binds a rule to the renderer: the first argument
_md.add_render_rule('text', _text)
_md.add_render_rule('image', _image)


def render(text: str, mentions: list[str] | tuple[str, ...] | None = None) -> str:
    """The HTML of a message, rendered here and now (pure; may take a while for a long hostile text)."""
    return _md.render(text or '', {'mentions': {m.lower() for m in mentions or []}})


# --- long texts are rendered off the event loop ---------------------------------------------------------------------
# markdown-it is pure Python: 1–13 µs per character (a message of 20,000 "![" 260 ms), all of it holding the
# interpreter. A page that opened a ticket with 30 such customer messages stopped every page of the process for 5.5 s.
# So a text longer than INLINE_CHARS (≤ ~13 ms however it looks) is rendered ahead by ``prepare`` in a worker process
# (one, started on first need), RENDER_TIMEOUT_S each; one that runs over is shown as plain text (escaped, its lines
# kept) and the worker is replaced. ``to_html`` answers prepared texts from a bounded cache; a long text nobody
# prepared is rendered where it is asked for (mail composing runs in a thread; the knowledge base renders long
# articles in a thread).
INLINE_CHARS = 1000
RENDER_TIMEOUT_S = 2.0
PREPARED_KEPT = 512
_prepared: OrderedDict[tuple[str, tuple[str, ...]], str] = OrderedDict()
WORKER_START_S = 60.0
_pool: dict[str, Any] = {'executor': None, 'warm': False}
_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = weakref.WeakKeyDictionary()
stats = {'inline': 0, 'worker': 0, 'plain': 0}  # for tests and benchmarks


def _key(text: str, mentions: list[str] | tuple[str, ...] | None) -> tuple[str, tuple[str, ...]]:
    return text or '', tuple(mentions or ())


def to_html(text: str, mentions: list[str] | None = None) -> str:
    """The HTML of a message; stored mentions (handles, ``Team``) are highlighted in its text."""
    if len(text or '') > INLINE_CHARS:
        known = _prepared.get(_key(text, mentions))
        if known is not None:
            _prepared.move_to_end(_key(text, mentions))
            return known
    stats['inline'] += 1
    return render(text, mentions)


def plain_html(text: str) -> str:
    """A text shown as it was typed, nothing interpreted: paragraphs, line breaks kept, everything escaped."""
    paragraphs = [p for p in re.split(r'\n\s*\n', (text or '').strip()) if p.strip()]
    return ''.join(f'<p>{escapeHtml(p).replace(chr(10), "<br>")}</p>\n' for p in paragraphs)


def _executor():
    if _pool['executor'] is None:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor
        # spawn: a fresh interpreter importing only this module (a fork of the server would copy its threads' locks)
        _pool['executor'] = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context('spawn'))
    return _pool['executor']


def _discard_executor() -> None:
    executor, _pool['executor'], _pool['warm'] = _pool['executor'], None, False
    if executor is None:
        return
    for process in list(getattr(executor, '_processes', {}).values()):  # a render that runs over: stop it
        with contextlib.suppress(Exception):
            process.kill()
    executor.shutdown(wait=False, cancel_futures=True)


async def prepare(texts: Iterable[tuple[str, list[str] | tuple[str, ...] | None]]) -> None:
    """Render the long ones of ``texts`` ((text, mentions) pairs) off the event loop, one at a time, so ``to_html``
    answers them at once."""
    wanted = []
    for text, mentions in texts:
        key = _key(text, mentions)
        if len(key[0]) > INLINE_CHARS and key not in _prepared and key not in wanted:
            wanted.append(key)
    if not wanted:
        return
    loop = asyncio.get_running_loop()
    lock = _locks.get(loop)
    if lock is None:
        lock = _locks[loop] = asyncio.Lock()
    async with lock:  # one render at a time, so each one's time limit is its own
        for key in wanted:
            if key in _prepared:
                continue  # rendered meanwhile for another page
            try:
                executor = _executor()
                if not _pool['warm']:  # a new worker imports markdown-it first: not counted against a text
                    await asyncio.wait_for(loop.run_in_executor(executor, render, ''), WORKER_START_S)
                    _pool['warm'] = True
                html = await asyncio.wait_for(loop.run_in_executor(executor, render, *key), RENDER_TIMEOUT_S)
                stats['worker'] += 1
            except Exception:  # noqa: BLE001 — over time, or the worker died: the text as typed, never lost
                log.warning('a message of %d characters took over %.1f s to render: shown as plain text',
                            len(key[0]), RENDER_TIMEOUT_S)
                _discard_executor()
                html = plain_html(key[0])
                stats['plain'] += 1
            _prepared[key] = html
            if len(_prepared) > PREPARED_KEPT:
                _prepared.popitem(last=False)


def shutdown() -> None:
    """Stop the render worker (app shutdown)."""
    _discard_executor()


def _inline(children) -> str:
    parts: list[str] = []
    links: list[tuple[int, str]] = []
    for child in children or []:
        kind = child.type
        if kind in ('text', 'code_inline', 'html_inline'):
            parts.append(child.content)
        elif kind in ('softbreak', 'hardbreak'):
            parts.append('\n')
        elif kind == 'image':
            parts.append(child.content or '')
        elif kind == 'link_open':
            links.append((len(parts), str(child.attrGet('href') or '')))
        elif kind == 'link_close' and links:
            start, href = links.pop()
            label = ''.join(parts[start:]).strip()
            if href and href not in (label, f'mailto:{label}'):
                parts.append(f' ({href})')
    return ''.join(parts)


def to_text(text: str) -> str:
    """Clean plain text of markdown: paragraphs apart by a blank line, list items as "- " / "1. ", quotes as
    "> ", code as written; emphasis marks dropped."""
    blocks: list[tuple[str, bool]] = []  # (text, tight: joined to the previous block by one line break)
    lists: list[list] = []  # [ordered, next number]
    quote = 0
    prefix = ''
    row: list[str] | None = None
    table_rows = 0
    list_starts = False  # the next item opens a top-level list: apart from what came before

    def emit(content: str, tight: bool = False) -> None:
        nonlocal prefix, list_starts
        indent = '  ' * len(lists)
        lead = prefix or indent
        lines = content.split('\n')
        out = [lead + lines[0]] + [(' ' * len(lead) if lines[i] else '') + lines[i] for i in range(1, len(lines))]
        if quote:
            out = [('> ' * quote + line).rstrip() for line in out]
        blocks.append(('\n'.join(out), tight or (bool(lists) and bool(prefix) and not list_starts)))
        prefix, list_starts = '', False

    for token in _md.parse(text or ''):
        kind = token.type
        if kind in ('bullet_list_open', 'ordered_list_open'):
            lists.append([kind == 'ordered_list_open', int(token.attrGet('start') or 1)])
            list_starts = len(lists) == 1
        elif kind in ('bullet_list_close', 'ordered_list_close'):
            lists.pop()
        elif kind == 'list_item_open' and lists:
            ordered, number = lists[-1]
            prefix = '  ' * (len(lists) - 1) + (f'{number}. ' if ordered else '- ')
            lists[-1][1] += 1
        elif kind == 'blockquote_open':
            quote += 1
        elif kind == 'blockquote_close':
            quote -= 1
        elif kind == 'table_open':
            table_rows = 0
        elif kind == 'tr_open':
            row = []
        elif kind == 'tr_close' and row is not None:
            emit(' | '.join(row), tight=table_rows > 0)
            table_rows += 1
            row = None
        elif kind == 'inline':
            if row is not None:
                row.append(_inline(token.children).replace('\n', ' '))
            else:
                emit(_inline(token.children))
        elif kind in ('fence', 'code_block'):
            emit(token.content.rstrip('\n'))
        elif kind == 'hr':
            emit('―' * 10)
    result = ''
    for n, (block, tight) in enumerate(blocks):
        result += block if n == 0 else ('\n' if tight else '\n\n') + block
    return result.strip('\n')


@functools.lru_cache(maxsize=256)
def one_line(text: str, limit: int = 300) -> str:
    """The plain text of markdown on one line (for a bell entry or a summary), at most ``limit`` characters. Only
    the text's start is read (parsing is up to 13 µs a character, and a change's summary is made for each of its
    recipients, on the event loop); the answer is kept for the next recipient."""
    flat = ' '.join(to_text(text[:max(4 * limit, 1000)]).split())
    return flat if len(flat) <= limit else flat[:limit - 1].rstrip() + '…'
