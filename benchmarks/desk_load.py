#!/usr/bin/env python3
"""The desk under load: N simulated agents working a few tickets on one process (default SQLite).

Starts ``pulse-live serve --demo`` like ``live_latency.py`` (fresh temporary data directory, SQLite, in-process bus),
logs in every agent over the socket (no browser: the login page's own socket events, then ``/login/finish``; the
demo's staff accounts in turn, each agent its own session) and lets each agent work in a closed loop for a while:

  post      on its ticket page: the composer's value and the Send click as the page's JavaScript sends them; done
            when its own page got the message back
  field     on its ticket page: a new Work-around text (the first time on a page ``focusin`` of the field's face,
            which builds its editor, components/details.py; then ``update:value`` + ``blur`` of that editor); done
            when its own page shows the history entry naming the new text (or a refusal notice, counted as refused)
  ticket    opens another of the tickets: in place, as a click on a link to it does in the browser (the page's
            ``pulse_open`` event, components/in_app.py; done when the new ticket's side column arrived), or, with
            ``--documents`` or against an app without it, as a new document (HTTP page + socket connect; the previous
            page's socket is closed)
  list      opens the ticket list ``/tickets`` as a new document; from a list the next action is opening a ticket

after a short think time (``--think``, uniform 0…2× the mean), or paced (``--rate R``: the agents together start R
actions per second, each one every agents/R s on average, at once when it is behind — a run at the target's 50 asks
exactly that load, where the think time asks as much as the server gives and measures its queue). Round trip = action start → done. An action that is
not done within ``--action-timeout`` s counts as an error, as does every notice containing "database is locked" or
"error" and every traceback in the server log.

    .venv/bin/python benchmarks/desk_load.py                          # 30 agents, 10 tickets, 60 s
    .venv/bin/python benchmarks/desk_load.py --agents 10 --seconds 20
    .venv/bin/python benchmarks/desk_load.py --rate 50 --seconds 40    # paced at 50 actions/s offered

The last line is one JSON object: ``agents``, ``actions_per_s``, ``p95_ms``, ``errors`` (+ per-kind figures,
refusals, server CPU per action, load average; ``offered_per_s`` when paced).
"""
from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import contextlib
import json
import os
import random
import re
import secrets
import shutil
import signal
import sqlite3
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from live_latency import REPO, Server, SimClient, free_port, log, percentile  # noqa: E402

STAFF = ('anna@pulse.demo', 'ben@pulse.demo', 'daniel@pulse.demo', 'maria@pulse.demo')
PASSWORD = 'demo'


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def session_cookie(headers) -> str | None:
    for value in headers.get_all('Set-Cookie') or []:
        m = re.match(r'(session=[^;]*)', value)
        if m:
            return m.group(1)
    return None


class Page(SimClient):
    """One open page of an agent: records every token it received and every notice (``notify``) it showed."""

    def __init__(self, base_url: str, path: str, cookie: str, nonce: str) -> None:
        super().__init__(base_url, path, cookie, nonce)
        self.notices: list[str] = []
        self.toasts = 0
        self.opened: str | None = None
        self.new_token = asyncio.Event()
        self.sent_elements: dict = {}  # elements that came over the socket (the ticket page's side column does)
        self.deleted: set[str] = set()  # elements the server removed since (a ticket opened in place)

    async def _on_any(self, event: str, data=None) -> None:
        before = len(self.seen)
        await super()._on_any(event, data)
        if event == 'notify' and isinstance(data, dict):
            if data.get('type') in ('warning', 'negative'):  # a refusal or an error; news of others' changes aside
                self.notices.append(str(data.get('message', '')))
                self.new_token.set()
            else:
                self.toasts += 1
        elif event == 'update' and isinstance(data, dict):
            for element_id, element in data.items():
                if element is None:
                    self.sent_elements.pop(element_id, None)
                    self.deleted.add(element_id)
                elif isinstance(element, dict):  # not the message's own keys (its sequence number)
                    self.sent_elements[element_id] = element
                    self.deleted.discard(element_id)
            self.new_token.set()
        elif event == 'open' and isinstance(data, dict):
            self.opened = str(data.get('path'))
            self.new_token.set()
        if len(self.seen) != before:
            self.new_token.set()

    timed = None  # called with a phase's name when the page's HTML arrived (navigate's breakdown)

    def _fetch_page(self) -> str:
        req = urllib.request.Request(self.base_url + self.path, headers={'Cookie': self.cookie})
        with urllib.request.urlopen(req, timeout=30) as r:
            self.cookie = session_cookie(r.headers) or self.cookie  # the socket sends what the browser would
            html = r.read().decode()
        if self.timed is not None:
            self.timed('page HTML')
        return html

    def elements(self) -> dict:
        """The elements of the page's HTML and those sent over the socket since (newest wins)."""
        if getattr(self, '_parsed_for', None) is not self.html:
            m = re.search(r'parseElements\(String\.raw`(.*?)`\)', self.html, re.S)
            self._parsed, self._parsed_for = (json.loads(m.group(1)) if m else {}), self.html
        merged = {**self._parsed, **self.sent_elements}
        for element_id in self.deleted:
            merged.pop(element_id, None)
        return merged

    async def wait_listener(self, predicate, event_type: str, timeout: float = 30, *,
                            after: int = -1) -> tuple[int, str]:
        """``listener``, waiting for elements built after the socket connected (the ticket page's side column)."""
        end = time.monotonic() + timeout
        while True:
            try:
                return self.listener(predicate, event_type, after=after)
            except RuntimeError:
                if time.monotonic() >= end:
                    raise
            self.new_token.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.new_token.wait(), 0.2)

    def listener(self, predicate, event_type: str, *, after: int = -1) -> tuple[int, str]:
        """The listener of the first element that matches (of those with an id above ``after``: built since)."""
        for element_id, element in sorted(self.elements().items(), key=lambda kv: int(kv[0])):
            if int(element_id) > after and predicate(element):
                for event in element.get('events') or []:
                    if event.get('type') == event_type or event_type == 'any':
                        return int(element_id), event['listener_id']
        raise RuntimeError(f'no {event_type} listener on {self.path}')

    async def send(self, target: tuple[int, str], *args) -> None:
        await self.sio.emit('event', {'id': target[0], 'client_id': self.client_id, 'listener_id': target[1],
                                      'args': [json.dumps(a) for a in args]})

    async def wait_for(self, token: str, notices_before: int, timeout: float) -> str:
        """'done' when the token arrived, 'refused' on a notice, 'timeout' otherwise."""
        end = time.monotonic() + timeout
        while True:
            if token in self.seen:
                return 'done'
            if len(self.notices) > notices_before:
                return 'refused'
            left = end - time.monotonic()
            if left <= 0:
                return 'timeout'
            self.new_token.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.new_token.wait(), min(left, 0.5))


def face_of(element: dict, field: str) -> bool:
    """A detail field's face (components/details.py): one HTML element showing the field."""
    return f'data-face="{field}"' in str((element.get('props') or {}).get('innerHTML', ''))


def labelled(tag: str, label: str):
    return lambda e: e.get('tag') == tag and (e.get('props') or {}).get('label') == label


async def login(base_url: str, email: str, nonce: str) -> str:
    """Sign in over the login page's socket like the browser does; the new session's cookie."""
    page = Page(base_url, '/login', '', nonce)
    await page.start()
    cookie = page.cookie
    try:
        email_in = page.listener(labelled('nicegui-input', 'Email'), 'update:value')
        password_in = page.listener(labelled('nicegui-input', 'Password'), 'update:value')
        button = page.listener(labelled('q-btn', 'Log in'), 'click')
        await page.send(email_in, email)
        await page.send(password_in, PASSWORD)
        await page.send(button)
        end = time.monotonic() + 60
        while page.opened is None and time.monotonic() < end:
            await asyncio.sleep(0.02)
        if not page.opened or 'nonce=' not in page.opened:
            raise RuntimeError(f'login of {email} did not finish: {page.opened!r} {page.notices}')
    finally:
        await page.stop()

    def finish() -> str:
        opener = urllib.request.build_opener(NoRedirect)
        req = urllib.request.Request(base_url + page.opened, headers={'Cookie': cookie})
        try:
            opener.open(req, timeout=30)
        except urllib.error.HTTPError as e:  # the 303 is an "error" without redirects
            new = session_cookie(e.headers)
            if new:
                return new
        raise RuntimeError('/login/finish gave no new session')
    return await asyncio.to_thread(finish)


class Agent:
    def __init__(self, n: int, base_url: str, cookie: str, refs: list[str], nonce: str, args, stats) -> None:
        self.n, self.base_url, self.cookie, self.refs, self.nonce = n, base_url, cookie, refs, nonce
        self.args, self.stats = args, stats
        self.page: Page | None = None
        self.on_ticket = False
        self.rng = random.Random(n)
        self.counter = 0

    async def navigate(self, path: str) -> None:
        phases = self.stats.setdefault('phases', {})
        t = time.monotonic()

        def lap(name: str) -> None:
            nonlocal t
            now = time.monotonic()
            phases.setdefault(name, []).append((now - t) * 1000)
            t = now

        ticket = path.startswith('/tickets/')
        in_place = None
        if ticket and self.page is not None and not self.args.documents:
            with contextlib.suppress(RuntimeError):  # a page that offers it: the work lists and a ticket
                in_place = self.page.listener(lambda e: True, 'pulse_open')
        after = -1
        if in_place is not None:  # what a click on a link to a ticket does in the browser (components/in_app.py)
            page = self.page
            after = max((int(i) for i in page.elements()), default=-1)
            await page.send(in_place, {'path': path})
        else:
            old, self.page = self.page, None
            if old is not None:
                await old.stop()
            lap('close the old socket')
            page = Page(self.base_url, path, self.cookie, self.nonce)
            page.timed = lap
            await page.start()
            lap('socket connected')
            self.page = page
        self.on_ticket = ticket
        if self.on_ticket:
            self.composer = await page.wait_listener(
                lambda e: e.get('tag') == 'nicegui-input'
                and str((e.get('props') or {}).get('placeholder', '')).startswith('Write a message'), 'update:value',
                after=after)
            self.send_button = page.listener(
                lambda e: e.get('tag') == 'q-btn' and str((e.get('props') or {}).get('label', '')).startswith('Send'),
                'click', after=after)
            if in_place is not None:
                lap('in place: first part arrived')
            # the detail fields are in the side column, built after the socket connected (pages/ticket.py): each is
            # its face until the user goes into it, then its editor (components/details.py; an app from before the
            # faces has the editor at once)
            self.after = after
            self.workaround = self.workaround_blur = None
            editor = labelled('nicegui-input', 'Work-around')
            await page.wait_listener(lambda e: face_of(e, 'workaround') or editor(e), 'any', after=after)
            try:
                self.workaround_face = page.listener(lambda e: face_of(e, 'workaround'), 'focusin', after=after)
            except RuntimeError:
                await self._find_workaround(page)
            lap('side column arrived')

    async def _find_workaround(self, page: Page) -> None:
        self.workaround = await page.wait_listener(labelled('nicegui-input', 'Work-around'), 'update:value',
                                                   after=self.after)
        self.workaround_blur = page.listener(labelled('nicegui-input', 'Work-around'), 'blur', after=self.after)

    def token(self) -> str:
        self.counter += 1
        return f'bench-{self.n * 100000 + self.counter}-{self.nonce}'

    async def act(self, deadline: float) -> None:
        await self.navigate(f'/tickets/{self.rng.choice(self.refs)}')
        pace = self.args.agents / self.args.rate if self.args.rate else 0.0  # each agent's mean time between starts
        next_at = time.monotonic() + self.rng.uniform(0, 2 * pace)
        while time.monotonic() < deadline:
            if pace:  # paced: the next action starts on its schedule, at once when this agent is behind it
                await asyncio.sleep(max(0.0, next_at - time.monotonic()))
                next_at = max(next_at, time.monotonic()) + self.rng.uniform(0, 2 * pace)
            else:
                await asyncio.sleep(self.rng.uniform(0, 2 * self.args.think))
            if time.monotonic() >= deadline:
                break
            if not self.on_ticket:
                kind = 'ticket'
            else:
                kind = self.rng.choices(('post', 'field', 'ticket', 'list'), weights=(40, 25, 20, 15))[0]
            started = time.monotonic()
            outcome = 'done'
            try:
                if kind in ('ticket', 'list'):
                    await asyncio.wait_for(self.navigate(
                        f'/tickets/{self.rng.choice(self.refs)}' if kind == 'ticket' else '/tickets'),
                        self.args.action_timeout)
                else:
                    page = self.page
                    assert page is not None
                    token = self.token()
                    notices = len(page.notices)
                    if kind == 'post':
                        await page.send(self.composer, f'Agent {self.n} says {token}')
                        await page.send(self.send_button)
                    else:
                        if self.workaround is None:  # the field's face: going into it builds the editor
                            await page.send(self.workaround_face)
                            await asyncio.wait_for(self._find_workaround(page), self.args.action_timeout)
                        await page.send(self.workaround, f'Restart the spooler ({token})')
                        await page.send(self.workaround_blur)
                    outcome = await page.wait_for(token, notices, self.args.action_timeout)
                    if outcome == 'refused':
                        self.stats['notices'].extend(page.notices[notices:])
            except Exception as e:  # noqa: BLE001 (counted, the agent goes on with a fresh page)
                outcome = 'timeout' if isinstance(e, TimeoutError) else 'failed'
                self.stats['failures'].append(f'{kind}: {type(e).__name__}: {e}'[:200])
                self.page = None
                self.on_ticket = False
            if time.monotonic() > deadline + self.args.action_timeout:
                break
            self.stats['actions'].append((kind, outcome, (time.monotonic() - started) * 1000, started))

    async def stop(self) -> None:
        if self.page is not None:
            await self.page.stop()


def open_tickets(db_path: Path, count: int) -> list[str]:
    with sqlite3.connect(f'file:{db_path}?mode=ro', uri=True) as con:
        rows = con.execute("SELECT reference FROM tickets WHERE status IN ('open', 'in_progress') "
                           'ORDER BY id LIMIT ?', (count,)).fetchall()
    return [r[0] for r in rows]


async def run(args, server: Server, nonce: str) -> dict:
    # each page's HTML is fetched in a thread: enough of them that agents never queue for one in this process
    asyncio.get_running_loop().set_default_executor(concurrent.futures.ThreadPoolExecutor(args.agents + 8))
    refs = open_tickets(server.db_path, args.tickets)
    log(f'{len(refs)} tickets: {", ".join(refs)}')
    cookies = []
    for i in range(args.agents):
        cookies.append(await login(server.base_url, STAFF[i % len(STAFF)], nonce))
    log(f'{args.agents} agents signed in')
    stats: dict = {'actions': [], 'notices': [], 'failures': []}
    agents = [Agent(i, server.base_url, c, refs, nonce, args, stats) for i, c in enumerate(cookies)]
    load_before = os.getloadavg()[0]
    cpu_before = server.cpu_seconds()
    t0 = time.monotonic()
    deadline = t0 + args.seconds
    try:
        await asyncio.gather(*(a.act(deadline) for a in agents))
    finally:
        elapsed = time.monotonic() - t0
        cpu = server.cpu_seconds() - cpu_before
        load_after = os.getloadavg()[0]
        await asyncio.gather(*(a.stop() for a in agents), return_exceptions=True)
    return {'stats': stats, 'elapsed': elapsed, 'cpu': cpu, 'load': (load_before, load_after), 'refs': refs,
            't0': t0}


def report(args, r: dict, server: Server) -> dict:
    stats = r['stats']
    in_window = [a for a in stats['actions'] if a[3] < r['t0'] + args.seconds]
    done = [a for a in in_window if a[1] in ('done', 'refused')]
    errors_timeouts = [a for a in in_window if a[1] in ('timeout', 'failed')]
    log_text = server.log_path.read_text(errors='replace')
    locked_log = log_text.count('database is locked')
    tracebacks = log_text.count('Traceback (most recent call last)')
    locked_notices = sum('database is locked' in n.lower() for n in stats['notices'])
    error_notices = sum(('error' in n.lower() or 'locked' in n.lower()) and 'database is locked' not in n.lower()
                        for n in stats['notices'])
    errors = len(errors_timeouts) + locked_notices + error_notices + tracebacks + (locked_log if not tracebacks else 0)
    lat = [a[2] for a in done]
    per_kind = {}
    for kind in ('post', 'field', 'ticket', 'list'):
        v = [a[2] for a in done if a[0] == kind]
        per_kind[kind] = {'n': len(v), 'p50_ms': round(percentile(v, 50), 1) if v else None,
                          'p95_ms': round(percentile(v, 95), 1) if v else None}
    refused = sum(a[1] == 'refused' for a in in_window)
    rate = len(done) / args.seconds
    cpu_per_action = r['cpu'] * 1000 / max(1, len(stats['actions']))
    print()
    print(f'Pulse Live desk load — {args.agents} agents on {len(r["refs"])} tickets for {args.seconds:.0f} s, '
          + (f'paced at {args.rate:g} actions/s offered' if args.rate else f'think time {args.think * 1000:.0f} ms mean'))
    print(f'  actions completed: {len(done)} ({rate:.1f}/s), refused with a notice: {refused}, '
          f'not done in {args.action_timeout:.0f} s or failed: {len(errors_timeouts)}')
    print(f'  round trip: p50 {percentile(lat, 50):.0f} ms  p95 {percentile(lat, 95):.0f} ms  '
          f'max {max(lat, default=0):.0f} ms')
    for kind, f in per_kind.items():
        print(f'    {kind:<7} n={f["n"]:<5} p50 {f["p50_ms"]} ms  p95 {f["p95_ms"]} ms')
    for name, v in stats.get('phases', {}).items():
        print(f'    opening a page, {name + ":":<22} p50 {percentile(v, 50):.0f} ms  p95 {percentile(v, 95):.0f} ms '
              f'(n={len(v)}, from the previous step)')
    print(f'  server CPU {r["cpu"]:.1f} s in {r["elapsed"]:.1f} s ({100 * r["cpu"] / r["elapsed"]:.0f} % of a core), '
          f'{cpu_per_action:.0f} ms per action')
    print(f'  "database is locked": {locked_notices} notices, {locked_log} in the log; tracebacks in the log: '
          f'{tracebacks}; other error notices: {error_notices}')
    for n in sorted(set(stats['notices']))[:8]:
        print(f'    notice: {n[:150]}')
    for f in stats['failures'][:5]:
        print(f'    failure: {f}')
    print(f'  load average {r["load"][0]:.1f} → {r["load"][1]:.1f} on {os.cpu_count()} CPUs')
    return {'agents': args.agents, 'actions_per_s': round(rate, 1), 'p95_ms': round(percentile(lat, 95), 1),
            'errors': errors, 'p50_ms': round(percentile(lat, 50), 1), 'max_ms': round(max(lat, default=0), 1),
            'actions': len(done), 'refused': refused, 'timeouts': len(errors_timeouts),
            'locked_notices': locked_notices, 'locked_in_log': locked_log, 'tracebacks': tracebacks,
            'server_cpu_ms_per_action': round(cpu_per_action, 1),
            'server_cpu_share': round(r['cpu'] / r['elapsed'], 2), 'per_kind': per_kind,
            'loadavg_1m': round(max(r['load']), 2), 'tickets': len(r['refs']), 'seconds': args.seconds,
            'offered_per_s': args.rate or None}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--agents', type=int, default=30)
    p.add_argument('--tickets', type=int, default=10)
    p.add_argument('--seconds', type=float, default=60)
    p.add_argument('--think', type=float, default=0.2, help='mean think time between actions in s (default 0.2)')
    p.add_argument('--rate', type=float, default=0,
                   help='paced instead of think time: the agents together start this many actions per second '
                        '(each agent one every agents/rate s on average, at once when it is behind)')
    p.add_argument('--action-timeout', type=float, default=15)
    p.add_argument('--documents', action='store_true',
                   help='open every ticket as a new document (HTTP page + socket), never in place')
    p.add_argument('--app-dir', type=Path, default=REPO)
    p.add_argument('--bus-url', default='')
    p.add_argument('--port', type=int, default=0)
    p.add_argument('--profile', action='store_true',
                   help='run py-spy (from the venv) against the server during the run; prints the top functions')
    p.add_argument('--profile-rate', type=int, default=50, help="py-spy's samples per second (default 50)")
    p.add_argument('--keep', action='store_true', help='keep the data directory (and the profile, prof.txt)')
    return p.parse_args(argv)


def py_spy_top(raw: Path, n: int = 25) -> None:
    """Inclusive time per function from py-spy's raw (collapsed stacks) output."""
    inclusive: dict[str, int] = {}
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(' ')
        if not count.isdigit():
            continue
        c = int(count)
        total += c
        for frame in set(stack.split(';')):
            inclusive[frame] = inclusive.get(frame, 0) + c
    print(f'  py-spy: {total} samples; inclusive share of the top functions:')
    for frame, c in sorted(inclusive.items(), key=lambda kv: -kv[1])[:n]:
        print(f'    {100 * c / max(1, total):5.1f} %  {frame[:150]}')


def main(argv=None) -> int:
    args = parse_args(argv)
    data_dir = Path(tempfile.mkdtemp(prefix='pulse-desk-'))
    nonce = secrets.token_hex(4)
    server = Server(data_dir, args.port or free_port(), args.bus_url, app_dir=args.app_dir.resolve())
    spy = None
    try:
        log(f'starting the server on {server.base_url} (data in {data_dir})')
        server.start(timeout=300)  # the demo is seeded first: slow on a busy machine

        async def body():
            nonlocal spy
            task = asyncio.current_task()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, task.cancel)
            if args.profile:
                import subprocess
                spy = subprocess.Popen([str(Path(sys.executable).parent / 'py-spy'), 'record', '--nonblocking',
                                        '-r', str(args.profile_rate), '-f', 'raw', '-o', str(data_dir / 'prof.txt'),
                                        '-d', str(int(args.seconds + 40)), '--pid', str(server.proc.pid)],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            return await asyncio.wait_for(run(args, server, nonce), args.seconds + 240)
        r = asyncio.run(body())
        result = report(args, r, server)
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            spy.wait(timeout=30)
            if (data_dir / 'prof.txt').exists():
                py_spy_top(data_dir / 'prof.txt')
        print(json.dumps(result))
        return 0
    except (Exception, KeyboardInterrupt, asyncio.CancelledError) as e:  # noqa: BLE001
        print(f'benchmark failed ({type(e).__name__}): {e}', file=sys.stderr)
        print('--- server log (tail) ---\n' + server.tail(), file=sys.stderr)
        print(json.dumps({'agents': args.agents, 'actions_per_s': None, 'p95_ms': None, 'errors': None,
                          'error': f'{type(e).__name__}: {e}'[:300]}))
        return 1
    finally:
        if spy is not None and spy.poll() is None:
            spy.kill()
        server.stop()
        if args.keep:
            print(f'kept {data_dir}', file=sys.stderr)
        else:
            shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == '__main__':
    sys.exit(main())
