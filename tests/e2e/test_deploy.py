"""The deployment of docs/DEPLOY.md, brought up on loopback (tests/deploy_stack.py): two ``pulse-live serve``
processes on PostgreSQL + Redis, attachments in S3-compatible storage, behind nginx with TLS and sticky sessions
(deploy/nginx/pulse-live.conf as shipped, ports and certificate substituted).

Agents are put on different processes the way nginx does it (a fresh sticky cookie until it lands on the wanted
process); the ``X-Pulse-Upstream`` header the fixture adds names the process that answered."""
from __future__ import annotations

import asyncio
import contextlib
import re
import uuid
from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

from tests.deploy_stack import AppProcess, Stack, missing_parts

from .conftest import PASSWORD, VIEWPORT, Session, _launch, composer, header, post_message, reference, screenshot

pytestmark = pytest.mark.e2e
SHOTS = '/tmp/shots/h-deploy'


@pytest.fixture(scope='module')
def stack(tmp_path_factory):
    missing = missing_parts()
    if missing:
        pytest.skip(f'the deployment test needs: {missing}')
    s = Stack(workdir=tmp_path_factory.mktemp('pulse-deploy'), processes=2)
    try:
        s.start()
        yield s
    finally:
        print(s.logs())
        s.stop()


async def login_on(browser: Browser, stack: Stack, email: str, app: AppProcess, tries: int = 40) -> Session:
    """A fresh browser signed in through nginx whose sticky cookie leads to ``app``."""
    context = await browser.new_context(viewport=VIEWPORT, locale='en-GB', ignore_https_errors=True)
    context.set_default_timeout(15_000)
    page = await context.new_page()
    for attempt in range(tries):
        await context.clear_cookies()
        response = await page.goto(stack.url + '/login')
        assert response is not None and response.status == 200
        if (await response.all_headers()).get('x-pulse-upstream', '').endswith(f':{app.port}'):
            break
        if attempt >= tries // 2:  # nginx takes a process out for fail_timeout (10 s) after one failed request (a
            await asyncio.sleep(0.6)  # fault test before may have caused one): wait that out, then try again
    else:
        raise AssertionError(f'nginx never sent a fresh browser to process {app.name}')
    await page.wait_for_function('window.did_handshake === true', timeout=60_000)  # events before it may reorder
    await page.get_by_label('Email').fill(email)
    await page.get_by_label('Password').fill(PASSWORD)
    await page.get_by_role('button', name='Log in').click()
    await expect(page).not_to_have_url(re.compile(r'/login$'), timeout=60_000)
    return Session(email, context, page)


async def served_by(page: Page, stack: Stack) -> AppProcess:
    answer = await page.request.get(stack.url + '/login')
    return stack.app_on(answer.headers['x-pulse-upstream'])


async def open_ticket(stack: Stack, page: Page, ref: str) -> None:
    await page.goto(f'{stack.url}/tickets/{ref}')
    await expect(composer(page)).to_be_visible()


@contextlib.asynccontextmanager
async def anna_and_ben(stack: Stack, ref: str | None = None) -> AsyncIterator[tuple[Browser, Session, Session]]:
    """One browser with Anna signed in on the first process and Ben on the second, both on ticket ``ref`` if given."""
    a, b = stack.apps
    async with async_playwright() as playwright:
        browser = await _launch(playwright)
        try:
            anna = await login_on(browser, stack, 'anna@pulse.demo', a)
            ben = await login_on(browser, stack, 'ben@pulse.demo', b)
            if ref is not None:
                for s in (anna, ben):
                    await open_ticket(stack, s.page, ref)
            yield browser, anna, ben
        finally:
            await browser.close()


def work_row(page: Page, ref: str):
    return page.locator('div.grid').filter(has=page.get_by_role('link', name=ref, exact=True))


async def test_https_only_and_sticky(stack):
    """nginx terminates TLS and sends plain HTTP to https; a browser keeps its process across requests."""
    async with async_playwright() as playwright:
        browser = await _launch(playwright)
        try:
            context = await browser.new_context(ignore_https_errors=True)
            first = await context.request.get(stack.url + '/login')
            cookie = first.headers.get('set-cookie', '')
            assert first.status == 200 and 'pulse_upstream=' in cookie and 'Secure' in cookie and 'HttpOnly' in cookie
            upstreams = {(await context.request.get(stack.url + '/login')).headers['x-pulse-upstream']
                         for _ in range(10)}
            assert upstreams == {first.headers['x-pulse-upstream']}  # the cookie keeps it on one process
        finally:
            await browser.close()


async def test_agents_on_two_processes_see_each_other_live(stack):
    a, b = stack.apps
    async with anna_and_ben(stack) as (browser, anna, ben):
        assert (await served_by(anna.page, stack), await served_by(ben.page, stack)) == (a, b)
        ref = reference(5)
        await open_ticket(stack, anna.page, ref)
        await open_ticket(stack, ben.page, ref)
        # presence across processes: each sees the other's avatar
        await expect(header(anna.page, ref).get_by_text('BO', exact=True)).to_be_visible(timeout=15_000)
        await expect(header(ben.page, ref).get_by_text('AK', exact=True)).to_be_visible(timeout=15_000)
        # typing across processes
        typing = anna.page.get_by_text('Ben Okafor is typing…', exact=True)
        await composer(ben.page).press_sequentially('Checking the logs', delay=40)
        await expect(typing).to_be_visible(timeout=15_000)
        await screenshot(anna.page, 'deploy-typing-across-processes.png', full_page=False)
        await anna.page.screenshot(path=f'{SHOTS}/deploy-typing-across-processes.png')
        await composer(ben.page).fill('')
        # a message through process A reaches process B live, and back
        there = f'From process A ({uuid.uuid4().hex[:6]})'
        await post_message(anna.page, there)
        await expect(ben.page.get_by_text(there, exact=True)).to_be_visible(timeout=15_000)
        back = f'From process B ({uuid.uuid4().hex[:6]})'
        await post_message(ben.page, back)
        await expect(anna.page.get_by_text(back, exact=True)).to_be_visible(timeout=15_000)
        await ben.page.screenshot(path=f'{SHOTS}/deploy-live-on-process-b.png')
        # an attachment uploaded through A is downloaded through B (object storage), only with permission
        await anna.page.locator('input[type=file]').first.set_input_files(
            files=[{'name': 'trace.txt', 'mimeType': 'text/plain', 'buffer': b'stack trace from A'}])
        await post_message(anna.page, f'Trace attached ({uuid.uuid4().hex[:6]})')
        link = ben.page.get_by_role('link', name='trace.txt').first  # in the entry and the documents panel
        await expect(link).to_be_visible(timeout=15_000)
        href = await link.get_attribute('href')
        assert href is not None
        download = await ben.page.request.get(stack.url + href)
        assert download.status == 200 and await download.body() == b'stack trace from A'
        anonymous = await browser.new_context(ignore_https_errors=True)
        refused = await anonymous.request.get(stack.url + href, max_redirects=0)
        assert refused.status in (302, 303, 307, 404) and b'stack trace' not in await refused.body()
        await anonymous.close()
        for s in (anna, ben):
            await s.context.close()


async def test_take_races_across_processes_have_one_winner(stack):
    async with anna_and_ben(stack) as (_, anna, ben):
        for s in (anna, ben):
            await s.page.goto(stack.url + '/queues')
            await expect(s.page.get_by_role('button', name='Take').first).to_be_visible()
        for _ in range(3):
            take = anna.page.get_by_role('button', name='Take').first
            ref = (await anna.page.locator('div.grid').filter(has=take).get_by_role('link').first
                   .inner_text()).strip()
            take = work_row(anna.page, ref).get_by_role('button', name='Take')  # that row's, even if the list
            ben_take = work_row(ben.page, ref).get_by_role('button', name='Take')  # moves before the click
            await expect(take).to_be_visible()
            await expect(ben_take).to_be_visible()
            await asyncio.gather(take.click(), ben_take.click())  # both at once, on two processes
            won = [anna.page.get_by_text(f'{ref} is yours now.'), ben.page.get_by_text(f'{ref} is yours now.')]
            lost = [anna.page.get_by_text(re.compile(rf'{ref} (was just|is already) taken by')),
                    ben.page.get_by_text(re.compile(rf'{ref} (was just|is already) taken by'))]
            await expect(won[0].or_(lost[0])).to_be_visible(timeout=15_000)
            await expect(won[1].or_(lost[1])).to_be_visible(timeout=15_000)
            outcome = [await w.count() > 0 for w in won]
            assert outcome.count(True) == 1, f'{ref}: winners {outcome}'
            winner = 'anna@pulse.demo' if outcome[0] else 'ben@pulse.demo'
            assert stack.psql(f"SELECT u.email FROM tickets t JOIN users u ON u.id = t.assignee_id "
                              f"WHERE t.reference = '{ref}'") == winner
            assert stack.psql(f"SELECT count(*) FROM ticket_events e JOIN tickets t ON t.id = e.ticket_id "
                              f"WHERE t.reference = '{ref}' AND e.body LIKE '%took the ticket'") == '1'
            for s in (anna, ben):  # the taken row leaves both lists live
                await expect(work_row(s.page, ref)).to_have_count(0, timeout=15_000)
