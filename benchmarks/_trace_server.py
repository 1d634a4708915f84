"""Run ``pulse-live`` with timing probes (used by ``live_latency.py --trace``; never imported by the app).

Wraps a few functions from the outside (the app code is not changed) and appends one JSON line per probe hit to the
file named by ``PULSE_BENCH_TRACE``; only hits about benchmark messages (bodies containing ``PULSE_BENCH_NONCE``) are
written. Probes, in the order a message travels:

  post_start / post_done   chatter.post_message entered / returned (the commit and the bus publish are in between)
  query_start / query_done queries.shared.new_events(…) in a viewer's live handler (one per viewer; viewers
                           with the same visibility share one database read)
  append                   Chatter.append called in a viewer's page (builds the new chatter entry)
  emit                     the NiceGUI outbox sends an update containing the message to a viewer's socket

``PULSE_BENCH_WHATIF`` (comma-separated) additionally patches in candidate fixes, to measure them before anyone
changes the app (``live_latency.py --what-if …``):

  presence      PresenceBar.show rebuilds the avatars only when the set of viewers changed (typing changes then
                only set the label text)
  shared-read   the live re-read ticket_events(after=…) is shared by all viewers of a ticket (one query per
                new entry and visibility instead of one per viewer)
"""
from __future__ import annotations

import functools
import json
import os
import re
import sys
import time

_OUT = open(os.environ['PULSE_BENCH_TRACE'], 'a', buffering=1)  # noqa: SIM115 (open for the process lifetime)
_NONCE = os.environ['PULSE_BENCH_NONCE']
_TOKEN = re.compile(rf'bench-\d+-{_NONCE}')


def _mark(what: str, token: str, client: str | None = None, t: float | None = None) -> None:
    t = time.time() * 1000 if t is None else t
    _OUT.write(json.dumps({'t': t, 'what': what, 'token': token, 'client': client}) + '\n')


def _client_id() -> str | None:
    try:
        from nicegui import context
        return context.client.id
    except Exception:  # noqa: BLE001 (outside of a page context)
        return None


def install_what_if(names: set[str]) -> None:
    if 'presence' in names:
        from components.presence_bar import PresenceBar
        show = PresenceBar.show

        def show_if_changed(self, data: dict) -> None:
            key = tuple((v['user_id'], v['name']) for v in data.get('viewers', []))
            if getattr(self, '_bench_key', None) == key:
                names_ = [t['name'] for t in data.get('typing', []) if t['user_id'] != self.viewer_id]
                self.typing.set_text('' if not names_ else f'{names_[0]} is typing…' if len(names_) == 1
                                     else f'{", ".join(names_)} are typing…')
                return
            self._bench_key = key
            show(self, data)
        PresenceBar.show = show_if_changed

    if 'shared-read' in names:
        import asyncio

        from pulse_live import auth
        from pulse_live.queries import tickets as ticket_queries
        ticket_events = ticket_queries.ticket_events
        pending: dict[tuple, asyncio.Future] = {}

        async def shared(viewer, ticket_id, *, after=None, before=None, limit=100):
            if after is None or before is not None:
                return await ticket_events(viewer, ticket_id, after=after, before=before, limit=limit)
            key = (ticket_id, after, auth.can_see_internal(viewer))
            if key not in pending:
                pending[key] = asyncio.ensure_future(ticket_events(viewer, ticket_id, after=after))
                pending[key].add_done_callback(lambda _: asyncio.get_running_loop().call_later(
                    2.0, pending.pop, key, None))
            return await asyncio.shield(pending[key])
        ticket_queries.ticket_events = shared


def install() -> None:
    from nicegui import outbox

    from components import chatter as chatter_component
    from pulse_live.queries import shared as shared_queries
    from pulse_live.services import chatter as chatter_service

    post_message = chatter_service.post_message

    @functools.wraps(post_message)
    async def traced_post(*args, **kwargs):
        m = _TOKEN.search(kwargs.get('body') or '')
        if m:
            _mark('post_start', m.group(0))
        result = await post_message(*args, **kwargs)
        if m:
            _mark('post_done', m.group(0))
        return result
    chatter_service.post_message = traced_post

    new_events = shared_queries.new_events  # what a viewer's live handler calls (pages/ticket.py)

    @functools.wraps(new_events)
    async def traced_events(*args, **kwargs):
        start = time.time() * 1000
        client = _client_id()
        result = await new_events(*args, **kwargs)
        for e in result:
            m = _TOKEN.search(e.body or '')
            if m:
                _mark('query_start', m.group(0), client, t=start)
                _mark('query_done', m.group(0), client)
        return result
    shared_queries.new_events = traced_events

    append = chatter_component.Chatter.append

    @functools.wraps(append)
    def traced_append(self, events_):
        client = _client_id()
        for e in events_:
            m = _TOKEN.search(e.body or '')
            if m:
                _mark('append', m.group(0), client)
        return append(self, events_)
    chatter_component.Chatter.append = traced_append

    emit = outbox.Outbox._emit

    @functools.wraps(emit)
    async def traced_emit(self, message):
        text = str(message[2]) if len(message) > 2 else ''
        tokens = set(_TOKEN.findall(text)) if _NONCE in text else ()
        for token in tokens:
            _mark('emit', token, message[0])
        return await emit(self, message)
    outbox.Outbox._emit = traced_emit


if __name__ == '__main__':
    install_what_if({n.strip() for n in os.environ.get('PULSE_BENCH_WHATIF', '').split(',') if n.strip()})
    install()
    from pulse_live.cli import main
    sys.argv[0] = 'pulse-live'
    main()
