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

``watch()`` is called by the live components of a page (ticket, portal request, work lists); ``release`` can also be
registered once for every client with ``app.on_delete(housekeeping.release)``.
"""
from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import os
import sys

from nicegui import Client, app, ui
from nicegui.observables import ObservableDict

TRIM_DELAY_S = 1.0
_state: dict = {'trim': None, 'trims': 0, 'releases': 0}
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


def trim() -> bool:
    """Give freed heap memory back to the system now (glibc only)."""
    _state['trim'] = None
    if _libc is None:
        return False
    _libc.malloc_trim(0)
    _state['trims'] += 1
    return True


def _after_delete() -> None:
    _drop_unused_tab_storage()
    if _libc is not None and _state['trim'] is None:
        _state['trim'] = asyncio.get_running_loop().call_later(TRIM_DELAY_S, trim)


def release() -> None:
    """Drop what a deleted client leaves behind in process-wide caches (the rest once its elements are gone)."""
    _state['releases'] += 1
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
