#!/usr/bin/env python3
"""Load: simulated agents against 1 process and against 2 processes behind nginx (the deployment of docs/DEPLOY.md,
brought up on loopback by tests/deploy_stack.py: PostgreSQL, a private Redis, S3 on moto, nginx with TLS and
sticky cookies), 60 s each.

An agent is a socket client without a browser (``SimPoster`` of benchmarks/live_latency.py: it loads a ticket page
over HTTP with its session cookie and connects its socket exactly as the page's JavaScript does). Agents are spread
over tickets (``--per-ticket`` on each, so every post has other viewers), each with its own sticky cookie, so nginx
spreads them over the processes; they are pages of ``--people`` agent accounts (20: the demo's three and accounts made
with ``pulse-live create-user``), as a person's connected pages in one process are bounded at 50. Each agent, after a think time (``--think`` s on average), does one of:

- post a message (55 %): composer value + Send click over its socket; *action round trip* = click until its own page
  shows the message; *live delivery* = click until each other viewer of the ticket has it;
- open a ticket page (20 %): a GET of a ticket page through nginx (the page is built, as for a browser);
- open a list (25 %): a GET of /tickets (the work list with its filters) through nginx.

Field changes are not in the mix: a simulated client would have to drive Quasar's select menus by listener id,
which this script does not do (the per-change cost is the same write path as a post).

Errors: a post not seen back within 15 s, a page that is not 200, a socket that fails. RSS: of each app process at
the end of its run. The last line is one JSON object: agents, seconds, runs [{processes, actions_per_s,
action_p95_ms, live_p95_ms, errors, rss_mb_per_process}], throughput_ratio (2 processes / 1 process).

    .venv/bin/python benchmarks/load.py --agents 200 --seconds 60

Needs what tests/e2e/test_deploy.py needs (PostgreSQL on 127.0.0.1:5432, redis-server, nginx, openssl, moto).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / 'benchmarks')]

from live_latency import PASSWORD, SimPoster, percentile  # noqa: E402

from tests.deploy_stack import Stack, missing_parts  # noqa: E402

DEMO_LOGINS = ('anna@pulse.demo', 'ben@pulse.demo', 'daniel@pulse.demo')
# the fixture's certificate is self-signed (loopback only): the page loads of the simulated agents do not check it
ssl._create_default_https_context = ssl._create_unverified_context  # noqa: SLF001


def _unverified_socketio() -> None:
    """The fixture's certificate is self-signed: the simulated agents' sockets do not check it (loopback only)."""
    import socketio
    original = socketio.AsyncClient

    class Client(original):  # type: ignore[misc, valid-type]
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, ssl_verify=False, **kwargs)
    socketio.AsyncClient = Client


_unverified_socketio()


def log(msg: str) -> None:
    print(f'[load] {msg}', file=sys.stderr, flush=True)


class Agent(SimPoster):
    """A simulated agent on one ticket page through nginx (its own sticky cookie)."""

    async def start(self) -> None:
        await SimClientStart(self)
        m = re.search(r'parseElements\(String\.raw`(.*?)`\)', self.html, re.S)
        if not m:
            raise RuntimeError('no elements in the ticket page')
        elements = json.loads(m.group(1))

        def listener(predicate, event_type: str) -> tuple[int, str]:
            for element_id, element in elements.items():
                if predicate(element):
                    for event in element.get('events') or []:
                        if event.get('type') == event_type:
                            return int(element_id), event['listener_id']
            raise RuntimeError(f'no {event_type} listener of the composer/Send on the page')
        self.composer = listener(lambda e: e.get('tag') == 'nicegui-input' and
                                 str((e.get('props') or {}).get('placeholder', '')).startswith('Write a message'),
                                 'update:value')
        self.send = listener(lambda e: e.get('tag') == 'q-btn' and (e.get('props') or {}).get('label') in
                             ('Send', 'Send internal note', 'Send reply'), 'click')


async def SimClientStart(agent: Agent) -> None:  # noqa: N802 - the base class's start, without SimPoster's
    from live_latency import SimClient
    await SimClient.start(agent)


async def login_cookie(browser, base_url: str, email: str) -> str:
    """Sign in once in a throw-away browser context; the session cookie (without the sticky one)."""
    ctx = await browser.new_context(base_url=base_url, ignore_https_errors=True)
    try:
        page = await ctx.new_page()
        await page.goto('/login')
        await page.wait_for_function('window.did_handshake === true', timeout=60000)
        await page.get_by_label('Email').fill(email)
        await page.get_by_label('Password').fill(PASSWORD)
        await page.get_by_role('button', name='Log in').click()
        await page.wait_for_url(re.compile(r'/tickets'), timeout=60000)
        return '; '.join(f'{c["name"]}={c["value"]}' for c in await ctx.cookies() if c['name'] != 'pulse_upstream')
    finally:
        await ctx.close()


def agent_logins(stack: Stack, people: int) -> list[str]:
    """The demo's three agents and as many more as make ``people`` (``pulse-live create-user``, the password on its
    standard input). Each simulated agent is one page of one of them: a person's connected pages in one process are
    bounded (``max_pages_per_user``, 50), and 200 pages of three people had the oldest closed as they connected."""
    from tests.deploy_stack import cli
    logins = list(DEMO_LOGINS[:people])
    for i in range(len(logins), people):
        email = f'load-agent-{i}@pulse.demo'
        done = subprocess.run(cli('create-user', '--email', email, '--role', 'agent', '--name', f'Load Agent {i}'),
                              input=PASSWORD + '\n', cwd=stack.workdir, env=stack.env(), capture_output=True,
                              text=True, timeout=120)
        if done.returncode != 0:
            raise SystemExit(f'create-user {email}: {done.stderr[-2000:]}')
        logins.append(email)
    return logins


def _get(url: str, cookie: str) -> int:
    request = urllib.request.Request(url, headers={'Cookie': cookie})
    with urllib.request.urlopen(request, timeout=30) as response:
        response.read()
        return response.status


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f'/proc/{pid}/status').read_text().splitlines():
            if line.startswith('VmRSS:'):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


async def one_run(processes: int, args) -> dict:
    workdir = Path(tempfile.mkdtemp(prefix=f'pulse-load-{processes}-'))
    stack = Stack(workdir=workdir, processes=processes)
    log(f'{processes} process(es): starting the stack in {workdir}')
    await asyncio.to_thread(stack.start)
    try:
        return await drive(stack, args)
    finally:
        for app in stack.apps:
            log(f'app {app.name}: RSS {rss_mb(app.process.pid):.0f} MB' if app.process else '')
        await asyncio.to_thread(stack.stop)


async def drive(stack: Stack, args) -> dict:
    from playwright.async_api import async_playwright
    nonce = uuid.uuid4().hex[:8]
    refs = stack.psql("SELECT reference FROM tickets WHERE status <> 'closed' ORDER BY id").split()
    tickets = refs[:max(1, args.agents // args.per_ticket)]
    logins = await asyncio.to_thread(agent_logins, stack, args.people)
    log(f'signing in {len(logins)} agents')
    sessions: list[str] = []
    async with async_playwright() as playwright:
        from tests.e2e.conftest import _launch  # the tests' browser lookup (own Chromium, $PULSE_CHROMIUM, Debian's)
        browser = await _launch(playwright)
        try:
            for email in logins:
                sessions.append(await login_cookie(browser, stack.url, email))
        finally:
            await browser.close()
    agents: list[Agent] = []
    errors: list[str] = []
    for i in range(args.agents):
        ticket = tickets[i % len(tickets)]
        cookie = f'{sessions[i % len(sessions)]}; pulse_upstream={uuid.uuid4().hex}'
        agent = Agent(stack.url, f'/tickets/{ticket}', cookie, nonce)
        agent.ticket = ticket  # type: ignore[attr-defined]
        agents.append(agent)
    log(f'connecting {len(agents)} agents on {len(tickets)} tickets')
    started = await asyncio.gather(*(a.start() for a in agents), return_exceptions=True)
    for a, result in zip(agents, started, strict=True):
        if isinstance(result, BaseException):
            errors.append(f'connect: {result!r}')
            a.sio = None
    live_agents = [a for a in agents if a.sio is not None]
    by_ticket: dict[str, list[Agent]] = {}
    for a in live_agents:
        by_ticket.setdefault(a.ticket, []).append(a)  # type: ignore[attr-defined]
    round_trips: list[float] = []
    live: list[tuple[str, float, list[Agent]]] = []  # token, click ms, the other viewers
    counter = 0
    end = time.monotonic() + args.seconds
    count = {'actions': 0}

    async def loop(agent: Agent) -> None:
        nonlocal counter
        rng = random.Random()
        while time.monotonic() < end:
            await asyncio.sleep(rng.expovariate(1 / args.think))
            if time.monotonic() >= end:
                return
            roll = rng.random()
            t0 = time.monotonic()
            try:
                if roll < 0.55:
                    counter += 1
                    token = f'bench-{counter}-{nonce}'
                    clicked = await agent.post(f'Load test {token}', token, 15)
                    if clicked is None:
                        errors.append('post not seen back within 15 s')
                        continue
                    round_trips.append(agent.seen[token] - clicked)
                    others = [o for o in by_ticket[agent.ticket] if o is not agent]  # type: ignore[attr-defined]
                    live.append((token, clicked, others))
                else:
                    path = f'/tickets/{rng.choice(tickets)}' if roll < 0.75 else '/tickets'
                    status = await asyncio.to_thread(_get, stack.url + path, agent.cookie)
                    if status != 200:
                        errors.append(f'GET {path}: {status}')
                        continue
                    round_trips.append((time.monotonic() - t0) * 1000)
                count['actions'] += 1
            except Exception as e:  # noqa: BLE001 - counted, the run goes on
                errors.append(f'{type(e).__name__}: {e}')
    log(f'{len(live_agents)} agents acting for {args.seconds} s')
    t_start = time.monotonic()
    await asyncio.gather(*(loop(a) for a in live_agents))
    elapsed = time.monotonic() - t_start
    await asyncio.sleep(3)  # the last live deliveries
    deliveries: list[float] = []
    missing = 0
    for token, clicked, others in live:
        for o in others:
            if token in o.seen:
                deliveries.append(o.seen[token] - clicked)
            else:
                missing += 1
    if missing:
        errors.append(f'{missing} live deliveries never arrived')
    rss = [round(rss_mb(a.process.pid), 1) for a in stack.apps if a.process is not None]
    await asyncio.gather(*(a.stop() for a in live_agents), return_exceptions=True)
    if errors:
        log(f'errors ({len(errors)}), first ones: {errors[:5]}')
    return {'processes': len(stack.apps), 'actions_per_s': round(count['actions'] / elapsed, 1),
            'action_p95_ms': round(percentile(round_trips, 95), 1) if round_trips else None,
            'live_p95_ms': round(percentile(deliveries, 95), 1) if deliveries else None,
            'errors': len(errors), 'rss_mb_per_process': rss, 'agents_connected': len(live_agents),
            'posts': len(live), 'live_deliveries': len(deliveries)}


async def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--agents', type=int, default=200)
    p.add_argument('--seconds', type=float, default=60)
    p.add_argument('--per-ticket', type=int, default=5, help='agents viewing each ticket')
    p.add_argument('--people', type=int, default=20, help='agent accounts the agents are spread over (at least 5 '
                   'for 200 agents: a person has at most 50 pages in one process)')
    p.add_argument('--think', type=float, default=3.0, help='mean seconds between two actions of one agent')
    p.add_argument('--processes', default='1,2', help='the runs, comma-separated process counts')
    args = p.parse_args()
    missing = missing_parts()
    if missing:
        raise SystemExit(f'cannot run: {missing}')
    runs = [await one_run(int(n), args) for n in args.processes.split(',')]
    for run in runs:
        log(json.dumps(run))
    by = {r['processes']: r for r in runs}
    ratio = round(by[2]['actions_per_s'] / by[1]['actions_per_s'], 2) if 1 in by and 2 in by and \
        by[1]['actions_per_s'] else None
    print(json.dumps({'agents': args.agents, 'seconds': args.seconds, 'load_average': os.getloadavg(),
                      'runs': runs, 'throughput_ratio': ratio}))


if __name__ == '__main__':
    asyncio.run(main())
