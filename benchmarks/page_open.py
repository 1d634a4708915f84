#!/usr/bin/env python3
"""Opening a ticket in real Chromium: the click (or navigation start) → the last chatter entry visible (issue 16,
item 2).

Builds (once, cached under ``--cache``) a SQLite database of N tickets with the bulk generator (``pulse-live bulk``:
the demo's people plus N tickets and ~10 events each), copies it into a fresh temporary data directory, serves it with
``pulse-live serve`` (the same subprocess as ``live_latency.py``), signs one demo agent in, warms the server up, and
then opens tickets in one headless Chromium page, alternating:

  from_list     the ticket list (/tickets, its first page) is open; a click on a row's reference opens that ticket
                (the next row each time) — in place (components/in_app.py: no new document)
  from_ticket   a ticket is open and settled; a click on a link to another ticket in the page (as a similar ticket
                or a search result is) — in place
  from_address  a ticket is open; the browser loads another ticket's address as a new document (typed, a bookmark,
                a reload, a link from another program: what every open was before in-place opening)

The page samples each animation frame (``requestAnimationFrame``, i.e. just before that frame is painted) and keeps
the first frame in which

  * the newest chatter entry (``[data-entry]`` with the highest id) lies inside the viewport and inside the chatter's
    scroll area (the chatter opens scrolled to its end), and
  * the page is styled (the header has its final background colour).

That frame's time is the figure: for an open in place counted from the click (the page's script keeps its time), for
a new document from its navigation start (``performance.timeOrigin``). Beside it, for a new document: first byte
(``responseStart``), HTML payload (``decodedBodySize``), DOMContentLoaded, first contentful paint, the first frame with
the app mounted (``#app`` has content). Server render = ``responseStart - requestStart`` (loopback: the server's time to
build the page).

Usage (from the repository root; run it under ``flock /tmp/bench.lock``):

    .venv/bin/python benchmarks/page_open.py                       # 10,000 tickets, 20 opens of each kind
    .venv/bin/python benchmarks/page_open.py --opens 10 --app-dir /tmp/pl-before

The last line is one JSON object: ``tickets``, ``from_list_p50_ms``, ``from_list_p95_ms``, ``from_ticket_p50_ms``,
``from_ticket_p95_ms``, the same for ``from_address``, and the parts (``*_first_byte_p50_ms``, ``*_fcp_p50_ms``,
``payload_kb``, ``in_place_opens``, ``loadavg_1m`` …). Against a checkout without in-place opening (``--app-dir``) every
click loads a document and is measured as one.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from live_latency import (  # noqa: E402  (the benchmarks directory is not a package)
    CHROMIUM_ARGS,
    REPO,
    Server,
    free_port,
    log,
    login_state,
    percentile,
    wait_connected,
)

AGENT = 'anna@pulse.demo'

SAMPLE_JS = r'''
// one frame's state: [time, the newest chatter entry's id, whether it is in view, the header's colour]
window.__sample = () => {  // (assigned, not declared: the page may already have it)
  const header = document.querySelector('header');
  const bg = header ? getComputedStyle(header).backgroundColor : '';
  let last = null, lastId = -1;
  for (const e of document.querySelectorAll('[data-entry]')) {
    const id = Number(e.getAttribute('data-entry'));
    if (id > lastId) { lastId = id; last = e; }
  }
  let inView = false;
  if (last) {
    const r = last.getBoundingClientRect();
    const area = last.closest('.q-scrollarea');
    const a = area ? area.getBoundingClientRect() : {top: 0, bottom: innerHeight};
    inView = r.height > 0 && r.bottom > Math.max(0, a.top) && r.top < Math.min(innerHeight, a.bottom);
  }
  return [performance.now(), lastId, inView, bg];
};
'''

FRAMES_JS = SAMPLE_JS + r'''
(() => {
  const marks = {frames: 0, visible: null, mounted: null, styled: null, samples: []};
  window.__open = marks;
  const tick = () => {
    const sample = __sample();
    marks.frames += 1;
    const app = document.getElementById('app');
    if (marks.mounted === null && app && app.firstElementChild) marks.mounted = sample[0];
    if (marks.samples.length < 2000) marks.samples.push(sample);
    requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
})();
'''

RESULT_JS = r'''
(() => {
  const m = window.__open || {samples: []};
  const samples = m.samples || [];
  const header = document.querySelector('header');
  const finalBg = header ? getComputedStyle(header).backgroundColor : '';
  let finalId = -1;
  for (const e of document.querySelectorAll('[data-entry]')) {
    finalId = Math.max(finalId, Number(e.getAttribute('data-entry')));
  }
  let visible = null, styled = null;
  for (const [t, id, inView, bg] of samples) {
    if (styled === null && bg === finalBg) styled = t;
    if (visible === null && id === finalId && inView && bg === finalBg) visible = t;
  }
  const nav = performance.getEntriesByType('navigation')[0] || {};
  const fcp = performance.getEntriesByName('first-contentful-paint')[0];
  return {
    visible, styled, mounted: m.mounted, final_id: finalId, frames: m.frames,
    request_start: nav.requestStart, first_byte: nav.responseStart, response_end: nav.responseEnd,
    dcl: nav.domContentLoadedEventEnd, load: nav.loadEventEnd, payload: nav.decodedBodySize,
    transfer: nav.transferSize, fcp: fcp ? fcp.startTime : null, url: location.pathname,
    elements: document.querySelectorAll('#app *').length,
  };
})()
'''


# before a click that may open the ticket in place (components/in_app.py: no new document): the same frame samples,
# in this document, from the click on (the page's script keeps the click's time in ``window.__pulseOpenAt``)
INPLACE_JS = SAMPLE_JS + r"""
(() => {
  window.__pulseOpenAt = null;
  window.__sameDocument = true;
  const marks = {samples: []};
  window.__inplace = marks;
  const tick = () => {
    if (window.__inplace !== marks) return;
    if (marks.samples.length < 2000) marks.samples.push(__sample());
    requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
})()
"""

INPLACE_RESULT_JS = r"""
(() => {
  const m = window.__inplace || {samples: []};
  const start = window.__pulseOpenAt;
  const header = document.querySelector('header');
  const finalBg = header ? getComputedStyle(header).backgroundColor : '';
  let finalId = -1;
  for (const e of document.querySelectorAll('[data-entry]')) {
    finalId = Math.max(finalId, Number(e.getAttribute('data-entry')));
  }
  let visible = null;
  for (const [t, id, inView, bg] of m.samples) {
    if (visible === null && start !== null && t >= start && id === finalId && inView && bg === finalBg) visible = t;
  }
  window.__inplace = null;
  return {
    debug: visible === null ? {start, n: m.samples.length, tail: m.samples.slice(-2),
                               ids: [...new Set(m.samples.map(x => x[1]))]} : null,
    visible: visible === null ? null : visible - start, in_place: true, final_id: finalId, url: location.pathname,
    elements: document.querySelectorAll('#app *').length,
  };
})()
"""


async def measure_click(page, click) -> dict:
    """Click (``click()``), then the time to the new ticket's last entry visible: counted from navigation start when
    the click loaded a document, from the click when the page opened the ticket in place."""
    await page.evaluate(INPLACE_JS)
    await click()
    for _ in range(3):  # (a document loading meanwhile ends the wait: asked again in the new one)
        try:
            await page.wait_for_function('window.__sameDocument === undefined || '
                                         '(window.__pulseOpenAt !== null && history.state && history.state.pulse === '
                                         'location.pathname + location.search)', timeout=15000)
            break
        except Exception as e:  # noqa: BLE001
            if 'context was destroyed' not in str(e) and 'navigation' not in str(e):
                raise
    if await page.evaluate('window.__sameDocument === true'):
        await page.wait_for_function('document.querySelector("[data-entry]") !== null', timeout=20000)
        await wait_connected(page)
        await page.wait_for_timeout(400)
        return await page.evaluate(INPLACE_RESULT_JS)
    return await settle(page)


def build_database(tickets: int, cache: Path) -> Path:
    """A cached SQLite file with the demo people and ``tickets`` bulk tickets (built once per size and app schema)."""
    cache.mkdir(parents=True, exist_ok=True)
    path = cache / f'pulse-{tickets}.db'
    if path.exists():
        return path
    work = Path(tempfile.mkdtemp(prefix='page-open-build-'))
    env = {k: v for k, v in os.environ.items() if not k.startswith('PULSE_')}
    env.pop('PYTEST_CURRENT_TEST', None)
    env.update({'PULSE_DATA_DIR': str(work), 'PULSE_DATABASE_URL': f'sqlite+aiosqlite:///{work / "pulse.db"}'})
    log(f'building a database of {tickets:,} tickets (once; cached in {path})')
    subprocess.run([sys.executable, '-m', 'pulse_live.cli', 'bulk', '--tickets', str(tickets)], cwd=work, env=env,
                   check=True, stdout=subprocess.DEVNULL)
    shutil.copy(work / 'pulse.db', path)
    shutil.rmtree(work, ignore_errors=True)
    return path


def pick_references(db_path: Path, count: int) -> list[str]:
    """Tickets with a typical chatter: 5-40 entries, spread over the whole table."""
    with sqlite3.connect(f'file:{db_path}?mode=ro', uri=True) as con:
        rows = con.execute('SELECT t.reference FROM tickets t JOIN ticket_events e ON e.ticket_id = t.id '
                           'GROUP BY t.id HAVING count(*) BETWEEN 5 AND 40 ORDER BY t.id').fetchall()
    step = max(1, len(rows) // count)
    return [r[0] for r in rows[::step]][:count]


async def settle(page, timeout_ms: float = 20000) -> dict:
    """Wait until the page shows its chatter and stopped changing, then read the marks of this document."""
    await page.wait_for_function('window.__open && window.__open.frames > 0 && '
                                 'document.querySelector("[data-entry]") !== null', timeout=timeout_ms)
    await wait_connected(page, timeout_ms)
    await page.wait_for_timeout(400)  # later frames (scrolling to the end) are in the samples
    return await page.evaluate(RESULT_JS)


async def open_from_list(page, index: int) -> dict:
    """The list's first page is open; a click on its ``index``-th row (of the rows shown) opens that ticket."""
    await page.goto('/tickets')
    await wait_connected(page)
    links = page.locator('a[href^="/tickets/PL-"]')
    await links.first.wait_for(timeout=15000)
    await page.wait_for_timeout(200)
    link = links.nth(index % await links.count())
    href = await link.get_attribute('href')
    result = await measure_click(page, link.click)
    await page.wait_for_url(f'**{href}')
    return result


LINK_JS = """(reference) => {  // a link to another ticket in the page, as a reference in a message or a side panel is
  const a = document.createElement('a');
  a.href = '/tickets/' + reference;
  a.textContent = reference;
  a.id = 'bench-link';
  a.style.cssText = 'position: fixed; top: 70px; left: 8px; z-index: 9999; background: white';
  document.body.appendChild(a);
}"""


async def open_from_ticket(page, previous: str, reference: str) -> dict:
    """A ticket is open and settled; a click on a link to another ticket (in the page, as in a message)."""
    if not page.url.endswith(f'/tickets/{previous}'):
        await page.goto(f'/tickets/{previous}')
        await settle(page)
    await page.wait_for_timeout(200)
    await page.evaluate(LINK_JS, reference)
    result = await measure_click(page, lambda: page.click('#bench-link'))
    await page.wait_for_url(f'**/tickets/{reference}')
    await page.evaluate('document.getElementById("bench-link")?.remove()')
    return result


async def open_by_address(page, previous: str, reference: str) -> dict:
    """A ticket is open; the browser loads another ticket's address as a new document (typed, a bookmark, a reload,
    a link from another program)."""
    if not page.url.endswith(f'/tickets/{previous}'):
        await page.goto(f'/tickets/{previous}')
        await settle(page)
    await page.wait_for_timeout(200)
    await page.evaluate(f'location.href = "/tickets/{reference}"')
    await page.wait_for_url(f'**/tickets/{reference}')
    return await settle(page)


async def run(args, server: Server) -> dict:
    from playwright.async_api import async_playwright
    chromium = os.environ.get('PULSE_CHROMIUM') or '/usr/bin/chromium'
    references = pick_references(server.db_path, args.opens * 4 + args.warmup * 2 + 2)
    log(f'{len(references)} tickets picked')
    results: dict[str, list[dict]] = {'from_list': [], 'from_ticket': [], 'from_address': []}
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS, headless=True)
        try:
            state = await login_state(browser, server.base_url, AGENT)
            ctx = await browser.new_context(base_url=server.base_url, storage_state=state,
                                            viewport={'width': 1400, 'height': 900})
            await ctx.add_init_script(FRAMES_JS)
            page = await ctx.new_page()
            for i in range(args.warmup):  # the server's caches, the browser's cache of the static files
                await open_from_list(page, i)
                await open_from_ticket(page, references[2 * i], references[2 * i + 1])
                await open_by_address(page, references[2 * i + 1], references[2 * i + 2])
            refs = references[args.warmup * 2 + 2:]
            load_before = os.getloadavg()
            cpu_before = server.cpu_seconds()
            for i in range(args.opens):
                r = await open_from_list(page, args.warmup + i)
                results['from_list'].append(r)
                r = await open_from_ticket(page, refs[4 * i], refs[4 * i + 1])
                results['from_ticket'].append(r)
                r = await open_by_address(page, refs[4 * i + 2], refs[4 * i + 3])
                results['from_address'].append(r)
                if args.verbose:
                    for kind in results:
                        x = results[kind][-1]
                        log(f'{kind}: visible {x["visible"]}, first byte {x["first_byte"]}, fcp {x["fcp"]}, '
                            f'mounted {x["mounted"]}')
            cpu = server.cpu_seconds() - cpu_before
            load_after = os.getloadavg()
            if args.screenshot:
                await page.screenshot(path=args.screenshot, full_page=True)
        finally:
            await browser.close()
    return {'results': results, 'load': (load_before[0], load_after[0]), 'server_cpu_s': cpu}


def report(args, r: dict) -> dict:
    out: dict = {'tickets': args.tickets}
    for kind, rows in r['results'].items():
        missing = [x['url'] for x in rows if x['visible'] is None]
        for x in rows:
            if x['visible'] is None and x.get('debug'):
                log(f'{kind} {x["url"]}: never visible: {json.dumps(x["debug"])[:600]}')
        ok = [x for x in rows if x['visible'] is not None]
        def p(key: str, q: float, rows=ok) -> float | None:
            values = [x[key] for x in rows if x.get(key) is not None]
            return round(percentile(values, q), 1) if values else None
        server = [x['first_byte'] - x['request_start'] for x in ok if x.get('request_start')]
        out.update({
            f'{kind}_p50_ms': p('visible', 50), f'{kind}_p95_ms': p('visible', 95),
            f'{kind}_max_ms': p('visible', 100),
            f'{kind}_first_byte_p50_ms': p('first_byte', 50),
            f'{kind}_server_render_p50_ms': round(percentile(server, 50), 1) if server else None,
            f'{kind}_dcl_p50_ms': p('dcl', 50), f'{kind}_fcp_p50_ms': p('fcp', 50),
            f'{kind}_mounted_p50_ms': p('mounted', 50), f'{kind}_styled_p50_ms': p('styled', 50),
            f'{kind}_opens': len(ok), f'{kind}_never_visible': missing,
        })
        print(f'{kind:12s} visible p50 {out[f"{kind}_p50_ms"]} / p95 {out[f"{kind}_p95_ms"]} / max '
              f'{out[f"{kind}_max_ms"]} ms · first byte p50 {out[f"{kind}_first_byte_p50_ms"]} '
              f'(server {out[f"{kind}_server_render_p50_ms"]}) · DOMContentLoaded {out[f"{kind}_dcl_p50_ms"]} · '
              f'FCP {out[f"{kind}_fcp_p50_ms"]} · app mounted {out[f"{kind}_mounted_p50_ms"]} · styled '
              f'{out[f"{kind}_styled_p50_ms"]} ms ({len(ok)} opens)')
    every = [x for rows in r['results'].values() for x in rows]
    payloads = [x['payload'] / 1024 for x in every if x.get('payload')]
    out['payload_kb_p50'] = round(percentile(payloads, 50), 1) if payloads else None
    out['elements_p50'] = percentile([x['elements'] for x in every], 50)
    out['in_place_opens'] = sum(1 for x in every if x.get('in_place'))
    out['server_cpu_ms_per_open'] = round(r['server_cpu_s'] * 1000 / max(1, len(every)), 1)  # + list pages
    out['loadavg_1m'] = [round(x, 2) for x in r['load']]
    out['app'] = app_version(args.app_dir)
    print(f'HTML payload p50 {out["payload_kb_p50"]} KB · elements in #app p50 {out["elements_p50"]} · '
          f'load average {out["loadavg_1m"]} (2 CPUs)')
    return out


def app_version(app_dir: Path) -> str:
    try:
        sha = subprocess.run(['git', '-C', str(app_dir), 'rev-parse', '--short', 'HEAD'], capture_output=True,
                             text=True, check=True).stdout.strip()
        dirty = subprocess.run(['git', '-C', str(app_dir), 'status', '--porcelain'], capture_output=True, text=True,
                               check=True).stdout.strip()
        return sha + ('+changes' if dirty else '')
    except (subprocess.CalledProcessError, OSError):
        return str(app_dir)


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--tickets', type=int, default=10_000)
    ap.add_argument('--opens', type=int, default=20, help='opens of each kind (from the list, from a ticket)')
    ap.add_argument('--warmup', type=int, default=3)
    ap.add_argument('--cache', type=Path, default=Path(tempfile.gettempdir()) / 'pulse-page-open-cache')
    ap.add_argument('--app-dir', type=Path, default=REPO, help='serve another checkout (e.g. the commit before)')
    ap.add_argument('--screenshot', help='a full-page screenshot of the last ticket opened')
    ap.add_argument('--keep', action='store_true', help='keep the temporary data directory (server log)')
    ap.add_argument('--verbose', action='store_true')
    return ap.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    source = build_database(args.tickets, args.cache)
    data_dir = Path(tempfile.mkdtemp(prefix='page-open-'))
    shutil.copy(source, data_dir / 'pulse.db')
    server = Server(data_dir, free_port(), '', app_dir=args.app_dir)
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        started = time.monotonic()
        server.start()
        log(f'server up in {time.monotonic() - started:.1f} s at {server.base_url} (pid {server.proc.pid})')
        r = asyncio.run(run(args, server))
    finally:
        server.stop()
        if args.keep:
            log(f'kept {data_dir}')
        else:
            shutil.rmtree(data_dir, ignore_errors=True)
    print(json.dumps(report(args, r)))
    return 0


if __name__ == '__main__':
    sys.exit(main())
