"""The Redis bus survives a Redis restart (a private redis-server on a free port, stopped and started again): the
listener reconnects by itself, says so locally (BusResumed: open views re-read), and events flow again."""
from __future__ import annotations

import asyncio
import shutil
import subprocess

import pytest

from pulse_live.bus.redis import RedisBus
from pulse_live.events import BusResumed, TicketChanged
from tests.deploy_stack import answers, free_port

pytestmark = pytest.mark.skipif(shutil.which('redis-server') is None, reason='redis-server is not installed')


def _redis(port: int, workdir) -> subprocess.Popen:
    process = subprocess.Popen(['redis-server', '--port', str(port), '--bind', '127.0.0.1', '--save', '',
                                '--dir', str(workdir)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        if answers(port):
            return process
        subprocess.run(['sleep', '0.1'])
    raise RuntimeError('redis-server did not start')


async def _until(check, timeout_s: float = 20) -> None:
    for _ in range(int(timeout_s / 0.05)):
        if check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError('did not happen in time')


async def test_a_redis_restart_is_survived_and_announced(tmp_path):
    port = free_port()
    server = _redis(port, tmp_path)
    url, channel = f'redis://127.0.0.1:{port}/0', 'pulse-test:resume'
    sender, receiver = RedisBus(url, channel), RedisBus(url, channel)
    got: list = []

    async def record(event) -> None:
        got.append(event)
    receiver.subscribe(record)
    await sender.start()
    await receiver.start()
    try:
        await sender.publish(TicketChanged(ticket_id=1, kind='message', actor_id=None))
        await _until(lambda: any(isinstance(e, TicketChanged) and e.ticket_id == 1 for e in got))
        server.terminate()
        server.wait(timeout=10)
        await sender.publish(TicketChanged(ticket_id=2, kind='message', actor_id=None))  # lost: nobody relays it
        await asyncio.sleep(1)
        server = _redis(port, tmp_path)
        await _until(lambda: any(isinstance(e, BusResumed) for e in got))
        await sender.publish(TicketChanged(ticket_id=3, kind='message', actor_id=None))
        await _until(lambda: any(isinstance(e, TicketChanged) and e.ticket_id == 3 for e in got))
        assert not any(isinstance(e, TicketChanged) and e.ticket_id == 2 for e in got)  # hence the resume signal
    finally:
        await sender.stop()
        await receiver.stop()
        server.terminate()
        server.wait(timeout=10)


async def test_a_burst_of_publishes_is_relayed_whole(tmp_path, caplog):
    """300 changes published at once in one process (200 agents opening pages publish presence this way): every
    one reaches the other process. Each publish took its own connection from redis-py's pool (at most 100) and the
    rest failed with "Too many connections"."""
    port = free_port()
    server = _redis(port, tmp_path)
    url, channel = f'redis://127.0.0.1:{port}/0', 'pulse-test:burst'
    sender, receiver = RedisBus(url, channel), RedisBus(url, channel)
    got: set[int] = set()

    async def record(event) -> None:
        if isinstance(event, TicketChanged):
            got.add(event.ticket_id)
    receiver.subscribe(record)
    await sender.start()
    await receiver.start()
    try:
        await asyncio.gather(*(sender.publish(TicketChanged(ticket_id=n, kind='message', actor_id=None))
                               for n in range(1, 301)))
        await _until(lambda: len(got) == 300)
        assert not [r for r in caplog.records if 'could not relay' in r.getMessage()]
    finally:
        await sender.stop()
        await receiver.stop()
        server.terminate()
        server.wait(timeout=10)
