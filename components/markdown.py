"""Safe markdown for chatter messages: links, lists, code; raw HTML is shown as text, never executed."""
from __future__ import annotations

import re

from markdown_it import MarkdownIt
from nicegui import ui

_md = MarkdownIt('commonmark', {'html': False, 'linkify': False, 'breaks': True}).enable(['table', 'strikethrough'])
_default_link_open = _md.renderer.rules.get('link_open')
_MENTION = re.compile(r'(?<![\w@/])@([A-Za-z0-9][A-Za-z0-9_.-]{0,59})')


def _link_open(tokens, idx, options, env):
    tokens[idx].attrSet('target', '_blank')
    tokens[idx].attrSet('rel', 'noopener noreferrer nofollow')
    return _md.renderer.renderToken(tokens, idx, options, env)


_md.renderer.rules['link_open'] = _link_open


def to_html(text: str, mentions: list[str] | None = None) -> str:
    html = _md.render(text or '')
    known = {m.lower() for m in mentions or []}
    if known:  # highlight stored mentions (the text was already escaped by the renderer)
        html = _MENTION.sub(lambda m: f'<span class="mention">@{m.group(1)}</span>'
                            if m.group(1).lower().rstrip('.-') in known else m.group(0), html)
    return html


def markdown(text: str, mentions: list[str] | None = None) -> ui.html:
    return ui.html(to_html(text, mentions), sanitize=False).classes('chatter-body')
