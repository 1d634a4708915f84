"""Run ``pulse-live`` with a read-only memory probe (used by ``soak.py --probe``; never imported by the app).

Adds one route, ``GET /_nicegui_probe`` (under NiceGUI's public prefix, loopback benchmark servers only), answering
JSON: live NiceGUI clients, subscriptions of the live events, presence entries, shared reads in flight, storage
entries, Python objects by type (the biggest counts) and, with ``?trace=start`` / ``?trace=diff``, a tracemalloc
comparison (top allocation sites grown since ``start``).
"""
from __future__ import annotations

import gc
import sys
import tracemalloc
from collections import Counter

_baseline: tracemalloc.Snapshot | None = None


def task_stacks() -> list[str]:
    """What every asyncio task is waiting on (to find a page build that hangs): its chain of awaited coroutines."""
    import asyncio
    out = []
    for task in asyncio.all_tasks():
        lines, coro = [], task.get_coro()
        while coro is not None and len(lines) < 30:
            frame = getattr(coro, 'cr_frame', None) or getattr(coro, 'gi_frame', None) or getattr(coro, 'ag_frame', None)
            if frame is not None:
                lines.append(f'  {frame.f_code.co_filename}:{frame.f_lineno} {frame.f_code.co_name}')
            coro = getattr(coro, 'cr_await', None) or getattr(coro, 'gi_yieldfrom', None) or getattr(coro, 'ag_await', None)
        out.append(f'{task.get_name()}:\n' + '\n'.join(lines))
    return out


def _describe(obj) -> str:
    import types
    if isinstance(obj, types.FrameType):
        return f'frame {obj.f_code.co_filename}:{obj.f_lineno} {obj.f_code.co_name}'
    if isinstance(obj, types.FunctionType):
        return f'function {obj.__module__}.{obj.__qualname__}'
    if isinstance(obj, dict):
        keys = list(obj)[:6]
        return f'dict(len={len(obj)}, keys={keys})'
    if isinstance(obj, (list, tuple, set)):
        return f'{type(obj).__name__}(len={len(obj)})'
    return f'{type(obj).__module__}.{type(obj).__qualname__}'


def leaked_chains(limit: int = 3, depth: int = 12) -> list[list[str]]:
    """For a few elements whose client is gone: the chain of referrers from a module-level object down to the
    element (breadth-first over gc.get_referrers)."""
    import types

    from nicegui import Client
    from nicegui.element import Element
    gc.collect()
    live = set(Client.instances)
    leaked = [o for o in gc.get_objects() if isinstance(o, Element) and getattr(o.client, 'id', None) not in live]
    chains = []
    for element in leaked[:limit]:
        seen = {id(element)}
        frontier = [(element, [_describe(element)])]
        found = None
        for _ in range(depth):
            nxt = []
            for obj, path in frontier:
                for ref in gc.get_referrers(obj):
                    if id(ref) in seen or ref is frontier or isinstance(ref, types.FrameType) and ref.f_code.co_name in (
                            'leaked_chains', 'probe', '_probe'):
                        continue
                    seen.add(id(ref))
                    desc = _describe(ref)
                    if isinstance(ref, types.ModuleType) or (isinstance(ref, dict) and '__name__' in ref
                                                              and '__builtins__' in ref):
                        found = [*path, desc, f"module {ref.get('__name__') if isinstance(ref, dict) else ref.__name__}"]
                        break
                    if isinstance(ref, type):
                        found = [*path, f'class {ref.__module__}.{ref.__qualname__}']
                        break
                    nxt.append((ref, [*path, desc]))
                if found:
                    break
            if found or not nxt:
                break
            frontier = nxt[:400]
        chains.append(found or ['no root found', *frontier[0][1]] if frontier else ['no referrers'])
    return [[f'{len(leaked)} leaked elements'], *chains]


def probe(trace: str = '', top: int = 25) -> dict:
    global _baseline
    from nicegui import Client, app

    from components import live
    from pulse_live import presence
    from pulse_live.queries import shared

    gc.collect()
    out: dict = {
        'clients': len(Client.instances),
        'subscriptions': {name: len(getattr(live, name).callbacks) for name in
                          ('ticket_changed', 'presence_changed', 'notification_created', 'notifications_read')},
        'presence_viewers': sum(len(v) for v in presence._viewers.values()),
        'presence_tickets': len(presence._viewers),
        'online_users': len(presence._online),
        'online_tabs': sum(len(v) for v in presence._online.values()),
        'shared_inflight': len(shared._inflight),
        'storage_tabs': len(getattr(app.storage, '_tabs', {})),
        'storage_users': len(getattr(app.storage, '_users', {})),
        'gc_objects': len(gc.get_objects()),
        'allocated_blocks': sys.getallocatedblocks(),
    }
    try:
        from components import housekeeping
        out['housekeeping'] = {k: v for k, v in housekeeping._state.items() if k != 'trim'}
    except ImportError:  # an older checkout
        pass
    counts = Counter(type(o).__qualname__ for o in gc.get_objects())
    out['top_types'] = counts.most_common(top)
    if trace == 'start':
        if not tracemalloc.is_tracing():
            tracemalloc.start(12)
        _baseline = tracemalloc.take_snapshot()
    elif trace == 'diff' and _baseline is not None:
        snap = tracemalloc.take_snapshot()
        stats = snap.compare_to(_baseline, 'traceback')
        out['trace_total_kb'] = sum(s.size_diff for s in stats) / 1024
        out['trace_top'] = [{'kb': round(s.size_diff / 1024, 1), 'count': s.count_diff,
                             'where': [f'{f.filename}:{f.lineno}' for f in s.traceback][-8:]}
                            for s in stats[:top]]
    return out


def main() -> None:
    from fastapi.responses import JSONResponse
    from nicegui import app

    @app.get('/_nicegui_probe')
    async def _probe(trace: str = '', top: int = 25, tasks: bool = False, chains: bool = False):
        if chains:
            return JSONResponse({'chains': leaked_chains()})
        return JSONResponse({'tasks': task_stacks()} if tasks else probe(trace, top))

    from pulse_live import cli
    sys.argv = ['pulse-live', *sys.argv[1:]]
    cli.main()


if __name__ == '__main__':
    main()
