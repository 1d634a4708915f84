#!/usr/bin/env python3
"""Live updates at scale (issue 16, item 6): runs (a), (b) and (c), and one JSON line with all of them.

* (a) 1 browser + 100 simulated viewers on one ticket: ``live_latency.py --viewers 1 --sim-clients 100 --messages 30``
* (b) 1,000 simulated clients spread over 100 tickets, 1 message per second overall (this script, below)
* (c) 10 Chromium viewers on one ticket: ``live_latency.py`` with its defaults (10 viewers, 50 messages)

(a) and (c) run ``live_latency.py`` as a subprocess and take its last line. (b): the demo server (as live_latency.py
starts it), more tickets made through the services until there are ``--tickets``, the demo agents logged in once in
Chromium (only for their session cookies), then ``--clients`` simulated socket clients (live_latency.py's: the ticket
page over HTTP, its socket like the browser's, no DOM) opened round-robin over the tickets, and ``--posters`` simulated
posters on the first tickets, each its own ticket page sending the composer's value and Send as the page's JavaScript
does. The posters take turns: one message every ``--interval`` seconds overall. Latency = when a simulated client of
that ticket received the message minus its commit time (``ticket_events.created_at``). RSS per client = the server's
RSS growth from before the clients connected to after, divided by the clients.

    .venv/bin/python benchmarks/live_scale.py                         # a, b and c
    .venv/bin/python benchmarks/live_scale.py --runs b                # b only
    .venv/bin/python benchmarks/live_scale.py --runs b --clients 200 --tickets 20 --messages 20

Run it under ``flock /tmp/bench.lock``. The last line is one JSON object:
``{"runs": [{"name", "clients", "p50_ms", "p95_ms", "max_ms", "server_cpu_ms_per_message", "rss_mb_per_client",
"viewer_page_cpu_ms_per_message", …}]}``.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import live_latency as ll  # noqa: E402 (the sibling script: server, simulated clients, helpers)

MAKE_TICKETS = r'''
import asyncio, sys
from sqlalchemy import func, select
from pulse_live import db
from pulse_live.config import get_settings
from pulse_live.models import Ticket, User
from pulse_live.notify import planner
from pulse_live.services import tickets

async def main(want: int) -> None:
    db.init(get_settings().database_url)
    async with db.session() as s:
        have = (await s.execute(select(func.count()).select_from(Ticket).where(Ticket.status != 'closed'))).scalar_one()
        anna = (await s.execute(select(User).where(User.email == 'anna@pulse.demo'))).scalar_one()
        carl = (await s.execute(select(User).where(User.email == 'carl@acme.demo'))).scalar_one()
    with planner.quiet():
        for i in range(have, want):
            await tickets.create_ticket(actor=anna, title=f'Scale ticket {i}', customer_id=carl.id)
    await db.dispose()
asyncio.run(main(int(sys.argv[1])))
'''


def open_tickets(db_path: Path, n: int) -> list[str]:
    import sqlite3
    with sqlite3.connect(f'file:{db_path}?mode=ro', uri=True) as con:
        rows = con.execute("SELECT reference FROM tickets WHERE status != 'closed' ORDER BY id LIMIT ?", (n,))
        return [r[0] for r in rows]


async def run_b(args, server: ll.Server, nonce: str) -> dict:
    from playwright.async_api import async_playwright
    subprocess.run([sys.executable, '-c', MAKE_TICKETS, str(args.tickets)], env=server.env, cwd=server.data_dir,
                   check=True, timeout=600)
    refs = open_tickets(server.db_path, args.tickets)
    ll.log(f'{len(refs)} open tickets')
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=os.environ.get('PULSE_CHROMIUM') or '/usr/bin/chromium',
                                           headless=True, args=ll.CHROMIUM_ARGS)
        try:
            cookies = []
            for email in ll.AGENTS:
                state = await ll.login_state(browser, server.base_url, email)
                cookies.append('; '.join(f"{c['name']}={c['value']}" for c in state['cookies']))
            poster_state = await ll.login_state(browser, server.base_url, ll.POSTER)
        finally:
            await browser.close()
    poster_cookie = '; '.join(f"{c['name']}={c['value']}" for c in poster_state['cookies'])

    posters: list[ll.SimPoster] = []
    sims: list[tuple[str, ll.SimClient]] = []
    try:
        await asyncio.sleep(args.settle)
        rss_before = server.rss_mb()
        t0 = time.monotonic()
        limit = asyncio.Semaphore(args.open_concurrency)
        failed = [0]

        async def open_one(i: int) -> None:
            ref = refs[i % len(refs)]
            sim = ll.SimClient(server.base_url, f'/tickets/{ref}', cookies[i % len(cookies)], nonce)
            async with limit:
                try:
                    await sim.start()
                except Exception as e:  # noqa: BLE001 (counted and reported)
                    failed[0] += 1
                    ll.log(f'client {i} did not connect: {e!r}')
                    return
            sims.append((ref, sim))
            if len(sims) % 100 == 0:
                ll.log(f'{len(sims)} clients connected ({time.monotonic() - t0:.0f} s), '
                       f'server RSS {server.rss_mb():.0f} MB')
        await asyncio.gather(*(open_one(i) for i in range(args.clients)))
        await asyncio.sleep(args.settle)
        rss_after = server.rss_mb()
        per_client = (rss_after - rss_before) / max(1, len(sims))
        ll.log(f'{len(sims)} clients in {time.monotonic() - t0:.0f} s; server RSS {rss_before:.0f} → '
               f'{rss_after:.0f} MB ({per_client:.3f} MB per client)')

        # the posters last (connected during a long connect phase, a socket may go before the posting starts)
        for ref in refs[:args.posters]:
            p = ll.SimPoster(server.base_url, f'/tickets/{ref}', poster_cookie, nonce)
            await p.start()
            posters.append(p)
        post_errors = [0]

        async def post(poster: ll.SimPoster, text: str, token: str) -> None:
            try:
                await poster.post(text, token, timeout=30)
            except Exception as e:  # noqa: BLE001 (counted and reported)
                post_errors[0] += 1
                ll.log(f'{token}: not sent ({e!r})')
        tokens: dict[str, str] = {}  # token → ticket
        load_before = os.getloadavg()[0]
        cpu_before = server.cpu_seconds()
        machine_before = ll.machine_busy_seconds()
        self_before = ll.cpu_seconds(os.getpid())
        t0 = time.monotonic()
        sends = []
        for i in range(args.messages):
            poster = posters[i % len(posters)]
            token = f'bench-{i}-{nonce}'
            tokens[token] = poster.path.rsplit('/', 1)[-1]
            sends.append(asyncio.create_task(post(poster, f'Scale message {i}: {token}', token)))
            await asyncio.sleep(max(0.0, t0 + (i + 1) * args.interval - time.monotonic()))
        await asyncio.gather(*sends)
        post_s = time.monotonic() - t0
        cpu_post = server.cpu_seconds() - cpu_before
        cpu_machine = ll.machine_busy_seconds() - machine_before
        cpu_self = ll.cpu_seconds(os.getpid()) - self_before
        load_after = os.getloadavg()[0]
        end = time.monotonic() + args.grace
        while time.monotonic() < end and not all(t in s.seen for t, ref in tokens.items() for r, s in sims if r == ref):
            await asyncio.sleep(0.5)
    finally:
        for _, sim in sims:
            await sim.stop()
        for p in posters:
            await p.stop()

    committed = ll.commit_times(server.db_path, nonce)
    lat, missed = [], 0
    for token, ref in tokens.items():
        if token not in committed:
            continue
        for r, sim in sims:
            if r != ref:
                continue
            if token not in sim.seen:
                missed += 1
            elif token in committed:
                lat.append(sim.seen[token] - committed[token])
    s = ll.summary(lat)
    posted = len(tokens)
    result = {'name': 'b', 'clients': len(sims), 'p50_ms': s['p50'], 'p95_ms': s['p95'], 'max_ms': s['max'],
              'server_cpu_ms_per_message': round(cpu_post * 1000 / max(1, posted), 1),
              'rss_mb_per_client': round(per_client, 3), 'viewer_page_cpu_ms_per_message': None,
              'tickets': len(refs), 'posters': len(posters), 'messages': posted, 'samples': len(lat),
              'missed': missed, 'clients_failed': failed[0], 'post_errors': post_errors[0],
              'post_s': round(post_s, 1),
              'server_cpu_share_of_a_core': round(cpu_post / max(0.001, post_s), 3),
              'other_cpu_s': round(max(0.0, cpu_machine - cpu_post - cpu_self), 1), 'bench_cpu_s': round(cpu_self, 1),
              'loadavg_1m': [round(load_before, 2), round(load_after, 2)], 'rss_mb': [rss_before, rss_after],
              'app': ll.app_version(args.app_dir)}
    print(f'run b: {len(sims)} clients on {len(refs)} tickets, {posted} messages in {post_s:.0f} s: delivered p50 '
          f'{s["p50"]} / p95 {s["p95"]} / max {s["max"]} ms ({len(lat)} samples, {missed} missed); server CPU '
          f'{result["server_cpu_ms_per_message"]} ms per message ({result["server_cpu_share_of_a_core"]:.0%} of a '
          f'core); RSS {per_client:.3f} MB per client; load {load_before:.1f} → {load_after:.1f}')
    return result


def run_b_guarded(args) -> dict:
    data_dir = Path(tempfile.mkdtemp(prefix='pulse-scale-'))
    server = ll.Server(data_dir, ll.free_port(), '', app_dir=args.app_dir.resolve())
    try:
        ll.log(f'run b: starting the server on {server.base_url} (data in {data_dir})')
        server.start(timeout=300)
        return asyncio.run(asyncio.wait_for(run_b(args, server, secrets.token_hex(4)), args.timeout))
    finally:
        server.stop()
        if not args.keep:
            import shutil
            shutil.rmtree(data_dir, ignore_errors=True)


def run_latency(name: str, extra: list[str], args) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve().parent / 'live_latency.py'), '--app-dir', str(args.app_dir),
           *extra]
    ll.log(f'run {name}: {" ".join(cmd[1:])}')
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout + 60)
    sys.stdout.write(proc.stdout)
    sys.stderr.write(proc.stderr[-3000:])
    r = json.loads(proc.stdout.strip().splitlines()[-1])
    clients = r['viewers'] + (r.get('sim_clients') or 0)
    rss = r.get('rss_mb_per_sim_client') if r.get('sim_clients') else r.get('rss_mb_per_viewer')
    p = (r.get('sim_p50_ms'), r.get('sim_p95_ms'), r.get('sim_max_ms')) if r.get('sim_clients') else \
        (r['p50_ms'], r['p95_ms'], r['max_ms'])
    # (a): the browser viewer's and the simulated viewers' samples are reported apart by live_latency.py; the run's
    # figure is the worse of the two
    if r.get('sim_clients'):
        p = tuple(max(x, y) if x is not None and y is not None else x or y
                  for x, y in zip(p, (r['p50_ms'], r['p95_ms'], r['max_ms']), strict=True))
    return {'name': name, 'clients': clients, 'p50_ms': p[0], 'p95_ms': p[1], 'max_ms': p[2],
            'server_cpu_ms_per_message': r.get('server_cpu_ms_per_message'), 'rss_mb_per_client': rss,
            'viewer_page_cpu_ms_per_message': r.get('viewer_page_cpu_ms_per_message'),
            'browser_p50_ms': r['p50_ms'], 'browser_p95_ms': r['p95_ms'], 'loadavg_1m': r.get('loadavg_1m'),
            'other_cpu_s': r.get('other_cpu_s'), 'missed': r.get('missed', 0) + r.get('sim_missed', 0),
            'app': r.get('app')}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--runs', default='a,b,c', help='which runs, comma-separated (default a,b,c)')
    p.add_argument('--clients', type=int, default=1000, help='(b) simulated clients (default 1000)')
    p.add_argument('--tickets', type=int, default=100, help='(b) tickets they are spread over (default 100)')
    p.add_argument('--posters', type=int, default=20, help='(b) simulated posters, each on its own ticket (20)')
    p.add_argument('--messages', type=int, default=60, help='(b) messages (default 60)')
    p.add_argument('--interval', type=float, default=1.0, help='(b) seconds between messages overall (default 1)')
    p.add_argument('--open-concurrency', type=int, default=8, help='(b) clients connecting at once (default 8)')
    p.add_argument('--settle', type=float, default=2.0, help='seconds before reading the RSS (default 2)')
    p.add_argument('--grace', type=float, default=10.0, help='(b) seconds to wait for late deliveries (default 10)')
    p.add_argument('--timeout', type=float, default=1500, help='per run, seconds (default 1500)')
    p.add_argument('--app-dir', type=Path, default=ll.REPO, help='serve another checkout (default: this tree)')
    p.add_argument('--keep', action='store_true', help='(b) keep the temporary data directory')
    args = p.parse_args(argv)
    runs = []
    for name in [n.strip() for n in args.runs.split(',') if n.strip()]:
        if name == 'a':
            runs.append(run_latency('a', ['--viewers', '1', '--sim-clients', '100', '--messages', '30',
                                          '--timeout', str(int(args.timeout))], args))
        elif name == 'b':
            runs.append(run_b_guarded(args))
        elif name == 'c':
            runs.append(run_latency('c', ['--viewers', '10', '--timeout', str(int(args.timeout))], args))
        else:
            p.error(f'unknown run {name!r}')
    print(json.dumps({'runs': runs}))
    return 0


if __name__ == '__main__':
    sys.exit(main())
