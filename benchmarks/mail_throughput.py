"""Queue N notification mails in the outbox and drain them to a local SMTP sink (aiosmtpd on 127.0.0.1).

Usage: .venv/bin/python benchmarks/mail_throughput.py [--mails 10000] [--database-url URL]
The last line is one JSON object: mails, seconds, mails_per_s (plus queue_seconds, database).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


class Sink:
    def __init__(self) -> None:
        self.count = 0

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        return '250 OK'


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument('--mails', type=int, default=10_000)
    parser.add_argument('--database-url', default='')
    args = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix='pulse-mail-bench-')
    port = free_port()
    os.environ.update(PULSE_DATA_DIR=tmp, PULSE_SMTP_PORT=str(port), PULSE_MAIL_BATCH_WINDOW_S='0',
                      PULSE_DATABASE_URL=args.database_url or f'sqlite+aiosqlite:///{tmp}/bench.db')
    from aiosmtpd.controller import Controller

    from pulse_live import auth, db
    from pulse_live.config import get_settings
    from pulse_live.seed.demo import seed_people
    from pulse_live.models import Base, MailOutbox, utcnow
    from pulse_live.notify import planner, sender
    from pulse_live.services import tickets

    db.init(get_settings().resolved_database_url())
    async with db.engine().begin() as conn:
        await conn.run_sync(Base.metadata.drop_all)
        await conn.run_sync(Base.metadata.create_all)
    people = await seed_people(password_hash=auth.hash_password_sync('x'))
    anna = people.users['anna@pulse.demo']
    ticket = await tickets.create_ticket(actor=anna, title='Mail benchmark')
    async with db.session() as s, s.begin():
        await s.execute(MailOutbox.__table__.delete())

    started = time.perf_counter()
    now = utcnow()
    rows = [dict(to_addr=f'user{i}@bench.local', ticket_id=ticket.id, subject=ticket.reference, body_text='',
                 body_html='', message_id=planner.new_message_id(), references='', kind='update', status='pending',
                 attempts=0, next_attempt_at=now, last_error='', created_at=now, batch_key=f'bench{i}',
                 items=[{'event_id': None, 'text': f'Anna Keller changed Priority Minor → Major ({i})',
                         'why': ['watch']}]) for i in range(args.mails)]
    async with db.session() as s, s.begin():
        for chunk in range(0, len(rows), 1000):
            await s.execute(MailOutbox.__table__.insert(), rows[chunk:chunk + 1000])
    queued = time.perf_counter() - started

    sink = Sink()
    controller = Controller(sink, hostname='127.0.0.1', port=port)
    controller.start()
    try:
        started = time.perf_counter()
        while await sender.send_due(limit=500):
            pass
        seconds = time.perf_counter() - started
    finally:
        controller.stop()
        await db.dispose()
    assert sink.count == args.mails, f'sent {sink.count} of {args.mails}'
    print(f'queued {args.mails} mails in {queued:.2f} s; drained to the SMTP sink in {seconds:.2f} s '
          f'({args.mails / seconds:.0f} mails/s) on {db_name(args.database_url)}')
    print(json.dumps({'mails': args.mails, 'seconds': round(seconds, 2), 'mails_per_s': round(args.mails / seconds, 1),
                      'queue_seconds': round(queued, 2), 'database': db_name(args.database_url)}))


def db_name(url: str) -> str:
    return 'postgresql' if url.startswith('postgresql') else 'sqlite'


if __name__ == '__main__':
    asyncio.run(main())
