"""A live chatter entry for a ticket's many staff viewers: one socket message for all of them.

Each page following a ticket is a NiceGUI client with its own element tree, so a new entry cost every viewer an
element, an update of its outbox, its serialisation and a message of its own: about 0.8 ms of server CPU per viewer
and entry, 80 ms for a hundred viewers (benchmarks/README.md, run (a)). Once ``live_broadcast_from`` staff pages follow
a ticket alike (connected, showing the same last entry), ``live.relay`` reads a change's new entries once and sends
them once, encoded once, to all of their sockets (python-socketio's emit to a list of rooms: NiceGUI puts each
client's socket in a room named by the client's id) before any page handler is woken (``ahead``; a handler that
comes first does it: ``share``); every page of the group then counts the entries as shown and its own handler has
nothing more to append.

In the browser the entries go into the chatter's live tail (``Chatter.tail``, an element the server never renders
children into): ``window.pulseTail`` adds each entry as the element NiceGUI would have rendered for it (the same
classes, ``data-entry`` and markup), in order, and never twice. A page that received a broadcast keeps its further
live entries in that tail (its own updates go there too, as one JavaScript call: ``Chatter.append``), so the order
holds. A broadcast is not in NiceGUI's message history: a socket that drops at that moment loses it, so on every
reconnection the tail tells the server the newest entry it has and the page sends what came after
(``LiveTicketScreen._sync_tail``).

The author's own pages (their other tabs too) get a message of their own, with the entry as their own bubble and
brought into view. A page just connected (its JavaScript may not be installed yet) and the customers' pages (they
see other entries) take the per-page path as before.
"""
from __future__ import annotations

import asyncio
import json
import time
import weakref
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from nicegui import Client, background_tasks, core

from pulse_live.config import get_settings
from pulse_live.events import TicketChanged
from pulse_live.queries.tickets import EventView

from .chatter_html import ENTRY_CLASSES, entry_html, entry_kind

if TYPE_CHECKING:
    from .ticket_screen import LiveTicketScreen

EVENT = 'pulse_entries'  # the socket event the pages' script listens to
SETTLED_S = 1.0  # connected at least this long: the page's script (installed on connection) is in place
_followers: dict[int, weakref.WeakSet[LiveTicketScreen]] = {}
_done: dict[tuple[int, int], TicketChanged] = {}
DONE_KEPT_S = 5.0
sent = {'messages': 0, 'pages': 0}  # for the tests and benchmarks: broadcasts and the pages they reached


def follow(screen: LiveTicketScreen) -> None:
    """A staff page follows its ticket (called by ``LiveTicketScreen.follow``); it leaves with its scope (the tab
    closed, or it moved on to another ticket in place)."""
    pages = _followers.setdefault(screen.ticket_id, weakref.WeakSet())
    pages.add(screen)
    ticket_id = screen.ticket_id

    def left() -> None:
        pages.discard(screen)
        if not pages and _followers.get(ticket_id) is pages:
            del _followers[ticket_id]
    screen.follower.scope.on_end(left)


def payload(entries: Sequence[EventView], viewer_id: int) -> list[list[Any]]:
    """What ``window.pulseTail`` takes: [id, the entry element's classes, its markup] per entry."""
    return [[e.id, ENTRY_CLASSES[entry_kind(e)], entry_html(e, viewer_id)] for e in entries]


def tail_call(entries: Sequence[EventView], viewer_id: int, ticket_id: int = 0) -> str:
    """The JavaScript that adds ``entries`` to one page's live tail — if it still shows ``ticket_id`` (a tab moves
    to another ticket in place: a call on its way then must not add the old ticket's entries to the new one)."""
    return f'window.pulseTail?.({json.dumps(payload(entries, viewer_id))}, {int(ticket_id)})'


def share(screen: LiveTicketScreen, event: TicketChanged, fresh: Sequence[EventView]) -> int:
    """Send ``fresh`` (the change's entries newer than the page's last) once to every page that follows the ticket
    alike, when they are at least ``live_broadcast_from``; returns how many pages it reached (0: each page appends
    for itself). Called by each woken page's handler: the first one sends (in the background), the others find it
    done; normally ``ahead`` did it before any of them woke."""
    sends = _group_sends(screen, event, fresh)
    for send in sends:
        background_tasks.create(send, name='live-entries')
    return len(sends)


async def ahead(event: TicketChanged) -> None:
    """Called by ``live.relay`` before the ticket's pages are woken: when enough pages follow it alike, the change's
    entries are read once (the pages' handlers then find the read kept: ``shared.new_events``) and sent before a
    hundred handlers queue in front of the sockets' writers."""
    least = get_settings().live_broadcast_from
    pages = _followers.get(event.ticket_id)
    if not least or not event.event_ids or not pages or len(pages) < least:
        return
    now = time.monotonic()
    first = next((s for s in list(pages) if _alike(s, s.chatter.last_id, now)), None)
    if first is None or event.kind in first.check_first:
        return
    fresh = await first.read_new_entries(event)
    if not first.gone:
        await asyncio.gather(*_group_sends(first, event, fresh))


def _group_sends(screen: LiveTicketScreen, event: TicketChanged, fresh: Sequence[EventView]) -> list:
    least = get_settings().live_broadcast_from
    if not least or not screen.staff:
        return []
    last = screen.chatter.last_id
    new = [e for e in fresh if e.id > last]
    if not new:
        return []
    key = (id(event), last)
    if _done.get(key) is event:  # another page of this group (or one that was too small) came first
        return []
    _done[key] = event
    asyncio.get_running_loop().call_later(DONE_KEPT_S, _done.pop, key, None)
    now = time.monotonic()
    group = [s for s in list(_followers.get(screen.ticket_id, ())) if _alike(s, last, now)]
    if len(group) < least:
        return []
    # the author's own pages (their other tabs too) show their message as their own: a message of its own for them
    authors = {e.actor_id for e in new}
    # authors the pages show typing: the browser clears a typing line naming one of them with the entry, in one frame
    typists = sorted({name for s in group for user_id, name in s.typists() if user_id in authors})
    parts: dict[int, list[LiveTicketScreen]] = {}
    for s in group:
        parts.setdefault(s.user.id if s.user.id in authors else 0, []).append(s)
        s.chatter.delivered(new, in_tail=True)
        if typists:
            s.entries_shown_in_browser(typists)
    sends = []
    for viewer_id, pages in parts.items():
        data: dict[str, Any] = {'e': payload(new, viewer_id), 't': screen.ticket_id}
        if typists:
            data['q'] = typists
        if viewer_id:
            data['own'] = True  # brought into view, wherever the reader was
        sent['messages'] += 1
        sent['pages'] += len(pages)
        sends.append(core.sio.emit(EVENT, data, room=[s.follower.client.id for s in pages]))
    return sends


def _alike(s: LiveTicketScreen, last: int, now: float) -> bool:
    follower = s.follower
    since = follower.live_since
    return (s.staff and since is not None and now - since >= SETTLED_S and not follower.client.is_deleted
            and not follower.scope.ended  # the tab moved on to another ticket in place
            and not getattr(follower.client, 'pulse_ended', None)  # ended (logged out, deactivated): nothing more
            and Client.instances.get(follower.client.id) is follower.client  # (NiceGUI's test reset forgets clients)
            and follower.client.has_socket_connection and not s.gone and s.chatter.last_id == last)


# installed once per page with the chatter's other scripts (components/chatter.py)
TAIL_JS = '''(() => {
  window.pulseTail = (entries, ticket) => {
    const tail = document.querySelector('[data-live-tail]');
    if (!tail || !Array.isArray(entries)) return;
    if (ticket && Number(tail.dataset.ticket) !== ticket) return;  // the tab moved to another ticket meanwhile
    for (const [id, cls, html] of entries) {
      if (document.querySelector(`[data-entry="${Number(id)}"]`)) continue;  // shown already
      const el = document.createElement('div');
      el.className = cls;
      el.dataset.entry = String(id);
      el.innerHTML = html;
      let before = null;  // in order: entries normally come last, a late one goes before newer ones
      for (let c = tail.lastElementChild; c && Number(c.dataset.entry) > id; c = c.previousElementSibling) before = c;
      tail.insertBefore(el, before);
    }
  };
  window.pulseTailDrop = (first) => {  // the server let the oldest go (Load older brings them back)
    const tail = document.querySelector('[data-live-tail]');
    while (tail?.firstElementChild && Number(tail.firstElementChild.dataset.entry) < first)
      tail.firstElementChild.remove();
  };
  if (window.__pulseTailSocket) return;
  window.__pulseTailSocket = true;
  window.socket.on('EVENT', (msg) => {
    const tail = document.querySelector('[data-live-tail]');
    if (!tail || Number(tail.dataset.ticket) !== msg?.t) return;  // another ticket's (the tab moved on in place)
    window.pulseTail(msg?.e);
    if (Array.isArray(msg?.q)) {  // its authors' typing marks go with it (the server clears them alike, unsent)
      const line = document.querySelector('[data-typing]');
      const el = line && mounted_app.elements[line.dataset.typing];
      if (el && msg.q.some((name) => el.text === `${name} is typing\u2026`)) el.text = '';
    }
    const sid = Number(document.querySelector('[data-live-tail]')?.dataset.scroll);
    if (msg?.own && sid) {  // the reader's own message: shown, wherever they were (as Chatter.append does)
      (window.__pulseAtEnd ??= {})[sid] = true;
      getElement(sid)?.setScrollPercentage('vertical', 1, 0);
    }
  });
  // a broadcast is not replayed by NiceGUI after a reconnection: the page sends what the tail may have missed
  window.socket.on('connect', () => setTimeout(() => {
    const tail = document.querySelector('[data-live-tail]');
    const last = tail?.lastElementChild;
    if (last && window.did_handshake) emitEvent('pulse_tail_sync', {last: Number(last.dataset.entry)});
  }, 1000));
})()'''.replace('EVENT', EVENT)
