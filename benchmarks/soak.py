#!/usr/bin/env python3
"""Soak: does the server give back the memory of closed tabs?

Starts ``pulse-live serve --demo`` as a subprocess (fresh temporary data directory, SQLite, in-process bus; the
server of ``live_latency.py``), logs in as a demo agent in headless Chromium and opens and closes N ticket pages
(every open demo ticket in turn, P tabs at a time; each one waits until its socket is connected and its reference is
shown, then closes). That loop runs R times in a row; after each round it waits until the server has let go of the
closed tabs (NiceGUI keeps a disconnected client ``reconnect_timeout`` = 15 s) plus ``--idle`` seconds, and reads the
server's RSS (``VmRSS``). Printed: RSS before, at the peak of each round (sampled every 0.5 s) and after each round.
A leak grows round after round; allocator slack shows up once and then stays flat.

Usage (from the repository root):

    .venv/bin/python benchmarks/soak.py                     # 1,000 pages, twice
    .venv/bin/python benchmarks/soak.py --pages 200 --rounds 3 --parallel 4
    .venv/bin/python benchmarks/soak.py --probe             # plus the server's own counts (clients, subscriptions…)

The last line is one JSON object (rss_before_mb, rss_peak_mb, rss_after_mb per round, growth_pct, ok). ``ok`` is
true when RSS after the last round is within 10 % of RSS before the first page was opened. Exit status 1 otherwise.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sqlite3
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from live_latency import (
    CHROMIUM_ARGS,
    REPO,
    Server,
    free_port,
    log,
    login_state,
    wait_connected,
)

PROBE_SERVER = Path(__file__).resolve().parent / '_probe_server.py'


def open_tickets(db_path: Path) -> list[str]:
    with sqlite3.connect(f'file:{db_path}?mode=ro', uri=True) as con:
        rows = con.execute("SELECT reference FROM tickets WHERE status != 'closed' ORDER BY id").fetchall()
    return [r[0] for r in rows]


def probe(server: Server, trace: str = '') -> dict:
    url = f'{server.base_url}/_nicegui_probe' + (f'?trace={trace}' if trace else '')
    with urllib.request.urlopen(url, timeout=60) as r:
        return json.loads(r.read())


def clients_alive(server: Server, use_probe: bool) -> int | None:
    return probe(server)['clients'] if use_probe else None


FAILED: list[str] = []  # pages that never rendered (a starved machine): counted, not fatal


async def open_and_close(ctx, url: str) -> None:
    page = await ctx.new_page()
    try:
        for attempt in range(3):
            try:
                await page.goto(url, timeout=60000)
                await wait_connected(page, 60000)
                await page.get_by_text(url.rsplit('/', 1)[-1], exact=True).first.wait_for(timeout=30000)  # built
                return
            except Exception as e:  # noqa: BLE001 (a page the busy server gave up on: load it again)
                if attempt == 2:
                    FAILED.append(url)
                    log(f'{url} did not render: {str(e).splitlines()[0]}')
                    return
                log(f'{url} did not render (attempt {attempt + 1}), loading it again')
    finally:
        await page.close()


async def run_round(ctx, server: Server, refs: list[str], pages: int, parallel: int, peak: list[float]) -> float:
    queue: asyncio.Queue[str] = asyncio.Queue()
    for i in range(pages):
        queue.put_nowait(f'/tickets/{refs[i % len(refs)]}')
    done = 0
    start = time.monotonic()

    async def worker() -> None:
        nonlocal done
        while not queue.empty():
            url = queue.get_nowait()
            await open_and_close(ctx, url)
            done += 1
            if done % 100 == 0:
                log(f'{done}/{pages} pages, RSS {server.rss_mb():.0f} MB')

    async def sampler() -> None:
        while True:
            peak[0] = max(peak[0], server.rss_mb())
            await asyncio.sleep(0.5)

    sampling = asyncio.create_task(sampler())
    try:
        await asyncio.gather(*[worker() for _ in range(parallel)])
    finally:
        sampling.cancel()
    return time.monotonic() - start


async def settle(server: Server, use_probe: bool, idle: float) -> None:
    """Wait until NiceGUI has deleted the closed tabs' clients (reconnect_timeout), then ``idle`` seconds more."""
    await asyncio.sleep(16)  # reconnect_timeout = 15 s
    if use_probe:
        for _ in range(60):
            if probe(server)['clients'] == 0:
                break
            await asyncio.sleep(1)
    await asyncio.sleep(idle)


async def main_async(args) -> int:
    from playwright.async_api import async_playwright

    data_dir = Path(tempfile.mkdtemp(prefix='pulse-soak-'))
    server = Server(data_dir, args.port or free_port(), args.bus_url, app_dir=Path(args.app_dir).resolve())
    if args.probe:
        server.command = [sys.executable, str(PROBE_SERVER)]
    if args.no_trim:
        server.env['PULSE_MALLOC_TRIM'] = '0'  # components/housekeeping.py: no malloc_trim after deleted clients
    executable = os.environ.get('PULSE_CHROMIUM') or '/usr/bin/chromium'
    result: dict = {'pages_per_round': args.pages, 'rounds': args.rounds, 'parallel': args.parallel}
    try:
        log(f'starting the demo server in {data_dir}')
        server.start(timeout=300)
        refs = open_tickets(server.db_path)
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
            try:
                state = await login_state(browser, server.base_url, args.user)
                ctx = await browser.new_context(base_url=server.base_url, storage_state=state)
                # one page opened and closed first: the first ticket page imports and warms what every later one uses
                await open_and_close(ctx, f'/tickets/{refs[0]}')
                await settle(server, args.probe, args.idle)
                before = server.rss_mb()
                result['rss_before_mb'] = round(before, 1)
                if args.probe:
                    result['probe_before'] = {k: v for k, v in probe(server, 'start').items() if k != 'top_types'}
                log(f'RSS before: {before:.1f} MB')
                result['rss_peak_mb'], result['rss_after_mb'], result['seconds'] = [], [], []
                for r in range(args.rounds):
                    peak = [before]
                    took = await run_round(ctx, server, refs, args.pages, args.parallel, peak)
                    log(f'round {r + 1}: {args.pages} pages in {took:.0f} s, peak RSS {peak[0]:.1f} MB; settling')
                    await settle(server, args.probe, args.idle)
                    after = server.rss_mb()
                    log(f'round {r + 1}: RSS after {after:.1f} MB')
                    result['rss_peak_mb'].append(round(peak[0], 1))
                    result['rss_after_mb'].append(round(after, 1))
                    result['seconds'].append(round(took, 1))
                    if args.probe:
                        p = probe(server, 'diff')
                        result.setdefault('probe_after', []).append(
                            {k: v for k, v in p.items() if k not in ('top_types', 'trace_top')})
                        if args.verbose:
                            print(json.dumps({'top_types': p['top_types'], 'trace_top': p.get('trace_top')},
                                             indent=1))
                await ctx.close()
            finally:
                await browser.close()
    finally:
        server.stop()
        if args.keep:
            log(f'kept {data_dir}')
        else:
            shutil.rmtree(data_dir, ignore_errors=True)
    result['pages_failed'] = len(FAILED)
    last = result['rss_after_mb'][-1]
    result['growth_pct'] = round((last - result['rss_before_mb']) / result['rss_before_mb'] * 100, 1)
    result['ok'] = result['growth_pct'] <= 10
    print(f"RSS before {result['rss_before_mb']} MB · peak {result['rss_peak_mb']} MB · after {result['rss_after_mb']} MB"
          f" · growth {result['growth_pct']} % ({'within' if result['ok'] else 'over'} 10 %)")
    print(json.dumps(result))
    return 0 if result['ok'] else 1


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--pages', type=int, default=1000, help='ticket pages opened and closed per round')
    p.add_argument('--rounds', type=int, default=2, help='rounds in a row (a leak grows every round)')
    p.add_argument('--parallel', type=int, default=3, help='tabs open at the same time')
    p.add_argument('--idle', type=float, default=10.0, help='seconds of idle after the closed tabs are gone')
    p.add_argument('--user', default='anna@pulse.demo')
    p.add_argument('--port', type=int, default=0)
    p.add_argument('--bus-url', default='', help='PULSE_BUS_URL for the server (default: in-process bus)')
    p.add_argument('--app-dir', default=str(REPO), help='serve another checkout (e.g. `git archive HEAD` unpacked)')
    p.add_argument('--probe', action='store_true', help="also read the server's counts (benchmarks/_probe_server.py)")
    p.add_argument('--verbose', action='store_true', help='with --probe: object types and tracemalloc growth')
    p.add_argument('--no-trim', action='store_true', help='server without malloc_trim (to measure what it gives back)')
    p.add_argument('--keep', action='store_true', help='keep the temporary data directory (server.log)')
    args = p.parse_args()
    sys.exit(asyncio.run(main_async(args)))


if __name__ == '__main__':
    main()
