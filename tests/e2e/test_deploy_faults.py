"""Faults survived by the deployment of docs/DEPLOY.md (tests/deploy_stack.py: two processes behind nginx), each
bounded in time: the mail server down for a long stretch of retries, Redis restarted, PostgreSQL restarted (a private
server of the fixture, stopped and started with pg_ctl), and one app process killed with SIGKILL while agents post.

What each checks is what a person would see: messages appear once on every screen, mails arrive once."""
from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter

import pytest
from aiosmtpd.controller import Controller
from playwright.async_api import expect

from tests.deploy_stack import Stack, free_port, missing_parts

from .conftest import composer, reference
from .test_deploy import anna_and_ben, served_by

pytestmark = pytest.mark.e2e
SHOTS = '/tmp/shots/h-deploy'


class Sink:
    def __init__(self) -> None:
        self.message_ids: list[str] = []

    async def handle_DATA(self, server, session, envelope):
        for line in envelope.content.decode(errors='replace').splitlines():
            if line.lower().startswith('message-id:'):
                self.message_ids.append(line.split(':', 1)[1].strip())
                break
        return '250 OK'


@pytest.fixture(scope='module')
def smtp_port() -> int:
    return free_port()


@pytest.fixture(scope='module')
def stack(tmp_path_factory, smtp_port):
    missing = missing_parts()
    if missing:
        pytest.skip(f'the deployment test needs: {missing}')
    # the mail workers run in both processes; retries every 1-3 s instead of 30 s … 1 h, so a few dozen tries (hours
    # of an outage with the defaults) fit in the test
    s = Stack(workdir=tmp_path_factory.mktemp('pulse-faults'), processes=2, own_postgres=True, extra_env={
        'PULSE_MAIL_WORKER': 'true', 'PULSE_SMTP_PORT': str(smtp_port), 'PULSE_MAIL_BATCH_WINDOW_S': '0',
        'PULSE_MAIL_RETRY_BASE_S': '1', 'PULSE_MAIL_RETRY_MAX_S': '3', 'PULSE_MAIL_MAX_ATTEMPTS': '100',
        'PULSE_SMTP_TIMEOUT_S': '3'})
    try:
        s.start()
        yield s
    finally:
        print(s.logs())
        s.stop()


def _wait_for(check, timeout_s: float, what: str):
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, what
        time.sleep(0.5)


async def _send(page, text: str, tab_name: str, button: str) -> None:
    """Write ``text`` in the agents' composer, pick the tab and send; waits as long as a loaded machine needs."""
    box = composer(page)
    await box.fill(text)
    tab = page.get_by_role('tab', name=tab_name)
    await tab.click(timeout=30_000)
    await expect(tab).to_have_attribute('aria-selected', 'true', timeout=30_000)
    await page.get_by_role('button', name=button).click(timeout=30_000)
    await expect(box).to_have_value('', timeout=30_000)


async def post_message(page, text: str) -> None:
    """An internal note."""
    await _send(page, text, 'Internal note', 'Send internal note')


async def post_reply(page, text: str) -> None:
    """A reply to the customer (who is offline, so it is also mailed)."""
    await _send(page, text, 'Reply to customer', 'Send reply')


def _count(stack: Stack, text: str) -> int:
    return int(stack.psql(f"SELECT count(*) FROM ticket_events WHERE body = '{text}'"))


async def test_mail_server_down_through_many_retries_then_each_mail_once(stack, smtp_port):
    ref = reference(7)
    async with anna_and_ben(stack, ref) as (_, anna, ben):
        before = int(stack.psql('SELECT count(*) FROM mail_outbox'))
        for i in range(3):  # public replies: the customer (offline) is mailed
            await post_reply(anna.page, f'Reply {i} from A while mail is down')
            await post_reply(ben.page, f'Reply {i} from B while mail is down')
        queued = _wait_for(lambda: int(stack.psql('SELECT count(*) FROM mail_outbox')) - before >= 6, 30,
                           'the replies queued no mail')
        assert queued
        # the server stays down through many attempts of every mail
        _wait_for(lambda: int(stack.psql("SELECT coalesce(min(attempts), 0) FROM mail_outbox "
                                         "WHERE status = 'pending'")) >= 6,
                  120, 'the mails were not retried while the server was down')
        assert stack.psql("SELECT count(*) FROM mail_outbox WHERE status = 'dead'") == '0'
        sink = Sink()
        controller = Controller(sink, hostname='127.0.0.1', port=smtp_port)
        controller.start()
        try:
            _wait_for(lambda: stack.psql("SELECT count(*) FROM mail_outbox WHERE status <> 'sent'") == '0', 90,
                      'not every mail was sent after the server came back')
            await asyncio.sleep(5)  # any second sending would have happened by now
        finally:
            controller.stop()
        expected = set(stack.psql('SELECT message_id FROM mail_outbox').splitlines())
        counts = Counter(sink.message_ids)
        assert set(counts) == expected and set(counts.values()) == {1}, counts.most_common(3)


async def test_redis_restarted_live_updates_resume_and_pages_catch_up(stack):
    ref = reference(10)  # demo tickets 1, 2, 5, 6, 7, 10, 11, 12 … are open
    async with anna_and_ben(stack, ref) as (_, anna, ben):
        tag = uuid.uuid4().hex[:6]
        await post_message(anna.page, f'Before the Redis restart {tag}')
        await expect(ben.page.get_by_text(f'Before the Redis restart {tag}')).to_be_visible(timeout=15_000)
        stack.stop_redis()
        await post_message(anna.page, f'While Redis is down {tag}')  # stored; no process hears of it
        stack.start_redis()
        await expect(ben.page.get_by_text(f'While Redis is down {tag}')).to_be_visible(timeout=30_000)
        await post_message(anna.page, f'After the Redis restart {tag}')
        await expect(ben.page.get_by_text(f'After the Redis restart {tag}')).to_be_visible(timeout=30_000)
        await ben.page.screenshot(path=f'{SHOTS}/faults-redis-caught-up.png')
        for text in ('Before the Redis restart', 'While Redis is down', 'After the Redis restart'):
            await expect(ben.page.get_by_text(f'{text} {tag}')).to_have_count(1)
            assert _count(stack, f'{text} {tag}') == 1


async def test_postgresql_restarted_requests_fail_clearly_then_recover(stack):
    ref = reference(11)
    async with anna_and_ben(stack, ref) as (_, anna, ben):
        tag = uuid.uuid4().hex[:6]
        stack.stop_postgres()
        try:
            await composer(anna.page).fill(f'While the database is down {tag}')
            await anna.page.get_by_role('tab', name='Internal note').click()
            await anna.page.get_by_role('button', name='Send internal note').click()
            await expect(anna.page.get_by_text('The database is not answering', exact=False)).to_be_visible(
                timeout=30_000)
            await anna.page.screenshot(path=f'{SHOTS}/faults-database-down-message.png')
            await expect(composer(anna.page)).to_have_value(f'While the database is down {tag}')  # not lost
            page = await ben.context.new_page()
            answer = await page.goto(f'{stack.url}/tickets/{ref}')
            assert answer is not None and answer.status == 503
            await expect(page.get_by_role('heading', name='The database is not answering')).to_be_visible()
            await page.screenshot(path=f'{SHOTS}/faults-database-down-page.png')
            await page.close()
        finally:
            stack.start_postgres()
        # by itself: the same page, the same click, no reload
        await anna.page.get_by_role('button', name='Send internal note').click()
        await expect(composer(anna.page)).to_have_value('', timeout=30_000)
        await expect(ben.page.get_by_text(f'While the database is down {tag}')).to_be_visible(timeout=30_000)
        assert _count(stack, f'While the database is down {tag}') == 1


async def test_kill_9_of_one_process_while_agents_post(stack):
    a, b = stack.apps
    ref = reference(12)
    try:
        async with anna_and_ben(stack, ref) as (_, anna, ben):
            tag = uuid.uuid4().hex[:6]
            texts = []

            async def ben_posts(n: int) -> None:
                for i in range(n):
                    texts.append(f'Ben {i} {tag}')
                    await post_message(ben.page, texts[-1])
            for i in range(3):
                texts.append(f'Anna {i} {tag}')
                await post_message(anna.page, texts[-1])
            await anna.page.evaluate('window.__servedByTheKilledProcess = true')
            ben_task = asyncio.ensure_future(ben_posts(4))  # Ben goes on posting on B meanwhile
            stack.kill_app(a)
            # Anna's page loses its process; it reconnects through nginx to B, which does not know it: the page loads
            # afresh there, still signed in (the session is in Redis)
            await anna.page.wait_for_function('window.__servedByTheKilledProcess === undefined && '
                                              'window.did_handshake === true', timeout=60_000)
            await expect(composer(anna.page)).to_be_visible(timeout=60_000)
            await expect(anna.page.get_by_text(f'Anna 2 {tag}')).to_be_visible(timeout=60_000)
            assert await served_by(anna.page, stack) == b
            for i in range(3, 6):
                texts.append(f'Anna {i} {tag}')
                await post_message(anna.page, texts[-1])
            await ben_task
            for s in (anna, ben):
                for text in texts:
                    await expect(s.page.get_by_text(text, exact=True)).to_have_count(1, timeout=30_000)
            await anna.page.screenshot(path=f'{SHOTS}/faults-after-kill-anna-on-b.png')
            for text in texts:
                assert _count(stack, text) == 1, text
    finally:
        stack.start_app(a)  # systemd's Restart=always
        stack.wait_app(a)
