#!/usr/bin/env python3
"""Batched mails under a long burst: a customer posts M long messages to a ticket whose queue has N offline agents.

Every change goes into each recipient's open mail for the ticket (``notify/planner.enqueue``: the mail's items are
one JSON value, rewritten whole). Without a bound on a mail, the rewrite grows with every message: the audit of
2026-12-06 measured 0.1 → 1.8 s of server CPU per message over 40 messages of 4,000 characters to 1,003 recipients.
A mail now holds at most ``MAX_BATCH_BODY_CHARS`` of message text (then it goes, and the next changes start
another); ``--unbounded`` runs the same code with the bound lifted (what it did before).

In-process on a fresh SQLite file: the demo's people (no tickets), N more agents in the "1st level" queue, one ticket
of carl@acme.demo in that queue, unassigned; nobody online, so every agent is mailed. Then carl posts M messages of
C characters (the customer's per-minute limit off) and the process CPU of each post is taken.

    .venv/bin/python benchmarks/mail_batches.py                      # 1,000 agents, 40 messages of 4,000 chars
    .venv/bin/python benchmarks/mail_batches.py --unbounded          # the same without the bound

The last line is one JSON object: agents, messages, chars, cpu_ms_first5, cpu_ms_last5 (mean CPU per message of
the first and the last five), cpu_s_total, items_mb (the JSON of every pending mail's items at the end), mails.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


async def run(args) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix='mail-batches-'))
    os.environ['PULSE_DATA_DIR'] = str(tmp)
    from sqlalchemy import func, insert, select

    from pulse_live import auth, db
    from pulse_live.bus import MemoryBus, set_bus
    from pulse_live.models import MailOutbox, Queue, QueueMember, Role, User, utcnow
    from pulse_live.notify import planner
    from pulse_live.seed.demo import seed_people
    from pulse_live.services import chatter, tickets
    if args.unbounded:
        planner.MAX_BATCH_BODY_CHARS = 10 ** 12
        planner.MAX_BATCH_ITEMS = 10 ** 9
    set_bus(MemoryBus())
    try:
        db.init(f'sqlite+aiosqlite:///{tmp / "pulse.db"}')
        await db.create_all()
        people = await seed_people(password_hash=await auth.hash_password('benchmark'))
        provider = people.users['anna@pulse.demo'].organisation_id
        async with db.session() as s, s.begin():
            queue = (await s.execute(select(Queue.id).where(Queue.name == '1st level'))).scalar_one()
            first = (await s.execute(select(func.max(User.id)))).scalar_one() + 1
            now = utcnow()
            await s.execute(insert(User), [
                {'email': f'agent{n}@bench.demo', 'password_hash': 'x', 'role': Role.AGENT.value,
                 'organisation_id': provider, 'display_name': f'Agent {n:04d}', 'created_at': now}
                for n in range(args.agents)])
            await s.execute(insert(QueueMember), [{'queue_id': queue, 'user_id': uid, 'added_at': now}
                                                   for uid in range(first, first + args.agents)])
        carl = people.users['carl@acme.demo']
        ticket = await tickets.create_ticket(actor=people.users['maria@pulse.demo'], title='Burst of long messages',
                                             customer_id=carl.id, queue_id=queue)
        cpu: list[float] = []
        started = time.perf_counter()
        for i in range(args.messages):
            before = time.process_time()
            await chatter.post_message(actor=carl, ticket_id=ticket.id, rate_limited=False,
                                       body=f'message {i}: '.ljust(args.chars, 'x'))
            cpu.append(time.process_time() - before)
            print(f'message {i + 1:3d}: {cpu[-1] * 1000:7.1f} ms CPU', flush=True)
        wall = time.perf_counter() - started
        async with db.session() as s:
            items = (await s.execute(select(func.sum(func.length(func.json(MailOutbox.items)))))).scalar_one() or 0
            mails = (await s.execute(select(func.count()).select_from(MailOutbox))).scalar_one()
        await db.dispose()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return {'agents': args.agents, 'messages': args.messages, 'chars': args.chars, 'unbounded': args.unbounded,
            'cpu_ms_first5': round(sum(cpu[:5]) / 5 * 1000, 1), 'cpu_ms_last5': round(sum(cpu[-5:]) / 5 * 1000, 1),
            'cpu_s_total': round(sum(cpu), 2), 'wall_s': round(wall, 2), 'items_mb': round(items / 1e6, 1),
            'mails': mails}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--agents', type=int, default=1000)
    p.add_argument('--messages', type=int, default=40)
    p.add_argument('--chars', type=int, default=4000)
    p.add_argument('--unbounded', action='store_true', help='lift the bound on a batched mail (the code before)')
    result = asyncio.run(run(p.parse_args()))
    print(f"{result['agents']} agents, {result['messages']} messages of {result['chars']} characters"
          f"{' (unbounded)' if result['unbounded'] else ''}: CPU per message {result['cpu_ms_first5']} ms (first 5) "
          f"→ {result['cpu_ms_last5']} ms (last 5), {result['cpu_s_total']} s in all; {result['mails']} mails, "
          f"{result['items_mb']} MB of items pending")
    print(json.dumps(result))


if __name__ == '__main__':
    main()
