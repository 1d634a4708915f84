"""Timing probes put into a benchmark's server from the outside (never imported by the app).

Put this directory on ``PYTHONPATH`` (the benchmarks' server keeps it; it drops ``PULSE_*`` variables) and name the
probes in ``LOOP_PROBE`` (comma-separated); every 10 s each process writes a line to
``$LOOP_PROBE_OUT/<probe>-<pid>.txt`` (default ``/tmp``) — the server's is the file that grows::

    LOOP_PROBE=turns,statements PYTHONPATH=$PWD/benchmarks/loop_probe .venv/bin/python benchmarks/desk_load.py --rate 25

(an absolute path: the server runs in a directory of its own).

``turns``       how long the event loop takes to come back to a task that yields (``await asyncio.sleep(0)``, every
                50 ms): on a busy loop, every ready callback's time. p50 / p95 / p99 / max.
``statements``  every SQL statement's wall time and its thread's CPU time (SQLAlchemy's ``do_execute``), and each one
                slower than 30 ms with its text. A statement through a reader's thread (aiosqlite) runs inside
                SQLAlchemy's greenlet: its "wall" is the time until the loop came back to it (the loop's other work
                is in its CPU time too), which is what a page waiting for it waits.
"""
from __future__ import annotations

import os
import threading
import time

_PROBES = {p.strip() for p in os.environ.get('LOOP_PROBE', '').split(',') if p.strip()}
_OUT = os.environ.get('LOOP_PROBE_OUT', '/tmp')


def _write(name: str, text: str) -> None:
    with open(os.path.join(_OUT, f'{name}-{os.getpid()}.txt'), 'a') as f:
        f.write(f'{time.strftime("%H:%M:%S")} {text}\n')


def _every_10_s(report) -> None:
    def run() -> None:
        while True:
            time.sleep(10)
            report()
    threading.Thread(target=run, daemon=True).start()


def _quantiles(values: list[float]) -> str:
    xs = sorted(values)
    def q(p: float) -> float:
        return xs[min(len(xs) - 1, int(p * len(xs)))] * 1000
    return f'n={len(xs)} p50={q(.5):.1f} p95={q(.95):.1f} p99={q(.99):.1f} max={xs[-1] * 1000:.1f} ms'


if 'turns' in _PROBES:
    import asyncio
    import asyncio.runners
    _turns: list[float] = []
    _run = asyncio.runners.Runner.run

    def _run_with_probe(self, coro, **kwargs):  # uvicorn runs the app's loop (uvloop) through asyncio.Runner
        async def probed():
            async def yielding() -> None:
                while True:
                    t = time.perf_counter()
                    await asyncio.sleep(0)
                    _turns.append(time.perf_counter() - t)
                    await asyncio.sleep(0.05)
            asyncio.get_running_loop().create_task(yielding())
            return await coro
        return _run(self, probed(), **kwargs)
    asyncio.runners.Runner.run = _run_with_probe  # type: ignore[method-assign]

    def _report_turns() -> None:
        values, _turns[:] = list(_turns), []
        if values:
            _write('turns', _quantiles(values))
    _every_10_s(_report_turns)

if 'statements' in _PROBES:
    _stats: dict[str, list[float]] = {}
    _slow: list[str] = []

    def _install() -> None:
        from sqlalchemy.engine import default
        original = default.DefaultDialect.do_execute

        def do_execute(self, cursor, statement, parameters, context=None):
            t, c = time.perf_counter(), time.thread_time()
            try:
                return original(self, cursor, statement, parameters, context)
            finally:
                wall, cpu = time.perf_counter() - t, time.thread_time() - c
                s = _stats.setdefault('all', [0, 0.0, 0.0])
                s[0] += 1
                s[1] += wall
                s[2] += cpu
                if wall > 0.03 and len(_slow) < 2000:
                    _slow.append(f'{wall * 1000:.0f} ms  {" ".join(str(statement).split())[:100]}')
        default.DefaultDialect.do_execute = do_execute  # type: ignore[method-assign]

    def _wait_for_sqlalchemy() -> None:
        import sys
        while True:
            module = sys.modules.get('sqlalchemy.engine.default')
            if module is not None and hasattr(getattr(module, 'DefaultDialect', None), 'do_execute'):
                time.sleep(0.5)  # fully imported
                _install()
                return
            time.sleep(0.05)
    threading.Thread(target=_wait_for_sqlalchemy, daemon=True).start()

    def _report_statements() -> None:
        s = _stats.pop('all', None)
        slow, _slow[:] = list(_slow), []
        if s:
            _write('statements', f'n={s[0]} wall={s[1] * 1000:.0f} ms cpu={s[2] * 1000:.0f} ms; slower than 30 ms: '
                   f'{len(slow)}' + ''.join(f'\n    {line}' for line in slow))
    _every_10_s(_report_statements)
