#!/usr/bin/env python3
"""Live-update latency of the ticket chatter, measured in real browsers.

Starts ``pulse-live serve --demo`` as a subprocess (fresh temporary data directory, SQLite), opens V viewer pages of
one ticket in headless Chromium (one browser, one context per viewer, logged in as the demo agents in turn), optionally
S simulated websocket clients (python-socketio, no browser), and posts M messages from a separate session of its own:
by default a simulated poster (a socket client that sends the composer's value and the Send click exactly as the
page's JavaScript does; a real sender's browser runs on the sender's machine, not on this one), or with
``--poster browser`` a Chromium page typing into the composer and clicking Send. Every viewer records, with a MutationObserver, when each message's unique
token first appears in its DOM. Latency = that moment minus the commit time of the message, read from
``ticket_events.created_at`` after the run (set just before the commit, so the figure slightly overstates latency); the
latency from the poster's click is printed too.

Usage (from the repository root):

    .venv/bin/python benchmarks/live_latency.py                  # 10 viewers, 50 messages
    .venv/bin/python benchmarks/live_latency.py --viewers 20 --sim-clients 20

The last line of output is one JSON object (viewers, messages, p50_ms, p95_ms, max_ms, rss_mb_per_viewer, …).
Loopback only; the server and the browser are stopped even on errors or Ctrl+C.
"""
from __future__ import annotations

import argparse
import ast
import asyncio
import json
import os
import re
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
HOST = '127.0.0.1'
AGENTS = ('anna@pulse.demo', 'ben@pulse.demo', 'daniel@pulse.demo')
POSTER = 'anna@pulse.demo'  # a separate login (own session) from the viewers' ones
PASSWORD = 'demo'
CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
                 '--no-first-run', '--disable-sync']

# Installed in every viewer before the page's own scripts: the first time a token of this run appears in the text
# of a chatter entry (.chatter-body), remember Date.now() for it. MutationObserver callbacks run as a microtask right
# after the DOM change, i.e. before the next paint. Only chatter bodies count: the notification toast and bell show
# the message text too, earlier than the chatter. The records live in sessionStorage, so they survive a reload of the
# page (NiceGUI reloads a page whose socket comes back after the server discarded its client); loads are counted.
OBSERVER_JS = r'''
(() => {
  const re = /bench-(\d+)-__NONCE__/g;
  window.__benchSeen = JSON.parse(sessionStorage.getItem('__benchSeen') || '{}');
  sessionStorage.setItem('__benchLoads', String(Number(sessionStorage.getItem('__benchLoads') || '0') + 1));
  const scan = (text, now) => {
    if (!text || text.indexOf('__NONCE__') < 0) return;
    let changed = false;
    for (const m of text.matchAll(re)) {
      if (!(m[0] in window.__benchSeen)) { window.__benchSeen[m[0]] = now; changed = true; }
    }
    if (changed) sessionStorage.setItem('__benchSeen', JSON.stringify(window.__benchSeen));
  };
  const visit = (node, now) => {
    const el = node.nodeType === 1 ? node : node.parentElement;
    if (!el) return;
    if (el.closest('.chatter-body')) { scan(node.textContent, now); return; }
    if (node.nodeType === 1 && node.textContent.indexOf('__NONCE__') >= 0) {
      for (const body of node.querySelectorAll('.chatter-body')) scan(body.textContent, now);
    }
  };
  const observer = new MutationObserver((records) => {
    const now = Date.now();
    for (const r of records) {
      if (r.type === 'characterData') { visit(r.target, now); continue; }
      for (const n of r.addedNodes) visit(n, now);
    }
  });
  const start = () => observer.observe(document.documentElement, {childList: true, subtree: true, characterData: true});
  if (document.documentElement) start(); else document.addEventListener('DOMContentLoaded', start);
})();
'''
# In the poster: when the Send button is clicked (capture phase, before NiceGUI's handler runs).
CLICK_JS = r'''
window.__benchClick = null;
document.addEventListener('click', (e) => {
  if (e.target.closest && e.target.closest('button') && e.target.closest('button').textContent.includes('Send')) {
    window.__benchClick = Date.now();
  }
}, true);
'''


def log(msg: str) -> None:
    print(f'[{time.strftime("%H:%M:%S")}] {msg}', flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def rss_mb(pid: int) -> float:
    for line in Path(f'/proc/{pid}/status').read_text().splitlines():
        if line.startswith('VmRSS:'):
            return int(line.split()[1]) / 1024
    raise RuntimeError('no VmRSS')


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads)."""
    fields = Path(f'/proc/{pid}/stat').read_text().rpartition(')')[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')


def descendants(root: int) -> list[int]:
    """Pids of all live descendants of ``root`` (for the browser: Playwright's driver is our child)."""
    children: dict[int, list[int]] = {}
    for entry in Path('/proc').iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / 'stat').read_text().rpartition(')')[2].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def cpu_of(pids) -> float:
    total = 0.0
    for pid in pids:
        try:
            total += cpu_seconds(pid)
        except (OSError, ValueError, IndexError):
            pass
    return total


def chromium_kind(pid: int) -> str | None:
    """'renderer', 'gpu-process', 'utility', 'zygote' … from the command line; 'browser' for the main process."""
    try:
        cmd = Path(f'/proc/{pid}/cmdline').read_bytes()
    except OSError:
        return None
    m = re.search(rb'--type=([a-z-]+)', cmd)  # Debian's wrapper joins the arguments with spaces
    if m:
        return m.group(1).decode()
    return 'browser' if b'chrom' in cmd.split(b'\0')[0].split(b' ')[0] else None


async def renderer_of(page, pids: list[int]) -> int | None:
    """The renderer process of a page: the one whose CPU time grows while the page spins for 150 ms."""
    before = {pid: cpu_of([pid]) for pid in pids}
    try:
        await page.evaluate('(() => { const t = Date.now(); while (Date.now() - t < 150) {} })()')
    except Exception:  # noqa: BLE001 (a reloading page: not attributed)
        return None
    grown = {pid: cpu_of([pid]) - before[pid] for pid in pids}
    best = max(grown, key=grown.get, default=None)
    return best if best is not None and grown[best] >= 0.05 else None


def machine_busy_seconds() -> float:
    """CPU seconds spent by all CPUs on anything but idle/iowait since boot."""
    values = [int(v) for v in Path('/proc/stat').read_text().splitlines()[0].split()[1:]]
    return (sum(values) - values[3] - values[4]) / os.sysconf('SC_CLK_TCK')


def percentile(values: list[float], p: float) -> float:
    """Linear interpolation between closest ranks (like numpy's default)."""
    s = sorted(values)
    if not s:
        return float('nan')
    k = (len(s) - 1) * p / 100
    lo = int(k)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def summary(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {'p50': None, 'p95': None, 'max': None}
    return {'p50': round(percentile(values, 50), 1), 'p95': round(percentile(values, 95), 1),
            'max': round(max(values), 1)}


# --- the server ---------------------------------------------------------------------------------------------------

class Server:
    def __init__(self, data_dir: Path, port: int, bus_url: str, trace_nonce: str | None = None,
                 what_if: str = '', app_dir: Path = REPO) -> None:
        self.data_dir, self.port = data_dir, port
        self.db_path = data_dir / 'pulse.db'
        self.log_path = data_dir / 'server.log'
        self.base_url = f'http://{HOST}:{port}'
        env = {k: v for k, v in os.environ.items() if not k.startswith('PULSE_')}
        env.pop('PYTEST_CURRENT_TEST', None)  # NiceGUI would think it runs in a screen test
        env.update({
            'PULSE_DATA_DIR': str(data_dir),
            'PULSE_DATABASE_URL': f'sqlite+aiosqlite:///{self.db_path}',
            'PULSE_BASE_URL': self.base_url,
            'PULSE_BUS_URL': bus_url,
            # the simulated viewers sign in as a few demo accounts: hundreds of pages per person here are many
            # people's pages in a real desk, so the per-person cap (50 by default; the oldest page is closed) is lifted
            'PULSE_MAX_PAGES_PER_USER': '5000',
            'PULSE_MAX_SOCKETS_PER_ADDRESS': '0',  # every simulated client comes from this machine's address
            'NICEGUI_STORAGE_PATH': str(data_dir / '.nicegui'),
            # ahead of the venv's editable install, so --app-dir can point at another checkout
            'PYTHONPATH': os.pathsep.join([str(app_dir), env.get('PYTHONPATH', '')]).rstrip(os.pathsep),
            'PYTHONUNBUFFERED': '1',
        })
        self.trace_path: Path | None = None
        self.command = [sys.executable, '-m', 'pulse_live.cli']
        if trace_nonce:  # timing probes wrapped around the app from the outside
            self.trace_path = data_dir / 'trace.jsonl'
            env.update({'PULSE_BENCH_TRACE': str(self.trace_path), 'PULSE_BENCH_NONCE': trace_nonce,
                        'PULSE_BENCH_WHATIF': what_if})
            self.command = [sys.executable, str(Path(__file__).resolve().parent / '_trace_server.py')]
        self.env = env
        self.proc: subprocess.Popen | None = None
        self._log_file = None

    def start(self, timeout: float = 90.0) -> None:
        self._log_file = open(self.log_path, 'wb')  # noqa: SIM115 (closed in stop())
        # cwd = the temp dir: no .env of the developer, no .nicegui/ in the repository
        self.proc = subprocess.Popen(
            [*self.command, 'serve', '--demo', '--host', HOST, '--port', str(self.port)],
            cwd=self.data_dir, env=self.env, stdout=self._log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f'server exited with code {self.proc.returncode}\n{self.tail()}')
            try:
                with urllib.request.urlopen(f'{self.base_url}/login', timeout=2) as r:
                    if r.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                pass
            time.sleep(0.2)
        raise RuntimeError(f'server not ready after {timeout:.0f} s\n{self.tail()}')

    def tail(self, lines: int = 30) -> str:
        try:
            return '\n'.join(self.log_path.read_text(errors='replace').splitlines()[-lines:])
        except OSError:
            return ''

    def rss_mb(self) -> float:
        assert self.proc is not None
        return rss_mb(self.proc.pid)

    def cpu_seconds(self) -> float:
        assert self.proc is not None
        return cpu_seconds(self.proc.pid)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)  # its own session: the server and anything it started
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=8)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait(timeout=5)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None


def pick_ticket(db_path: Path) -> str:
    with sqlite3.connect(f'file:{db_path}?mode=ro', uri=True) as con:
        row = con.execute("SELECT reference FROM tickets ORDER BY status = 'closed', id LIMIT 1").fetchone()
    if row is None:
        raise RuntimeError('the demo data has no tickets')
    return row[0]


def add_customers(db_path: Path, count: int) -> None:
    """``count`` more customers in the first customers' organisation (a real desk has tens of thousands: what a ticket
    page holds per customer shows in its memory and payload)."""
    now = datetime.now(UTC).replace(tzinfo=None).isoformat(sep=' ')
    with sqlite3.connect(db_path, timeout=30) as con:
        org, password_hash = con.execute("SELECT organisation_id, password_hash FROM users WHERE role = 'customer' "
                                         'ORDER BY id LIMIT 1').fetchone()
        con.executemany(
            'INSERT INTO users (email, password_hash, role, organisation_id, display_name, phone, location, '
            'department, card_published, is_active, email_notifications, created_at) '
            "VALUES (?, ?, 'customer', ?, ?, '', '', '', 0, 1, 1, ?)",
            [(f'bench-customer-{i}@example.test', password_hash, org, f'Bench Customer {i:06d}', now)
             for i in range(count)])


def commit_times(db_path: Path, nonce: str) -> dict[str, float]:
    """token → epoch ms of ticket_events.created_at (naive UTC, set just before the commit)."""
    pattern = re.compile(rf'bench-\d+-{nonce}')
    out: dict[str, float] = {}
    with sqlite3.connect(f'file:{db_path}?mode=ro', uri=True) as con:
        rows = con.execute('SELECT body, created_at FROM ticket_events WHERE body LIKE ?', (f'%{nonce}%',)).fetchall()
    for body, created_at in rows:
        m = pattern.search(body or '')
        if m:
            dt = datetime.fromisoformat(str(created_at)).replace(tzinfo=UTC)
            out[m.group(0)] = dt.timestamp() * 1000
    return out


# --- browser side -------------------------------------------------------------------------------------------------

async def wait_connected(page, timeout_ms: float = 30000) -> None:
    await page.wait_for_function('window.did_handshake === true', timeout=timeout_ms)


async def login_state(browser, base_url: str, email: str) -> dict:
    """Log in once in a throw-away context and return its storage state (the signed session cookie)."""
    ctx = await browser.new_context(base_url=base_url)
    try:
        page = await ctx.new_page()
        await page.goto('/login')
        await wait_connected(page)
        await page.get_by_label('Email').fill(email)
        await page.get_by_label('Password').fill(PASSWORD)
        await page.get_by_role('button', name='Log in').click()
        await page.wait_for_url(re.compile(r'/(tickets|portal)'), timeout=30000)
        return await ctx.storage_state()
    finally:
        await ctx.close()


PAGE_RETRIES: list[str] = []  # page loads that had to be retried (the server gave up building the page)


async def evaluate(page, script: str, default=None, attempts: int = 5):
    """page.evaluate that survives a reload of the page in the meantime."""
    for _ in range(attempts):
        try:
            return await page.evaluate(script)
        except Exception as e:
            if 'context was destroyed' not in str(e) and 'navigat' not in str(e).lower():
                raise
            try:
                await page.wait_for_load_state('domcontentloaded', timeout=10000)
            except Exception:  # noqa: BLE001,S110 (tried again below)
                pass
    return default


async def open_ticket(page, url: str, attempts: int = 3) -> None:
    """Load the ticket page until its chatter shows. NiceGUI cancels a page whose build takes longer than its
    response timeout (3 s) and serves it empty ("Response for … not ready"): that happens on a busy machine."""
    for attempt in range(attempts):
        await page.goto(url)
        try:
            await wait_connected(page)
            await page.locator('.chatter-body').first.wait_for(timeout=15000)
            return
        except Exception as e:  # retried, then re-raised
            if attempt == attempts - 1:
                raise
            PAGE_RETRIES.append(f'{url}: {type(e).__name__}')
            log(f'ticket page did not render (attempt {attempt + 1}), reloading')


async def open_viewer(browser, base_url: str, state: dict, url: str, observer_js: str):
    ctx = await browser.new_context(base_url=base_url, storage_state=state)
    await ctx.add_init_script(observer_js)
    page = await ctx.new_page()
    await open_ticket(page, url)
    return ctx, page


# --- simulated websocket clients (python-socketio, no browser) ----------------------------------------------------

class SimClient:
    """Loads the ticket page over HTTP with an agent's session cookie and connects its socket like the browser would;
    records when each token first arrives in any message (no DOM, so this is delivery time, not render time)."""

    def __init__(self, base_url: str, path: str, cookie: str, nonce: str) -> None:
        self.base_url, self.path, self.cookie = base_url, path, cookie
        self.token_re = re.compile(rf'bench-\d+-{nonce}')
        self.nonce = nonce
        self.seen: dict[str, float] = {}
        self.received = 0  # characters of the socket messages' data (the page's parts sent after the HTML)
        self.html = ''
        self.next_message_id = 0
        self.sio = None
        self._ack_task: asyncio.Task | None = None

    async def start(self) -> None:
        try:
            import aiohttp  # noqa: F401
            import socketio  # python-socketio (a NiceGUI dependency); its asyncio client needs aiohttp
        except ImportError as e:
            raise RuntimeError(f'--sim-clients needs python-socketio and aiohttp in the venv ({e})') from e

        html = await asyncio.to_thread(self._fetch_page)
        self.html = html
        m = re.search(r'query: (\{.*?\}),\s*\n', html)
        if not m:
            raise RuntimeError('simulated client: no socket query in the page (not logged in?)')
        query = ast.literal_eval(m.group(1))  # rendered as a Python dict literal
        self.client_id = query['client_id']
        self.next_message_id = int(query.get('next_message_id') or 0)
        params = {**{k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in query.items()},
                  'document_id': str(uuid.uuid4()), 'tab_id': str(uuid.uuid4())}
        # the cookie goes in the upgrade request as the browser sends it: given as ``headers`` it would pass through
        # aiohttp's cookie jar, which quotes a value containing '=' (the signed session), and the server's socket
        # guard would not recognise the session
        self.sio = socketio.AsyncClient(reconnection=False,
                                        websocket_extra_options={'headers': {'Cookie': self.cookie}})
        self.sio.on('*', self._on_any)
        await self.sio.connect(f'{self.base_url}?{urllib.parse.urlencode(params)}',
                               socketio_path='/_nicegui_ws/socket.io', transports=['websocket'], wait_timeout=15)
        self._ack_task = asyncio.create_task(self._ack_loop())

    def _fetch_page(self) -> str:
        req = urllib.request.Request(self.base_url + self.path, headers={'Cookie': self.cookie})
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.read().decode()

    async def _on_any(self, event: str, data=None) -> None:
        now = time.time() * 1000
        if isinstance(data, dict) and isinstance(data.get('_id'), int):
            self.next_message_id = max(self.next_message_id, data['_id'] + 1)
        text = json.dumps(data) if data is not None else ''
        self.received += len(text)
        if self.nonce in text:
            for token in self.token_re.findall(text):
                self.seen.setdefault(token, now)

    async def _ack_loop(self) -> None:
        while True:
            await asyncio.sleep(3)
            try:
                await self.sio.emit('ack', {'client_id': self.client_id, 'next_message_id': self.next_message_id})
            except Exception:  # noqa: BLE001 (the socket is gone: stop acking)
                return

    async def stop(self) -> None:
        if self._ack_task is not None:
            self._ack_task.cancel()
        if self.sio is not None:
            try:
                await asyncio.wait_for(self.sio.disconnect(), 5)
            except Exception as e:  # noqa: BLE001 (best effort during cleanup)
                log(f'simulated client disconnect failed: {e!r}')


class SimPoster(SimClient):
    """The poster without a browser: on its own ticket page (own session) it sends the composer's new value and the
    Send button's click as the two socket events the page's JavaScript sends (``update:value`` of the composer's
    ``nicegui-input``, then ``click`` of the ``q-btn`` labelled Send), with the listener ids the server rendered into
    the page. The server cannot tell it from a browser; this machine's CPUs are left to the viewers."""

    async def start(self) -> None:
        await super().start()
        m = re.search(r'parseElements\(String\.raw`(.*?)`\)', self.html, re.S)
        if not m:
            raise RuntimeError('simulated poster: no elements in the ticket page')
        elements = json.loads(m.group(1))

        def listener(predicate, event_type: str) -> tuple[int, str]:
            for element_id, element in elements.items():
                if predicate(element):
                    for event in element.get('events') or []:
                        if event.get('type') == event_type:
                            return int(element_id), event['listener_id']
            raise RuntimeError(f'simulated poster: no {event_type} listener of the composer/Send on the page')
        self.composer = listener(lambda e: e.get('tag') == 'nicegui-input' and
                                 str((e.get('props') or {}).get('placeholder', '')).startswith('Write a message'),
                                 'update:value')
        self.send = listener(lambda e: e.get('tag') == 'q-btn'  # 'Send reply' / 'Send internal note'
                             and str((e.get('props') or {}).get('label', '')).startswith('Send'), 'click')

    async def post(self, text: str, token: str, timeout: float) -> float | None:
        """Send one message; return the click time (epoch ms) once this page shows it, None if it did not in time."""
        (composer_id, value_listener), (send_id, click_listener) = self.composer, self.send
        await self.sio.emit('event', {'id': composer_id, 'client_id': self.client_id, 'listener_id': value_listener,
                                      'args': [json.dumps(text)]})
        clicked = time.time() * 1000
        await self.sio.emit('event', {'id': send_id, 'client_id': self.client_id, 'listener_id': click_listener,
                                      'args': []})
        end = time.monotonic() + timeout
        while token not in self.seen and time.monotonic() < end:
            await asyncio.sleep(0.005)
        return clicked if token in self.seen else None


# --- the run ------------------------------------------------------------------------------------------------------

async def run(args, server: Server, nonce: str, deadline: float) -> dict:
    from playwright.async_api import Error as PlaywrightError
    from playwright.async_api import async_playwright

    reference = args.ticket or pick_ticket(server.db_path)
    url = f'/tickets/{reference}'
    if args.customers:
        add_customers(server.db_path, args.customers)
        log(f'{args.customers} more customers')
        await asyncio.sleep(2.5)  # the process's short lists (customers among them) are kept 2 s
    executable = os.environ.get('PULSE_CHROMIUM') or '/usr/bin/chromium'
    log(f'ticket {reference}; browser {executable}; token suffix {nonce}')
    sims: list[SimClient] = []
    sim_poster: SimPoster | None = None
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        try:
            states = {}
            for email in AGENTS[:min(args.viewers, len(AGENTS))]:
                states[email] = await login_state(browser, server.base_url, email)
            poster_state = await login_state(browser, server.base_url, POSTER)  # its own session

            # the poster, connected before the first RSS reading
            poster = None
            if args.poster == 'browser':
                poster_ctx = await browser.new_context(base_url=server.base_url, storage_state=poster_state)
                await poster_ctx.add_init_script(CLICK_JS)
                poster = await poster_ctx.new_page()
                await open_ticket(poster, url)
                composer = poster.get_by_placeholder('Write a message…')
                send = poster.get_by_role('button', name='Send')
                await composer.wait_for()
            else:
                sim_poster = SimPoster(server.base_url, url,
                                       '; '.join(f"{c['name']}={c['value']}" for c in poster_state['cookies']), nonce)
                await sim_poster.start()
            await asyncio.sleep(args.settle)
            rss_before = server.rss_mb()
            log(f'poster connected; server RSS {rss_before:.1f} MB')

            t0 = time.monotonic()
            observer_js = OBSERVER_JS.replace('__NONCE__', nonce)
            limit = asyncio.Semaphore(args.open_concurrency)

            async def open_one(i: int):
                async with limit:
                    return await open_viewer(browser, server.base_url, states[AGENTS[i % len(AGENTS)]], url,
                                             observer_js)
            viewers = await asyncio.gather(*(open_one(i) for i in range(args.viewers)))
            viewer_clients = [await evaluate(page, 'window.clientId') for _, page in viewers]
            await asyncio.sleep(args.settle)
            rss_after = server.rss_mb()
            per_viewer = (rss_after - rss_before) / args.viewers if args.viewers else 0.0
            log(f'{args.viewers} viewers connected in {time.monotonic() - t0:.1f} s; server RSS {rss_after:.1f} MB '
                f'(+{per_viewer:.2f} MB per viewer)')

            rss_per_sim = sim_page_kb = None
            if args.sim_clients:
                cookie = '; '.join(f"{c['name']}={c['value']}" for c in states[AGENTS[0]]['cookies'])
                for i in range(args.sim_clients):
                    sim = SimClient(server.base_url, url, cookie, nonce)
                    sims.append(sim)
                    await sim.start()
                await asyncio.sleep(args.settle)
                rss_sims = server.rss_mb()
                rss_per_sim = (rss_sims - rss_after) / args.sim_clients
                sim_page_kb = sum(len(sim.html) + sim.received for sim in sims) / len(sims) / 1024
                log(f'{args.sim_clients} simulated socket clients connected; server RSS {rss_sims:.1f} MB '
                    f'(+{rss_per_sim:.2f} MB per simulated client); a page and its socket messages until now '
                    f'{sim_page_kb:.0f} kB')

            # post
            clicks: dict[str, float] = {}
            tokens: list[str] = []
            load_before = os.getloadavg()[0]
            cpu_before = server.cpu_seconds()
            browser_pids = [p for p in descendants(os.getpid()) if p != server.proc.pid]
            # which renderer process is whose page (one per browser context): per-page CPU below
            renderers = [p for p in browser_pids if chromium_kind(p) == 'renderer']
            poster_renderer = await renderer_of(poster, renderers) if poster is not None else None
            viewer_renderers = [await renderer_of(page, renderers) for _, page in viewers]
            viewer_renderers = [pid for pid in viewer_renderers if pid is not None and pid != poster_renderer]
            gpu_pids = [p for p in browser_pids if chromium_kind(p) == 'gpu-process']
            browser_before = cpu_of(browser_pids)
            split_before = (cpu_of([poster_renderer] if poster_renderer else []), cpu_of(viewer_renderers),
                            cpu_of(gpu_pids))
            machine_before = machine_busy_seconds()
            self_before = cpu_seconds(os.getpid())
            roundtrips: list[float] = []
            send_timeouts = 0
            reserve = 15 + 0.5 * (args.viewers + args.sim_clients / 4)  # for the grace wait, collection, closing
            t0 = time.monotonic()
            last = 0.0
            for i in range(args.messages):
                if time.monotonic() + 1.5 * last > deadline - reserve:
                    log(f'time budget nearly used up (--timeout {args.timeout:.0f} s): stopping after {i} messages')
                    break
                started = time.monotonic()
                token = f'bench-{i}-{nonce}'
                tokens.append(token)
                if sim_poster is not None:
                    clicked = await sim_poster.post(f'Benchmark message {i}: {token}', token,
                                                    timeout=max(1.0, min(30.0, deadline - reserve - time.monotonic())))
                    if clicked is None:
                        send_timeouts += 1
                        log(f'message {i}: the simulated poster did not see it on its page in time; going on')
                    else:
                        clicks[token] = clicked
                        roundtrips.append(sim_poster.seen[token] - clicked)
                    await asyncio.sleep(args.pause)
                    last = time.monotonic() - started
                    continue
                try:
                    await composer.fill(f'Benchmark message {i}: {token}')
                    t_send = time.monotonic()
                    await send.click()
                    await poster.wait_for_function(
                        '(el) => el.value === ""', arg=await composer.element_handle(),
                        timeout=max(1000, min(30000, (deadline - reserve - time.monotonic()) * 1000)))
                    roundtrips.append((time.monotonic() - t_send) * 1000)
                    click = await evaluate(poster, 'window.__benchClick')
                    if click:
                        clicks[token] = float(click)
                except PlaywrightError as e:  # a timeout, or the poster's page reloaded under load
                    send_timeouts += 1
                    log(f'message {i}: no confirmation from the poster page ({type(e).__name__}); going on')
                    try:
                        await wait_connected(poster, timeout_ms=15000)
                    except PlaywrightError:
                        pass
                await asyncio.sleep(args.pause)
                last = time.monotonic() - started
            post_s = time.monotonic() - t0
            cpu_post = server.cpu_seconds() - cpu_before
            cpu_browser = cpu_of(browser_pids) - browser_before
            split_after = (cpu_of([poster_renderer] if poster_renderer else []), cpu_of(viewer_renderers),
                           cpu_of(gpu_pids))
            cpu_poster_page, cpu_viewer_pages, cpu_gpu = (a - b for a, b in zip(split_after, split_before))
            cpu_machine = machine_busy_seconds() - machine_before
            cpu_self = cpu_seconds(os.getpid()) - self_before
            load_after = os.getloadavg()[0]
            log(f'posted {len(tokens)} messages in {post_s:.1f} s')

            # wait until every viewer saw everything (or the grace period ends)
            grace_end = min(time.monotonic() + args.grace, deadline - reserve / 2)
            seen: list[dict[str, float]] = []
            while True:
                seen = list(await asyncio.gather(*(
                    evaluate(page, "JSON.parse(sessionStorage.getItem('__benchSeen') || '{}')", {})
                    for _, page in viewers)))
                complete = all(all(t in s for t in tokens) for s in seen) and \
                    all(all(t in sim.seen for t in tokens) for sim in sims)
                if complete or time.monotonic() > grace_end:
                    break
                await asyncio.sleep(0.5)
            loads = await asyncio.gather(*(evaluate(page, "Number(sessionStorage.getItem('__benchLoads') || '1')", 1)
                                           for _, page in viewers))
            reloads = sum(max(0, int(n) - 1) for n in loads)
        finally:  # closing the browser closes every context
            for sim in sims + ([sim_poster] if sim_poster is not None else []):
                await sim.stop()
            await browser.close()

    committed = commit_times(server.db_path, nonce)
    lat_db, lat_click, sim_db = [], [], []
    missed = 0
    for s in seen:
        for token in tokens:
            if token not in s:
                missed += 1
                continue
            if token in committed:
                lat_db.append(s[token] - committed[token])
            if token in clicks:
                lat_click.append(s[token] - clicks[token])
    sim_missed = 0
    for sim in sims:
        for token in tokens:
            if token not in sim.seen:
                sim_missed += 1
            elif token in committed:
                sim_db.append(sim.seen[token] - committed[token])
    not_committed = [t for t in tokens if t not in committed]
    stages = trace_stages(server.trace_path, committed, viewer_clients, seen) if server.trace_path else None
    return {'tokens': tokens, 'committed': committed, 'lat_db': lat_db, 'lat_click': lat_click, 'sim_db': sim_db,
            'missed': missed, 'sim_missed': sim_missed, 'not_committed': not_committed, 'rss_before': rss_before,
            'rss_after': rss_after, 'per_viewer': per_viewer, 'rss_per_sim': rss_per_sim, 'sim_page_kb': sim_page_kb, 'post_s': post_s,
            'reference': reference, 'stages': stages, 'cpu_post': cpu_post, 'load': (load_before, load_after),
            'roundtrips': roundtrips, 'send_timeouts': send_timeouts, 'reloads': reloads,
            'cpu_browser': cpu_browser, 'cpu_poster_page': cpu_poster_page if poster_renderer else None,
            'cpu_viewer_pages': cpu_viewer_pages, 'viewer_pages_measured': len(viewer_renderers), 'cpu_gpu': cpu_gpu,
            'cpu_other': max(0.0, cpu_machine - cpu_post - cpu_browser - cpu_self)}


def trace_stages(path: Path, committed: dict[str, float], clients: list[str], seen: list[dict[str, float]]):
    """Split commit → visible into stages from the server-side probes (``--trace``)."""
    per_token: dict[str, dict[str, float]] = {}
    per_client: dict[tuple[str, str], dict[str, list[float]]] = {}
    for line in path.read_text().splitlines():
        hit = json.loads(line)
        if hit['what'] in ('post_start', 'post_done'):
            per_token.setdefault(hit['token'], {})[hit['what']] = hit['t']
        elif hit['client']:
            per_client.setdefault((hit['client'], hit['token']), {}).setdefault(hit['what'], []).append(hit['t'])
    names = ['post_start→post_done (write, commit, publish)', 'commit→query_start (dispatch to the viewer handler)',
             'query_start→query_done (re-read of new entries, per viewer)', 'query_done→append',
             'append→emit (render entry, outbox)', 'emit→visible (socket + browser render)']
    spans: dict[str, list[float]] = {k: [] for k in names}
    for t in per_token.values():
        if 'post_start' in t and 'post_done' in t:
            spans[names[0]].append(t['post_done'] - t['post_start'])
    for client, s in zip(clients, seen):
        for token, commit in committed.items():
            c = per_client.get((client, token), {})
            append = min(c['append']) if c.get('append') else None
            # the toast of a notification about the message is sent earlier: take the first emit after append
            emit = min((t for t in c.get('emit', []) if append is not None and t >= append), default=None)
            points = [commit, min(c.get('query_start', [None])), min(c.get('query_done', [None])), append, emit,
                      s.get(token)]
            for i in range(1, len(points)):
                if points[i] is not None and points[i - 1] is not None:
                    spans[names[i]].append(points[i] - points[i - 1])
    return {name: summary(v) | {'n': len(v)} for name, v in spans.items()}


def app_version(app_dir: Path) -> str:
    """The commit the server ran, ``+dirty`` when the working tree had uncommitted changes."""
    if not (app_dir / '.git').exists():
        return str(app_dir)
    try:
        head = subprocess.run(['git', 'rev-parse', '--short', 'HEAD'], cwd=app_dir, capture_output=True, text=True,
                              check=False, timeout=10).stdout.strip()
        dirty = subprocess.run(['git', 'status', '--porcelain', '--untracked-files=no'], cwd=app_dir,
                               capture_output=True, text=True, check=False, timeout=10).stdout.strip()
        return (head + ('+dirty' if dirty else '')) or 'unknown'
    except (OSError, subprocess.SubprocessError):
        return 'unknown'


def report(args, r: dict) -> dict:
    db, click, sim = summary(r['lat_db']), summary(r['lat_click']), summary(r['sim_db'])
    rt = summary(r['roundtrips'])
    posted = len(r['tokens'])
    per_msg = 1000 / max(1, posted)
    cpus = os.cpu_count() or 1
    version = app_version(args.app_dir)
    print()
    print(f'Pulse Live live-update latency — ticket {r["reference"]}, {args.viewers} browser viewers, '
          f'{args.sim_clients} simulated socket clients, {posted} messages'
          + (f' (of {args.messages} requested)' if posted != args.messages else '')
          + f' ({r["post_s"]:.1f} s of posting, {args.pause * 1000:.0f} ms pause); app {version}'
          + (f'; WHAT-IF patches: {args.what_if}' if args.what_if else ''))
    print(f'  commit → visible in viewer : p50 {db["p50"]} ms   p95 {db["p95"]} ms   max {db["max"]} ms   '
          f'({len(r["lat_db"])} of {args.viewers * posted} samples)')
    print('      (commit time = ticket_events.created_at, set just before the commit: slightly overstates latency)')
    print(f'  click → visible in viewer  : p50 {click["p50"]} ms   p95 {click["p95"]} ms   max {click["max"]} ms   '
          '(from the poster\'s click on Send)')
    print(f'  poster ({args.poster}): click → '
          + ('composer cleared' if args.poster == 'browser' else 'its own page got the message')
          + f': p50 {rt["p50"]} ms   p95 {rt["p95"]} ms   max {rt["max"]} ms'
          + (f'   (not confirmed: {r["send_timeouts"]})' if r['send_timeouts'] else ''))
    if args.sim_clients:
        print(f'  commit → received by sim   : p50 {sim["p50"]} ms   p95 {sim["p95"]} ms   max {sim["max"]} ms   '
              f'(socket delivery only, no rendering; missed {r["sim_missed"]})')
    print(f'  missed (viewer × message never seen): {r["missed"]}'
          + (f'; messages not found in the database: {len(r["not_committed"])}' if r['not_committed'] else ''))
    if r['stages']:
        print('  where the time goes (server-side probes, --trace; the probes themselves add a little):')
        for name, st in r['stages'].items():
            print(f'    {name:<60} p50 {st["p50"]} ms   p95 {st["p95"]} ms   max {st["max"]} ms   (n={st["n"]})')
    print(f'  CPU while posting: server {r["cpu_post"]:.1f} s ({r["cpu_post"] * per_msg:.0f} ms per message), '
          f'this run\'s Chromium {r["cpu_browser"]:.1f} s ({r["cpu_browser"] * per_msg:.0f} ms per message), other '
          f'processes {r["cpu_other"]:.1f} s; {r["post_s"] * cpus:.0f} CPU-s available on {cpus} CPUs')
    per_viewer_page = (r['cpu_viewer_pages'] * per_msg / r['viewer_pages_measured']
                       if r['viewer_pages_measured'] else None)
    print(f'    of the Chromium CPU: one viewer page {per_viewer_page or 0:.1f} ms per message (mean of '
          f'{r["viewer_pages_measured"]} renderer processes), the poster\'s page '
          f'{(r["cpu_poster_page"] or 0) * per_msg:.0f} ms, the GPU/compositor process {r["cpu_gpu"] * per_msg:.0f} ms, '
          'the rest browser/network processes')
    busy = max(r['load']) > cpus
    print(f'  load average {r["load"][0]:.1f} → {r["load"][1]:.1f}'
          + ('  (CPU-bound machine: the latencies include waiting for a CPU)' if busy else ''))
    if r['reloads']:
        print(f'  viewer pages reloaded during the run: {r["reloads"]} (NiceGUI reloads a page whose socket reconnects '
              'after the server discarded its client: the connection was starved for longer than reconnect_timeout)')
    if PAGE_RETRIES:
        print(f'  ticket page loads retried because the server gave up building them: {len(PAGE_RETRIES)}')
    print(f'  server RSS: {r["rss_before"]:.1f} MB with the poster, {r["rss_after"]:.1f} MB with all viewers '
          f'→ {r["per_viewer"]:.2f} MB per connected viewer'
          + (f'; {r["rss_per_sim"]:.2f} MB per simulated client' if r['rss_per_sim'] is not None else ''))
    result = {
        'viewers': args.viewers, 'messages': posted,
        'p50_ms': db['p50'], 'p95_ms': db['p95'], 'max_ms': db['max'],
        'rss_mb_per_viewer': round(r['per_viewer'], 3),
        'samples': len(r['lat_db']), 'missed': r['missed'],
        'click_p50_ms': click['p50'], 'click_p95_ms': click['p95'], 'click_max_ms': click['max'],
        'send_roundtrip_p50_ms': rt['p50'], 'send_roundtrip_p95_ms': rt['p95'],
        'sim_clients': args.sim_clients, 'poster': args.poster,
        'server_cpu_ms_per_message': round(r['cpu_post'] * per_msg, 1),
        'browser_cpu_ms_per_message': round(r['cpu_browser'] * per_msg, 1),
        'viewer_page_cpu_ms_per_message': round(per_viewer_page, 1) if per_viewer_page is not None else None,
        'poster_page_cpu_ms_per_message': (round(r['cpu_poster_page'] * per_msg, 1)
                                           if r['cpu_poster_page'] is not None else None),
        'gpu_process_cpu_ms_per_message': round(r['cpu_gpu'] * per_msg, 1),
        'other_cpu_s': round(r['cpu_other'], 1),
        'loadavg_1m': round(max(r['load']), 2), 'cpus': cpus, 'page_retries': len(PAGE_RETRIES),
        'viewer_reloads': r['reloads'],
        'app': version, 'what_if': args.what_if or None,
    }
    if posted != args.messages:
        result['messages_requested'] = args.messages
    if args.sim_clients:
        result.update(sim_p50_ms=sim['p50'], sim_p95_ms=sim['p95'], sim_max_ms=sim['max'],
                      sim_missed=r['sim_missed'],
                      rss_mb_per_sim_client=round(r['rss_per_sim'], 3) if r['rss_per_sim'] is not None else None,
                      sim_page_kb=round(r['sim_page_kb'], 1) if r['sim_page_kb'] is not None else None)
    return result


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--viewers', type=int, default=10, help='browser pages watching the ticket (default 10)')
    p.add_argument('--messages', type=int, default=50, help='messages to post (default 50)')
    p.add_argument('--sim-clients', type=int, default=0,
                   help='extra simulated websocket clients without a browser (default 0)')
    p.add_argument('--poster', choices=('sim', 'browser'), default='sim',
                   help='who posts: a simulated socket client (default; its browser would be on the sender\'s '
                        'machine) or a Chromium page on this machine typing and clicking Send')
    p.add_argument('--pause', type=float, default=0.2, help='seconds between messages (default 0.2)')
    p.add_argument('--ticket', default='', help='ticket reference (default: the first open demo ticket)')
    p.add_argument('--port', type=int, default=0, help='server port on 127.0.0.1 (default: a free one)')
    p.add_argument('--app-dir', type=Path, default=REPO,
                   help='checkout of the app to serve (default: this repository, including uncommitted changes)')
    p.add_argument('--bus-url', default='', help='PULSE_BUS_URL for the server (default: in-process bus)')
    p.add_argument('--settle', type=float, default=1.0, help='seconds to wait before reading the RSS (default 1)')
    p.add_argument('--grace', type=float, default=10.0,
                   help='seconds to wait after the last post for stragglers (default 10)')
    p.add_argument('--open-concurrency', type=int, default=2, help='viewer pages opened at once (default 2)')
    p.add_argument('--timeout', type=float, default=0,
                   help='abort the whole run after this many seconds (default: 170 for the default sizes, more for '
                        'bigger runs)')
    p.add_argument('--trace', action='store_true',
                   help='run the server with timing probes (benchmarks/_trace_server.py) and print a stage breakdown')
    p.add_argument('--what-if', default='', metavar='NAMES',
                   help='experiment: patch candidate fixes into the server from the outside (comma-separated: '
                        'presence, shared-read; see benchmarks/_trace_server.py); implies --trace')
    p.add_argument('--customers', type=int, default=0,
                   help='customers to add before the pages open (default 0: the demo\'s)')
    p.add_argument('--keep', action='store_true', help='keep the temporary data directory (server log, database)')
    args = p.parse_args(argv)
    if args.viewers < 1 or args.messages < 1 or args.sim_clients < 0:
        p.error('--viewers and --messages must be at least 1, --sim-clients at least 0')
    unknown = {n for n in args.what_if.split(',') if n} - {'presence', 'shared-read'}
    if unknown:
        p.error(f'unknown --what-if names: {", ".join(sorted(unknown))}')
    args.trace = args.trace or bool(args.what_if)
    if not args.timeout:
        args.timeout = 170 + 8 * max(0, args.viewers - 10) + 2 * max(0, args.messages - 50) + args.sim_clients
    return args


def _interrupt(*_) -> None:
    raise KeyboardInterrupt


async def guarded(args, server: Server, nonce: str, remaining: float) -> dict:
    """The run under the time limit; SIGTERM/SIGINT cancel it, so the browser is closed on the way out."""
    task = asyncio.current_task()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, task.cancel)
    deadline = time.monotonic() + remaining  # the posting loop stops early to finish within it
    try:
        return await asyncio.wait_for(run(args, server, nonce, deadline), remaining)
    except TimeoutError:
        raise TimeoutError(f'timed out after {args.timeout:.0f} s (--timeout)') from None
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        signal.signal(signal.SIGTERM, _interrupt)


def main(argv=None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt)  # until the event loop runs, and while stopping the server
    data_dir = Path(tempfile.mkdtemp(prefix='pulse-bench-'))
    nonce = secrets.token_hex(4)
    server = Server(data_dir, args.port or free_port(), args.bus_url, trace_nonce=nonce if args.trace else None,
                    what_if=args.what_if, app_dir=args.app_dir.resolve())
    started = time.monotonic()
    try:
        log(f'starting the server on {server.base_url} (data in {data_dir})')
        server.start(timeout=300)  # the demo is seeded first: slow on a busy machine
        log(f'server ready in {time.monotonic() - started:.1f} s (pid {server.proc.pid})')
        remaining = max(10.0, args.timeout - (time.monotonic() - started))
        r = asyncio.run(guarded(args, server, nonce, remaining))
        result = report(args, r)
        result['seconds'] = round(time.monotonic() - started, 1)
        print(json.dumps(result))
        return 0
    except (Exception, KeyboardInterrupt, asyncio.CancelledError) as e:  # noqa: BLE001 (report, then clean up)
        kind = 'interrupted' if isinstance(e, (KeyboardInterrupt, asyncio.CancelledError)) else type(e).__name__
        print(f'benchmark failed ({kind}): {e}', file=sys.stderr)
        tail = server.tail()
        if tail:
            print('--- server log (tail) ---\n' + tail, file=sys.stderr)
        print(json.dumps({'viewers': args.viewers, 'messages': args.messages, 'p50_ms': None, 'p95_ms': None,
                          'max_ms': None, 'rss_mb_per_viewer': None, 'error': f'{kind}: {e}'[:300]}))
        return 1
    finally:
        server.stop()
        if args.keep:
            print(f'kept {data_dir}', file=sys.stderr)
        else:
            shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == '__main__':
    sys.exit(main())
