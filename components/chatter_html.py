"""One chatter entry as one static HTML block, built once and shared by every viewer who sees it alike.

A chatter entry used to be a NiceGUI element tree (row, avatar, tooltip, column, labels, badge, markdown, attachment
rows: 10–20 elements). Every viewer of a ticket built that tree for every entry, kept it in memory for as long as the
page was open, and serialised it to its browser; the browser built a Vue component per element. Now an entry is one
``ui.html`` element whose content is the markup those elements rendered to (same tags, classes and styles, so the page
looks the same), built here from the entry alone:

* **Safe**: every text from a user (names, file names, history lines, the caller) is HTML-escaped; message bodies and
  call notes go through the one safe markdown renderer (``pulse_live.markdown.to_html``: raw HTML is shown as text,
  links only http(s)/mailto/relative). No user HTML ever reaches the page as markup.
* **Shared**: ``entry_html`` is remembered per entry and per way of seeing it (``EntryKey``: the entry, whether the
  viewer wrote it, the attachments this viewer may see), so a live entry watched by a hundred pages is rendered once
  per visibility (staff, customer) and once more for its author; the string itself is shared by every page's element.
* **Tooltips** are ``data-tip`` attributes, shown by one delegated listener per page (``TOOLTIP_JS``) in Quasar's
  tooltip style, instead of a QTooltip component per avatar and icon.
"""
from __future__ import annotations

from collections import OrderedDict
from html import escape

from pulse_live.markdown import to_html
from pulse_live.queries.tickets import AttachmentView, EventView
from pulse_live.services import calls

from .badges import initials

CALL_ICONS = {'inbound': 'phone_callback', 'outbound': 'phone_forwarded'}
ROW = 'nicegui-row row'
ENTRY_CLASSES = {  # the entry's own element (the ui.html): the classes its outer row had
    'message': f'{ROW} w-full no-wrap items-start gap-2 py-1',
    'call': f'{ROW} w-full no-wrap items-start gap-2 py-1',
    'history': f'{ROW} w-full items-center gap-2 text-xs text-slate-500 py-0.5',
}


def human_size(size: float) -> str:
    for unit in ('B', 'KB', 'MB', 'GB'):
        if size < 1024 or unit == 'GB':
            return f'{size:.0f} {unit}' if unit == 'B' else f'{size:.1f} {unit}'
        size /= 1024
    return f'{size} B'


def _icon(name: str, classes: str = '', tip: str = '') -> str:
    cls = f'q-icon notranslate material-icons {classes}'.strip()
    tip_attr = f' data-tip="{escape(tip)}"' if tip else ''
    return f'<i class="{cls}" aria-hidden="true" style="font-size: 18px;"{tip_attr}>{escape(name)}</i>'


def _badge(text: str, color: str, tip: str = '') -> str:
    tip_attr = f' data-tip="{escape(tip)}"' if tip else ''
    return (f'<div class="q-badge flex inline items-center no-wrap q-badge--single-line q-badge--outline '
            f'text-{color}" role="status"{tip_attr}>{escape(text)}</div>')


def avatar_html(name: str, color: str) -> str:
    return (f'<div class="q-avatar bg-{color}" style="font-size: 24px; color: white;" data-tip="{escape(name)}">'
            '<div class="q-avatar__content row flex-center overflow-hidden" style="font-size: 12px;">'
            f'<i class="q-icon notranslate material-icons" aria-hidden="true">{escape(initials(name))}</i></div></div>')


def _markdown(text: str, mentions: list[str] | None = None) -> str:
    return f'<div class="chatter-body text-sm break-words w-full">{to_html(text, mentions)}</div>'


def _attachment(a: AttachmentView) -> str:
    return (f'<div class="{ROW} items-center gap-1 text-sm">{_icon("attach_file", "text-slate-500")}'
            f'<a href="/attachments/{int(a.id)}" target="_blank" class="nicegui-link text-primary" '
            f'data-attachment="{int(a.id)}">{escape(a.filename)}</a>'
            f'<div class="text-slate-400 text-xs">{escape(human_size(a.size))}</div></div>')


def _column(bubble: str, inner: str) -> str:
    return (f'<div class="nicegui-column gap-1 grow border rounded-lg px-3 py-2 {bubble}" style="min-width: 0px;">'
            f'{inner}</div>')


def _message(e: EventView, when: str, mine: bool) -> str:
    bubble = 'bg-amber-50 border-amber-300' if e.is_internal else ('bg-blue-50 border-blue-200' if mine else
                                                                    'bg-white border-slate-200')
    head = (f'<div class="{ROW} items-center gap-2"><div class="font-medium text-sm">{escape(e.actor)}</div>'
            f'<div class="text-xs text-slate-400">{when}</div>'
            + (_badge('Support', 'primary', 'A member of the support team') if e.actor_is_staff else '')
            + (_badge('Internal note', 'amber-8') if e.is_internal else '') + '</div>')
    body = _markdown(e.body, e.mentions) if e.body else ''
    files = ''.join(_attachment(a) for a in e.attachments)
    return avatar_html(e.actor, 'indigo' if mine else 'teal') + _column(bubble, head + body + files)


def _call(e: EventView, when: str) -> str:
    data = e.data or {}
    direction = str(data.get('direction') or 'inbound')
    head = (f'<div class="{ROW} w-full items-center gap-2">'
            f'<div class="font-medium text-sm">{escape(direction.capitalize())} call</div>'
            + _badge(calls.duration_text(int(data.get('seconds') or 0)), 'green-8', 'Duration (minutes:seconds)')
            + (f'<div class="text-sm text-slate-700 break-all">with {escape(str(data["caller"]))}</div>'
               if data.get('caller') else '')
            + '<div class="q-space"></div>'
            + _icon('lock', 'text-slate-400', 'Agents only: customers never see calls') + '</div>'
            f'<div class="text-xs text-slate-400">Logged by {escape(e.actor)} · {when}</div>'
            + (_markdown(str(data['note'])) if data.get('note') else ''))
    return ('<div class="rounded-full bg-emerald-100 text-emerald-800 w-8 h-8 shrink-0 flex items-center '
            f'justify-center">{_icon(CALL_ICONS.get(direction, "call"))}</div>'
            + _column('bg-emerald-50 border-emerald-200', head))


def _history(e: EventView, when: str) -> str:
    icon = 'history' if e.kind == 'field_change' else 'group' if e.kind.startswith('team') else 'flag'
    return (_icon(icon) + f'<div class="italic">{escape(e.body)}</div><div class="text-slate-400">{when}</div>'
            + (_icon('lock', tip='Agents only') if e.is_internal else ''))


def entry_kind(e: EventView) -> str:
    return 'call' if e.kind == 'call' else 'message' if e.kind == 'message' else 'history'


def markers(e: EventView) -> str:
    """What the entry shows, as NiceGUI markers of its element (the tests find entries by them)."""
    kind = entry_kind(e)
    out = ['chatter-entry']
    if kind == 'call':
        data = e.data or {}
        out += ['call-entry', 'call-direction', 'call-duration']
        out += ['call-caller'] if data.get('caller') else []
        out += ['call-note'] if data.get('note') else []
    elif kind == 'message':
        out += ['internal-badge'] if e.is_internal else []
        out += ['attachment-link'] if e.attachments else []
    return ' '.join(out)


EntryKey = tuple
_cache: OrderedDict[EntryKey, str] = OrderedDict()
CACHE_SIZE = 4096
stats = {'built': 0, 'shared': 0}  # for the render-boundary tests and the benchmarks


def entry_key(e: EventView, viewer_id: int) -> EntryKey:
    """Everything the markup depends on: what differs between two viewers is only whether they wrote it, and which
    attachments their visibility lets them see; the rest is the entry (the body and data are part of the key, so an
    entry that changed is never served from an old rendering)."""
    mine = e.kind == 'message' and e.actor_id == viewer_id
    return (e.id, mine, e.kind, e.body, e.is_internal, e.actor, e.actor_is_staff, e.created_at,
            tuple((a.id, a.filename, a.size) for a in e.attachments), tuple(e.mentions),
            tuple(sorted((str(k), str(v)) for k, v in (e.data or {}).items())))


def entry_html(e: EventView, viewer_id: int) -> str:
    key = entry_key(e, viewer_id)
    hit = _cache.get(key)
    if hit is not None:
        _cache.move_to_end(key)
        stats['shared'] += 1
        return hit
    when = e.created_at.strftime('%Y-%m-%d %H:%M')
    kind = entry_kind(e)
    html = _call(e, when) if kind == 'call' else _message(e, when, key[1]) if kind == 'message' \
        else _history(e, when)
    _cache[key] = html
    stats['built'] += 1
    if len(_cache) > CACHE_SIZE:
        _cache.popitem(last=False)
    return html


# One delegated listener per page shows ``data-tip`` tooltips the way QTooltip does (its classes, below the element,
# centred), instead of a tooltip component per avatar and icon in every entry.
TOOLTIP_JS = '''(() => {
  if (window.__pulseTips) return;
  window.__pulseTips = true;
  let tip = null, anchor = null;
  const hide = () => { if (tip) tip.remove(); tip = null; anchor = null; };
  document.addEventListener('mouseover', (ev) => {
    const el = ev.target?.closest?.('[data-tip]');
    if (el === anchor) return;
    hide();
    if (!el) return;
    anchor = el;
    tip = document.createElement('div');
    tip.className = 'q-tooltip q-tooltip--style no-pointer-events';
    tip.setAttribute('role', 'tooltip');
    tip.textContent = el.dataset.tip;
    document.body.appendChild(tip);
    const r = el.getBoundingClientRect(), t = tip.getBoundingClientRect();
    tip.style.left = Math.max(4, Math.min(window.innerWidth - t.width - 4, r.left + r.width / 2 - t.width / 2)) + 'px';
    tip.style.top = (r.bottom + 14) + 'px';
  });
  document.addEventListener('scroll', hide, true);
})()'''
