"""One app process's background workers, run as their own OS process by tests/unit/test_workers_two_processes.py
(``python -m tests.workers_process SECONDS MAILBOX_ID``): the mail sender, the missed-message scan, the webhook
sender, the escalation worker (acting only while it holds the advisory lock) and the mail import watcher's lease —
the same functions the app's workers call, in a tight loop, against the database in PULSE_DATABASE_URL/_SCHEMA.

Prints one JSON line: what this process did (rows handled, whether it held the escalation lock or the mailbox)."""
from __future__ import annotations

import asyncio
import json
import os
import sys
import time


async def main(seconds: float, mailbox_id: int) -> dict:
    from pulse_live import db
    from pulse_live.bus import MemoryBus, set_bus
    from pulse_live.config import get_settings
    from pulse_live.escalation_worker import Worker
    from pulse_live.intake import mail as intake
    from pulse_live.notify import missed, sender, webhooks
    settings = get_settings()
    db.init(settings.resolved_database_url(), schema=settings.database_schema)
    set_bus(MemoryBus())
    owner = f'test-process-{os.getpid()}'
    done = {'pid': os.getpid(), 'mails': 0, 'missed': 0, 'webhooks': 0, 'escalation_steps': 0, 'mailbox_claims': 0,
            'mailbox_refusals': 0}
    worker = Worker()
    start_file = os.environ['PULSE_TEST_START_FILE']
    while not os.path.exists(start_file):  # both processes start acting at the same moment
        await asyncio.sleep(0.01)
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            done['missed'] += await missed.mail_missed()
            done['mails'] += await sender.send_due(limit=10)
            done['webhooks'] += await webhooks.send_due(limit=5)
            if await worker.acquire():
                started = time.time()
                await worker.step()
                done['escalation_steps'] += 1
                held = done.setdefault('escalation_held', [started, started])
                held[1] = time.time()
            if await intake.claim(mailbox_id, owner=owner):
                done['mailbox_claims'] += 1
            else:
                done['mailbox_refusals'] += 1
            await asyncio.sleep(0.02)
    finally:
        await worker.release()
        await db.dispose()
    return done


if __name__ == '__main__':
    print(json.dumps(asyncio.run(main(float(sys.argv[1]), int(sys.argv[2])))), flush=True)
