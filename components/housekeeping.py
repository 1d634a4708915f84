"""What a closed tab leaves behind, released when NiceGUI deletes its client (``reconnect_timeout`` after the tab
closed).

- **Upload routes.** Every ``ui.upload`` (the composer's attachments, the new-ticket and portal forms) registers its
  own FastAPI route, whose endpoint is a closure over the upload element. NiceGUI removes the route when the element is
  deleted, but FastAPI (0.13x+) keeps the endpoint in three ``lru_cache``s of 4,096 entries each
  (``fastapi.dependencies.models._is_*_callable_cached``), and through it the element, its client and the page's whole
  element tree: about 1 MB per closed ticket page, never returned until 4,096 pages later. The caches only classify
  callables (coroutine or generator?) and refill on demand, so they are cleared whenever a client is deleted.
- **Tab storage.** NiceGUI keeps an in-memory ``app.storage.tab`` per browser tab for 30 days; this app stores
  nothing there, so empty ones of tabs no client uses any more are dropped.
- **Allocator slack.** After a burst of deleted pages, glibc keeps the freed memory in its heaps; ``malloc_trim(0)``
  (Linux, glibc) gives it back to the system: once, ``TRIM_DELAY_S`` after a deletion (a burst of deletions costs
  one trim; a trim walks the heap, a few ms).

- **The cycle collector.** A page is a few thousand objects in reference cycles (elements ↔ parent, client, slots), so
  with CPython's default thresholds (700, 10, 10) objects reached the oldest generation within milliseconds and a
  full collection ran every few seconds under load, walking every open page and the whole program: measured under
  ``benchmarks/desk_load.py`` (30 agents), 16 full collections of ~0.6 s each in a 30 s run, about a quarter of
  the server's CPU, each one a 0.6 s stall of every page. ``tune_gc()`` (once per process, at start-up) moves what
  exists at start-up (modules, the app) out of the collector's view (``gc.freeze``) and raises the thresholds
  (``GC_THRESHOLDS``): young objects are checked every 50,000 allocations instead of 700, so a page's objects are
  promoted after about a million allocations, and a full collection comes at most every ten middle ones. Closed
  pages are still collected (the collector runs, less often); ``PULSE_GC_TUNING=0`` leaves CPython's defaults.
  With such thresholds a closed page that had lived long enough to reach the oldest generation would wait for a
  full collection that comes only after millions of allocations (a reviewer's model of a busy day: hundreds of
  closed pages waiting, ~600 MB), so a deletion also schedules one full collection, at most every
  ``COLLECT_EVERY_S`` (one ~0.6 s collection a minute under constant churn, not a quarter of the CPU), just before
  the allocator trim that gives the freed memory back.
  A full collection walks every open page, so its stall grows with them (measured: ~0.4 s with 100 open ticket
  pages, ~3 s with 1,000 — ``benchmarks/live_scale.py`` runs a and b, py-spy): it runs only when the pages closed
  since the last one are at least ``COLLECT_SHARE`` (25 %) of the open ones (``worth_collecting``), so a few
  closed tabs among a thousand open ones no longer stop them all for seconds.

- **Upload routes, cheaper.** NiceGUI registers each ``ui.upload``'s POST route with FastAPI's ``app.post``: an
  ``APIRoute`` analyses the endpoint's signature and builds a response model for it, about 4 % of the server's CPU
  under ``benchmarks/desk_load.py`` (every ticket page has a composer with an upload). ``install_light_upload_routes``
  serves every upload address with one plain Starlette ``Route`` that finds the element's endpoint in a table (same
  answers: the JSON body, 403 for a hidden or disabled upload, 404 once the element is gone), so nothing lands in
  FastAPI's caches, no regular expression is compiled per page, and the app's route list does not grow with the open
  pages (every request was matched against one route more per open page).

- **Pages that never connect.** Every GET of a page builds it (its elements, its live subscriptions) and NiceGUI keeps
  it until its socket connects, or for 60–70 s (its own pruning) if none ever does: a prefetch, a link preview, a
  script, a flood. Measured: 2,000 anonymous GETs of ``/login`` from one client in 8 s held +140 MB for that minute
  (a flood of a minute: ~1 GB); a signed-in page is ~0.5–1 MB. A browser connects within a second or two of the page,
  so ``sweep_unconnected`` (every ``SWEEP_EVERY_S``) deletes a page that has not connected ``page_connect_within_s``
  (20 s) after it was built, and beyond ``max_unconnected_pages`` (1,000) such pages in the process, or
  ``max_pages_per_user`` of one person, the oldest. A browser that connects after its page was deleted reloads it
  (NiceGUI), which builds it afresh.

``watch()`` is called by the live components of a page (ticket, portal request, work lists); ``release`` can also be
registered once for every client with ``app.on_delete(housekeeping.release)``.
"""
from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import gc
import os
import sys
import time
from collections.abc import Callable

from nicegui import Client, app, ui
from nicegui.observables import ObservableDict

TRIM_DELAY_S = 1.0
COLLECT_EVERY_S = 60.0
COLLECT_SHARE = 0.25  # a full collection once the pages closed since the last one are this share of the open ones
_state: dict = {'trim': None, 'trims': 0, 'releases': 0, 'tuned': False, 'collected_at': None, 'collections': 0,
                'closed': 0}
_libc = None
if sys.platform.startswith('linux') and os.environ.get('PULSE_MALLOC_TRIM', '1') != '0':  # 0: off (to measure)
    try:
        _libc = ctypes.CDLL(ctypes.util.find_library('c') or 'libc.so.6')
        _libc.malloc_trim.argtypes = [ctypes.c_size_t]
    except (OSError, AttributeError):  # not glibc (e.g. musl): nothing to trim
        _libc = None


def _clear_route_caches() -> None:
    try:
        from fastapi.dependencies import models
    except ImportError:
        return
    for name in ('_is_gen_callable_cached', '_is_async_gen_callable_cached', '_is_coroutine_callable_cached'):
        cache = getattr(models, name, None)
        if cache is not None and hasattr(cache, 'cache_clear'):
            cache.cache_clear()


def _drop_unused_tab_storage() -> None:
    tabs = getattr(app.storage, '_tabs', None)
    if not tabs:
        return
    in_use = {c.tab_id for c in Client.instances.values()} | {getattr(c, '_pinned_tab_id', None)
                                                              for c in Client.instances.values()}
    for tab_id, storage in list(tabs.items()):
        if tab_id not in in_use and type(storage) is ObservableDict and not storage:
            del tabs[tab_id]  # a tab that comes back gets a new (empty) one


UPLOAD_PATH = '/_nicegui/client/{client_id}/upload/{element_id}'  # NiceGUI's upload address for each upload element
_uploads: dict[str, Callable] = {}  # an upload element's address → its endpoint, while the element lives


class _LightUploadApp:
    """Stands in for NiceGUI's ``app`` inside ``nicegui.elements.upload``. NiceGUI registers a route of its own for
    every upload element (the composer of every ticket page has one) and removes it when the element goes: a FastAPI
    route analysed per page, then a regular expression compiled per address (each is new: py-spy put Python's regex
    compiler at 2.6 % of the event loop under benchmarks/desk_load.py), and every request of the app matched against
    one more route per open page, and the route list rebuilt at every removal. Here one plain Starlette route serves
    every upload address and finds the element's endpoint by the address; ``post`` and ``remove_route`` keep that
    table. Everything else is the real app."""

    def __init__(self, real) -> None:
        self._real = real
        from starlette.routing import Route
        self._route = Route(UPLOAD_PATH, self._dispatch, methods=['POST'])

    def __getattr__(self, name: str):
        return getattr(self._real, name)

    async def _dispatch(self, request):
        from starlette.datastructures import UploadFile
        from starlette.responses import JSONResponse, PlainTextResponse
        params = request.path_params
        endpoint = _uploads.get(UPLOAD_PATH.format(**params))
        if endpoint is None:  # no such upload element (its page closed): as if there were no route
            return PlainTextResponse('Not Found', status_code=404)
        # NiceGUI's route takes every part of the form for a file: a text field made a 500 with two tracebacks.
        # The form read here is the one it reads (Starlette keeps it on the request).
        form = await request.form()
        if any(not isinstance(value, UploadFile) for value in form.values()):
            await form.close()
            return PlainTextResponse('An upload takes files only.', status_code=400)
        return JSONResponse(await endpoint(request))

    def post(self, path: str, **_kwargs):
        def register(endpoint):
            routes = self._real.router.routes
            if self._route not in routes:  # once (NiceGUI's test reset may have dropped it)
                routes.append(self._route)
            _uploads[path] = endpoint
            return endpoint
        return register

    def remove_route(self, path: str) -> None:
        if _uploads.pop(path, None) is None:
            self._real.remove_route(path)


def install_light_upload_routes() -> None:
    """Idempotent; called once per process by ``pulse_live.app.build_app``."""
    from nicegui.elements import upload
    if not isinstance(upload.app, _LightUploadApp):
        upload.app = _LightUploadApp(upload.app)  # type: ignore[assignment]


GC_THRESHOLDS = (50_000, 20, 10)


def tune_gc() -> bool:
    """Raise the cycle collector's thresholds now and freeze what exists when the app has started (see the module's
    docstring); False when switched off with ``PULSE_GC_TUNING=0``. Idempotent."""
    if os.environ.get('PULSE_GC_TUNING', '1') == '0':
        return False
    gc.set_threshold(*GC_THRESHOLDS)
    _state['tuned'] = True
    app.on_startup(_freeze_once)
    return True


def _freeze_once() -> None:
    """Once per process, when the app has started (no page exists yet): what exists now lives as long as the
    process, so the collector need not walk it again and again."""
    if not _state.get('frozen'):
        _state['frozen'] = True
        gc.freeze()


def _collect_due_in() -> float:
    """Seconds until the next full collection after deletions may run (0: now)."""
    last = _state['collected_at']
    return 0.0 if last is None else max(0.0, last + COLLECT_EVERY_S - time.monotonic())


def trim() -> bool:
    """After deletions: a full collection when the collector is tuned and one is due (the closed pages' cycles), then
    give freed heap memory back to the system (glibc only)."""
    _state['trim'] = None
    if _state['tuned'] and _collect_due_in() == 0.0 and worth_collecting():
        _state['collected_at'] = time.monotonic()
        _state['collections'] += 1
        _state['closed'] = 0
        gc.collect()
    if _libc is None:
        return False
    _libc.malloc_trim(0)
    _state['trims'] += 1
    return True


def worth_collecting(open_pages: int | None = None) -> bool:
    """A full collection walks every open page (1,000 open ticket pages: ~3 s, a stall of every page), so it runs
    only when the pages closed since the last one are at least ``COLLECT_SHARE`` of the open ones — the garbage it
    frees is then in proportion to the time it takes (CPython's own rule for its oldest generation is the same 25 %).
    Memory waiting for it stays under that share of what the open pages hold."""
    open_pages = len(Client.instances) if open_pages is None else open_pages
    return _state['closed'] >= max(1, COLLECT_SHARE * open_pages)


def _after_delete() -> None:
    _drop_unused_tab_storage()
    if (_libc is not None or _state['tuned']) and _state['trim'] is None:
        delay = max(TRIM_DELAY_S, _collect_due_in()) if _state['tuned'] else TRIM_DELAY_S
        _state['trim'] = asyncio.get_running_loop().call_later(delay, trim)


def release() -> None:
    """Drop what a deleted client leaves behind in process-wide caches (the rest once its elements are gone)."""
    _state['releases'] += 1
    _state['closed'] += 1
    _clear_route_caches()
    with contextlib.suppress(RuntimeError):  # no event loop (shutdown): nothing more to release
        asyncio.get_running_loop().call_soon(_after_delete)  # after Client.delete() removed the elements


def watch() -> None:
    """Release the current page's leftovers when its client is deleted (once per client)."""
    client = ui.context.client
    if getattr(client, 'pulse_housekeeping', False):
        return
    client.pulse_housekeeping = True  # type: ignore[attr-defined]
    client.on_delete(release)


# --- pages that never connect ---------------------------------------------------------------------------------------
SWEEP_EVERY_S = 1.0


def never_connected(client: Client) -> bool:
    """Built, sent, and no socket ever connected to it (NiceGUI counts a page's connections at the handshake)."""
    return not client._num_connections and not client.is_deleted  # noqa: SLF001


def sweep_unconnected(now: float | None = None) -> int:
    """Delete the pages that did not connect in time, then the oldest beyond the bounds; the number deleted."""
    from pulse_live.config import get_settings
    settings = get_settings()
    now = time.time() if now is None else now
    waiting = sorted((c for c in list(Client.instances.values()) if never_connected(c)), key=lambda c: c.created)
    late = sum(1 for c in waiting if c.created <= now - settings.page_connect_within_s)
    left = waiting[late:]  # the younger ones, oldest first
    over = max(0, len(left) - settings.max_unconnected_pages)
    doomed, left = waiting[:late] + left[:over], left[over:]
    per_person: dict[int, list[Client]] = {}
    for c in left:
        uid = getattr(c, 'pulse_user_id', None)
        if uid is not None:
            per_person.setdefault(uid, []).append(c)
    for pages in per_person.values():
        doomed += pages[:max(0, len(pages) - settings.max_pages_per_user)]
    for client in doomed:
        if not client.is_deleted:
            client.delete()
    return len(doomed)


def install_unconnected_sweep() -> None:
    """Called by ``pulse_live.app.build_app`` (once per process; the UI tests reset the app and build it per test)."""
    app.timer(SWEEP_EVERY_S, sweep_unconnected, immediate=False)
