"""End-to-end fixtures: one real ``pulse-live serve --demo`` process per session, real Chromium per test.

The server is a plain subprocess (sync fixture, so it does not depend on any event loop); every test gets its
own Playwright + browser on the test's own event loop (async API only — sync Playwright breaks asyncio tests).

Browser lookup order: ``$PULSE_CHROMIUM``; Playwright's own Chromium; ``/usr/bin/chromium``.
Screenshots go to ``test-artifacts/`` at the repository root (git-ignored); on a failure every open page is
captured there too and the tail of the server log is printed.
"""
from __future__ import annotations

import contextlib
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest
from playwright.async_api import Browser, BrowserContext, Locator, Page, async_playwright, expect

REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO_ROOT / 'test-artifacts'
LAUNCH_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
               '--no-first-run', '--disable-sync']
DEBIAN_CHROMIUM = '/usr/bin/chromium'
PASSWORD = 'demo'
VIEWPORT = {'width': 1400, 'height': 1000}
START_TIMEOUT_S = 60


def pytest_collection_modifyitems(items):
    for item in items:
        if 'e2e' in item.path.parts:
            item.add_marker(pytest.mark.e2e)


# --- the server -------------------------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _server_command(port: int) -> list[str]:
    script = Path(sys.executable).parent / 'pulse-live'
    base = [str(script)] if script.exists() else [sys.executable, '-m', 'pulse_live.cli']
    return [*base, 'serve', '--demo', '--host', '127.0.0.1', '--port', str(port)]


@dataclass
class Server:
    url: str
    log_path: Path
    process: subprocess.Popen

    def log_tail(self, lines: int = 60) -> str:
        try:
            return '\n'.join(self.log_path.read_text(errors='replace').splitlines()[-lines:])
        except OSError as e:
            return f'(no server log: {e})'


@pytest.fixture(scope='session')
def server(tmp_path_factory) -> Iterator[Server]:
    """A real server with the demo data in a fresh data directory (SQLite, in-process bus)."""
    yield from serve(tmp_path_factory.mktemp('pulse-e2e'))


def serve(workdir: Path, **settings: str) -> Iterator[Server]:
    """Start ``pulse-live serve --demo`` in ``workdir`` with ``settings`` (environment variables) added; yields the
    server once it answers, stops it after."""
    port = _free_port()
    env = dict(os.environ)
    for name in ('PYTEST_CURRENT_TEST', 'PULSE_DATABASE_URL', 'PULSE_BUS_URL'):
        env.pop(name, None)  # NiceGUI thinks it is in a screen test if PYTEST_CURRENT_TEST is set
    env.update(PULSE_DATA_DIR=str(workdir / 'data'), PYTHONUNBUFFERED='1', **settings)
    log_path = workdir / 'server.log'
    log = log_path.open('wb')
    # cwd: the temp dir, so neither the repo's .env nor a .nicegui/ storage folder leaks in or out
    process = subprocess.Popen(_server_command(port), cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT)
    srv = Server(url=f'http://127.0.0.1:{port}', log_path=log_path, process=process)
    deadline = time.monotonic() + START_TIMEOUT_S
    problem = 'did not answer'
    while True:
        if process.poll() is not None:
            problem = f'exited with code {process.returncode}'
            break
        try:
            with urllib.request.urlopen(srv.url + '/login', timeout=2) as response:
                if response.status == 200:
                    problem = ''
                    break
        except (urllib.error.URLError, OSError):
            pass
        if time.monotonic() > deadline:
            problem = f'did not answer 200 on /login within {START_TIMEOUT_S} s'
            break
        time.sleep(0.25)
    if problem:
        _stop(process)
        log.close()
        print(f'--- server log ({log_path}) ---\n{srv.log_tail(200)}', file=sys.stderr)
        pytest.fail(f'pulse-live serve {problem}', pytrace=False)
    yield srv
    _stop(process)
    log.close()


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


# --- the browser ------------------------------------------------------------------------------------------

_launch_choice: dict[str, str | None] = {}  # remembers which executable worked, so later tests skip failed tries


async def _launch(playwright) -> Browser:
    chromium = playwright.chromium
    if 'path' in _launch_choice:
        path = _launch_choice['path']
        return await chromium.launch(headless=True, args=LAUNCH_ARGS, **({'executable_path': path} if path else {}))
    env_path = os.environ.get('PULSE_CHROMIUM')
    if env_path:
        browser = await chromium.launch(headless=True, args=LAUNCH_ARGS, executable_path=env_path)
        _launch_choice['path'] = env_path
        return browser
    try:
        browser = await chromium.launch(headless=True, args=LAUNCH_ARGS)
        _launch_choice['path'] = None
        return browser
    except Exception as own_error:  # Playwright's own browser is not downloaded here
        if not Path(DEBIAN_CHROMIUM).exists():
            raise RuntimeError('No Chromium: set PULSE_CHROMIUM, run `playwright install chromium`, or install '
                               f"Debian's chromium package ({own_error})") from own_error
        browser = await chromium.launch(headless=True, args=LAUNCH_ARGS, executable_path=DEBIAN_CHROMIUM)
        _launch_choice['path'] = DEBIAN_CHROMIUM
        return browser


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f'rep_{report.when}', report)
    return report


def artifact(name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS / name


async def screenshot(page: Page, name: str, *, full_page: bool = True) -> Path:
    path = artifact(name)
    await page.screenshot(path=str(path), full_page=full_page)
    print(f'screenshot: {path}')
    return path


@dataclass
class Session:
    """One signed-in browser context (think: one person at their own computer)."""
    email: str
    context: BrowserContext
    page: Page

    async def close(self) -> None:
        await self.context.close()


@dataclass
class E2E:
    server: Server
    browser: Browser
    sessions: list[Session] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.server.url

    async def login(self, email: str) -> Session:
        """A fresh context, signed in through the login form like a person would."""
        context = await self.browser.new_context(viewport=VIEWPORT, locale='en-GB')
        context.set_default_timeout(10_000)
        page = await context.new_page()
        session = Session(email, context, page)
        self.sessions.append(session)
        await page.goto(self.url + '/login')
        # NiceGUI holds a page's events until its socket's handshake, each in its own 10 ms retry: typed before it,
        # the click could reach the server before the password did (CI, a loaded machine: "not correct")
        await page.wait_for_function('window.did_handshake === true', timeout=30_000)
        await page.get_by_label('Email').fill(email)
        await page.get_by_label('Password').fill(PASSWORD)
        await page.get_by_role('button', name='Log in').click()
        await expect(page).not_to_have_url(re.compile(r'/login$'), timeout=20_000)
        return session

    async def open_ticket(self, session: Session, reference: str) -> Page:
        page = session.page
        await page.goto(f'{self.url}/tickets/{reference}')
        await expect(page.get_by_text(reference, exact=True)).to_be_visible()
        await expect(composer(page).or_(page.get_by_text('Ticket not found'))).to_be_visible()
        return page


@pytest.fixture
async def e2e(server, request) -> AsyncIterator[E2E]:
    async with async_playwright() as playwright:
        browser = await _launch(playwright)
        env = E2E(server=server, browser=browser)
        try:
            yield env
        finally:
            report = getattr(request.node, 'rep_call', None)
            if report is not None and report.failed:
                safe = re.sub(r'[^A-Za-z0-9_.-]+', '_', request.node.name)
                for n, s in enumerate(env.sessions):
                    if not s.page.is_closed():
                        try:
                            await screenshot(s.page, f'failed-{safe}-{n}-{s.email.split("@")[0]}.png')
                        except Exception as e:  # noqa: BLE001 - best effort only
                            print(f'(no failure screenshot for {s.email}: {e})')
                print(f'--- server log tail ({server.log_path}) ---\n{server.log_tail()}')
            for s in env.sessions:
                with contextlib.suppress(Exception):  # the test may have closed it already
                    await s.context.close()
            await browser.close()


# --- page helpers -----------------------------------------------------------------------------------------

def reference(number: int) -> str:
    """Demo ticket ``number`` (1-based, in seeding order); references carry the UTC year of creation."""
    return f'PL-{datetime.now(UTC).year}-{number:06d}'


def composer(page: Page):
    return page.get_by_placeholder('Write a message', exact=False)


def header(page: Page, ref: str):
    """The ticket's top row: reference, type/priority/status badges and the presence bar."""
    return page.get_by_text(ref, exact=True).locator('xpath=..')


def chatter_entry(page: Page, text: str):
    return page.get_by_text(text, exact=True)


async def detail_field(page: Page, label: str) -> Locator:
    """The ticket's detail field labelled ``label``, ready to type into: a field is shown as its face until the user
    goes into it (components/details.py); clicked, its editor takes the face's place, focused."""
    box = page.get_by_label(label, exact=True)
    await box.click()
    await expect(page.locator('.pl-face').filter(has=page.get_by_label(label, exact=True))).to_have_count(0)
    await expect(box).to_be_focused()
    return box


async def choose(page: Page, label: str, option: str) -> None:
    """Pick ``option`` in the Quasar select labelled ``label``: open it, then click the option in the menu."""
    await page.get_by_label(label, exact=True).click()
    menu_option = page.locator('.q-menu').get_by_role('option', name=option, exact=True)
    await expect(menu_option).to_be_visible()
    await menu_option.click()


async def composer_mode(page: Page, *, internal: bool) -> None:
    """Pick the agents' composer mode: the Internal note or the Reply to customer tab."""
    tab = page.get_by_role('tab', name='Internal note' if internal else 'Reply to customer')
    await tab.click()
    await expect(tab).to_have_attribute('aria-selected', 'true')


async def post_message(page: Page, text: str, *, internal: bool = False) -> None:
    """Send ``text`` from the agents' composer as a reply to the customer (or an internal note)."""
    box = composer(page)
    await box.fill(text)
    await composer_mode(page, internal=internal)
    await page.get_by_role('button', name='Send internal note' if internal else 'Send reply').click()
    await expect(box).to_have_value('')

