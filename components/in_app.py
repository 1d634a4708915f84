"""Opening a ticket in place: from the ticket list or another ticket, over the open socket, without a new document.

A new document costs the browser ~100 ms before anything shows, whatever the server does: parsing and starting
Vue, Quasar and NiceGUI, then mounting the page (benchmarks/README.md, page_open.py). A click on a link to a ticket
on a desk page that offers it (the ticket list, a ticket) is taken by the page's script instead: the server reads the
ticket, replaces the frame's content with it (what the old content registered ends with it:
components/page_scope.py), and the browser puts the ticket's address in its history. Reload, a new tab, a bookmark
or a typed address load the same address as a document, as before; Back and Forward between tickets opened in place
stay in place, anything else loads its document.

Not NiceGUI's ``ui.sub_pages``: its script takes every link on the page (a header link, a download) to the server
first and empties the content before a page that is not a sub page loads. Here the page's script takes only links to
a ticket (``/tickets/<reference>``, optionally ``?entry=<id>``), only while its socket is connected, and only plain
left clicks (a click with a modifier key, a middle click, a link with a target opens a new tab as always).
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable

from nicegui import Client, ui
from nicegui.events import GenericEventArguments

EVENT = 'pulse_open'
PATH_LIMIT = 200  # the longest address the page's script sends (a reference is at most 64 characters)
TICKET_PATH = re.compile(r'/tickets/(?!new$)([^/?#]{1,64})(?:\?entry=(\d{1,18}))?')

SCRIPT = r'''<script>
(() => {
  const TICKET = /^\/tickets\/(?!new$)[^\/?#]{1,64}$/;
  const QUERY = /^(\?entry=\d{1,18})?$/;
  const inPlace = (url) => url.origin === location.origin && TICKET.test(url.pathname) && QUERY.test(url.search);
  const live = () => window.socket?.connected && window.did_handshake;
  window.__pulseShown = location.pathname + location.search;
  document.addEventListener('click', (e) => {
    if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    const a = e.target.closest ? e.target.closest('a[href]') : null;
    if (!a || (a.target && a.target !== '_self') || a.hasAttribute('download')) return;
    const url = new URL(a.href, location.href);
    if (!inPlace(url) || !live()) return;
    e.preventDefault();
    window.__pulseOpenAt = performance.now();
    emitEvent('EVENT', {path: url.pathname + url.search});
  });
  window.addEventListener('popstate', (e) => {
    const path = location.pathname + location.search;
    if (path === window.__pulseShown) return;  // only the fragment changed
    if (e.state && e.state.pulse === path && live()) {
      window.__pulseShown = path;
      emitEvent('EVENT', {path: path, back: true});
    } else {
      location.reload();  // an address this page did not open in place: its own document
    }
  });
  if (TICKET.test(location.pathname))
    history.replaceState({...(history.state || {}), pulse: location.pathname + location.search}, '');
})();
</script>'''.replace('EVENT', EVENT)

Rest = Callable[[], Awaitable[None]]
Opener = Callable[[str, int], Awaitable[Rest | None]]


def parse(args: object) -> tuple[str, int, bool] | None:
    """``(reference, entry, back)`` from what the page's script sends; None for anything else."""
    if not isinstance(args, dict):
        return None
    path, back = args.get('path'), args.get('back', False)
    if not isinstance(path, str) or len(path) > PATH_LIMIT or not isinstance(back, bool):
        return None
    m = TICKET_PATH.fullmatch(path)
    if m is None:
        return None
    return m.group(1), int(m.group(2) or 0), back


def offer(open_ticket: Opener) -> None:
    """This page (a desk page with the frame) opens tickets in place: ``open_ticket(reference, entry)`` replaces
    the frame's content with the ticket's first part and returns what builds the rest (None: it sent the browser
    elsewhere). The address goes into the browser's history between the two."""
    client = ui.context.client
    if client.__dict__.get('pulse_in_app'):
        return
    state: dict = {'wanted': None, 'lock': asyncio.Lock()}
    client.__dict__['pulse_in_app'] = state
    ui.add_head_html(SCRIPT)

    async def handle(e: GenericEventArguments) -> None:
        parsed = parse(e.args)
        if parsed is not None:
            await open_(parsed)

    async def open_(parsed: tuple[str, int, bool]) -> None:
        reference, entry, back = parsed
        state['wanted'] = parsed
        async with state['lock']:  # one at a time; of clicks made meanwhile only the last is opened
            if state['wanted'] is not parsed or client.is_deleted:
                return
            # in the page's own context: the element whose handler asked (a list's search box) goes with the content
            with client:
                # the frame's parts first (the header's search closes its results): gone before the ticket is shown
                for opened in client.__dict__.get('pulse_on_open', ()):
                    opened()
                rest = await open_ticket(reference, entry)
                if rest is None:
                    return
                js = 'window.scrollTo(0, 0);'  # the new content from its top, as a new document would be
                if not back:
                    path = json.dumps(f'/tickets/{reference}' + (f'?entry={entry}' if entry else ''))
                    js += f' window.__pulseShown = {path}; history.pushState({{pulse: {path}}}, "", {path});'
                client.run_javascript(js)
                await rest()
    state['open'] = open_
    ui.on(EVENT, handle)


def on_open(callback: Callable[[], None]) -> None:
    """Call ``callback`` whenever this page begins to open a ticket in place: the frame's parts stay on the page and
    reset themselves as a new document would (the header's search closes its results and forgets the text) — before
    the ticket and its address come, so nothing of them is seen over it."""
    ui.context.client.__dict__.setdefault('pulse_on_open', []).append(callback)


@contextlib.asynccontextmanager
async def held(client: Client) -> AsyncIterator[None]:
    """While the page builds a part of what it shows (the ticket page's side column after its socket connected), an
    open in place waits: it would delete the container the part is being built into."""
    state = client.__dict__.get('pulse_in_app')
    if state is None:
        yield
        return
    async with state['lock']:
        yield


async def go(path: str) -> None:
    """Go to ``path`` from the server (a notification clicked, a reference typed into the list's search): in place
    when this page offers it and ``path`` is a ticket's, else as a new document (``ui.navigate.to``)."""
    client = ui.context.client
    state = client.__dict__.get('pulse_in_app')
    parsed = parse({'path': path})
    if state is None or parsed is None or not client.has_socket_connection:
        ui.navigate.to(path)
        return
    await state['open'](parsed)
