"""The server's CPU for the reads and the write that every opening of a ticket and every live change make, one at a
time, without the pages: what ``desk_load.py`` measures is these plus NiceGUI's rendering, and on a busy 2-CPU machine
its runs differ by a fifth, so a change of a few per cent in a read shows here and not there.

A fresh SQLite database with the demo data (``seed_demo``); then, each ``--rounds`` times over the demo's tickets, in
that order:

* ``ticket_view``      the ticket page's read (the ticket with its names, the newest 100 entries, its documents,
                       its team) — an agent, then a customer of the ticket;
* ``entries_after``    a live change's read of the entries after one (every viewer's page, on every change);
* ``customer_panel``   the agents' side column: the customer, their items and tickets, the linked items;
* ``ticket_sla``       the agents' side column: the SLA clocks;
* ``post_message``     an agent's reply (the write, the planner's notifications and mails, the search index),
                       committed (the open tickets).

Each is timed with ``time.process_time`` (CPU of the whole process: SQLite's work inline and in its reader threads
included) and reported as the median and the mean per call in µs. The last line is one JSON object.

    .venv/bin/python benchmarks/reads.py                          # this checkout
    PYTHONPATH=/tmp/before .venv/bin/python benchmarks/reads.py   # another checkout, e.g. made with
                                                                  # git archive <commit> | tar -x -C /tmp/before

Run it under ``flock /tmp/bench.lock`` beside other benchmarks.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--rounds', type=int, default=5, help='passes over the tickets (default 5)')
    p.add_argument('--tickets', type=int, default=60, help='demo tickets (default 60)')
    return p.parse_args(argv)


async def run(args: argparse.Namespace, data_dir: Path) -> dict:
    os.environ['PULSE_DATA_DIR'] = str(data_dir)
    os.environ['PULSE_DATABASE_URL'] = f'sqlite+aiosqlite:///{data_dir / "pulse.db"}'
    from pulse_live import db
    from pulse_live.config import get_settings
    get_settings.cache_clear()
    db.init(os.environ['PULSE_DATABASE_URL'])
    await db.create_all()
    from pulse_live.queries import sla, ticket_customer, tickets
    from pulse_live.seed.demo import seed_demo
    from pulse_live.services import chatter
    people = await seed_demo(tickets_count=args.tickets)
    anna = people.users['anna@pulse.demo']
    from sqlalchemy import select

    from pulse_live.models import Status, Ticket
    async with db.session() as s:
        rows = (await s.execute(select(Ticket.id, Ticket.customer_id, Ticket.status).order_by(Ticket.id))).all()
    customers = {u.id: u for u in people.users.values()}
    times: dict[str, list[float]] = {}

    async def timed(name: str, call) -> object:
        started = time.process_time()
        result = await call
        times.setdefault(name, []).append(time.process_time() - started)
        return result

    for ticket_id, _, _ in rows[:3]:  # warm: the statements, the lookups, SQLite's page cache
        await tickets.ticket_view(anna, ticket_id)
    for _ in range(args.rounds):
        for ticket_id, customer_id, status in rows:
            view = await timed('ticket_view', tickets.ticket_view(anna, ticket_id))
            customer = customers.get(customer_id)
            if customer is not None:
                await timed('ticket_view_customer', tickets.ticket_view(customer, ticket_id))
            events = view.events if view is not None else []
            after = events[len(events) // 2].id if events else 0
            await timed('entries_after', tickets.ticket_events(anna, ticket_id, after=after))
            await timed('customer_panel', ticket_customer.customer_panel(anna, ticket_id))
            await timed('ticket_sla', sla.ticket_sla(anna, ticket_id))
            if status != Status.CLOSED:  # (a closed ticket takes no message)
                await timed('post_message', chatter.post_message(actor=anna, ticket_id=ticket_id,
                                                                 body=f'Checked the logs of #{ticket_id} again'))
    await db.dispose()
    return {name: {'n': len(v), 'median_us': round(statistics.median(v) * 1e6),
                   'mean_us': round(statistics.fmean(v) * 1e6)} for name, v in times.items()}


def app_label() -> str:
    here = Path(__import__('pulse_live').__file__).resolve().parent.parent
    try:
        commit = subprocess.run(['git', '-C', str(here), 'rev-parse', '--short', 'HEAD'], capture_output=True,
                                text=True, timeout=10).stdout.strip()
    except OSError:
        commit = ''
    return f'{here} {commit}'.strip()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix='pulse-reads-') as tmp:
        result = asyncio.run(run(args, Path(tmp)))
    print(f'Pulse Live reads — {args.tickets} demo tickets, {args.rounds} rounds; CPU per call '
          f'(app: {app_label()})')
    for name, r in result.items():
        print(f'  {name:22s} n={r["n"]:4d}  median {r["median_us"]:6d} µs  mean {r["mean_us"]:6d} µs')
    print(json.dumps({'tickets': args.tickets, 'rounds': args.rounds, 'reads': result}))
    return 0


if __name__ == '__main__':
    sys.exit(main())
