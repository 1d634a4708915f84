"""UI tests use NiceGUI's simulated users against the real app (pulse_live/main.py) on a fresh SQLite database with
the tests' own data set (tests/factories.py)."""
from __future__ import annotations

import asyncio
import html
import os
import re
from collections.abc import Callable

import pytest
from nicegui.testing import User

from pulse_live import db
from tests.conftest import let_database_threads_finish
from tests.factories import People, people_for_test

# Live updates arrive through the bus and a fresh read, each its own task: on a busy CI machine a few hundred
# milliseconds are not enough. NiceGUI's default is 3 tries 0.1 s apart; every should_see / should_not_see in
# the UI tests waits up to 5 s instead (each returns as soon as the page matches).
User.should_see.__kwdefaults__['retries'] = 50
User.should_not_see.__kwdefaults__['retries'] = 50


@pytest.fixture(autouse=True)
async def _ui_database() -> People:
    """SQLite only (the UI does not care which database answers); autouse, so the schema exists before the
    app starts its workers."""
    db.init(os.environ['PULSE_DATABASE_URL'])
    await db.create_all()
    people = await people_for_test()
    yield people
    await db.dispose()
    await let_database_threads_finish()


@pytest.fixture
def people(_ui_database) -> People:
    return _ui_database


async def login(user, email: str, password: str = 'demo', *, expect: str | None = 'Log out') -> None:
    """Log in through the form; wait (hashing takes ~0.1 s) until ``expect`` is on the page."""
    await user.open('/login')
    user.find('Email').type(email)
    user.find('Password').type(password)
    user.find('Log in').click()
    if expect:
        try:
            await user.should_see(expect, retries=300)  # generous (30 s): argon2 on a busy 2-core machine is slow
        except AssertionError:
            _dump_tasks_and_threads(f'login of {email} did not finish')
            raise


HEADER_LINK = re.compile(r'<a [^>]*href="([^"]*)"[^>]*>([^<]*)</a>')


def header_links(user, *markers: str) -> dict[str, str]:
    """The header's links by their text, with where each leads: plain links in one element each (components/frame.py)
    — the destinations of wide screens (``nav-links``, with the logo), the admin's settings menu and the signed-in
    user's name, or only those of ``markers``."""
    wanted = set(markers or ('nav-links', 'admin-menu-links', 'signed-in'))
    links: dict[str, str] = {}
    for element in user.client.layout.descendants():
        if wanted & set(element._markers):  # noqa: SLF001 (user.find fails when there is none: not every role has each)
            links.update({html.unescape(label): html.unescape(href)
                          for href, label in HEADER_LINK.findall(element.content)})
    return links


async def open_ticket(user, email: str, reference: str) -> None:
    """Log in as ``email`` and open the ticket page of ``reference``."""
    await login(user, email)
    await user.open(f'/tickets/{reference}')
    await user.should_see(reference)
    if email.endswith('@pulse.demo'):  # staff: the side column comes once the page connected
        await user.should_see(marker='documents', retries=100)


def send(user, text: str, *, mode: str | None = None) -> None:
    """Write ``text`` in the ticket page's composer and send it; ``mode`` ('reply' or 'note') is chosen first."""
    if mode:
        user.find(marker=f'mode-{mode}').click()
    user.find(marker='composer').type(text)
    user.find('Send').click()


async def until(condition: Callable[[], object], tries: int = 100) -> None:
    """Wait (up to ``tries`` × 50 ms) until ``condition()`` is true."""
    for _ in range(tries):
        if condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError('condition not met in time')


def _dump_tasks_and_threads(why: str) -> None:
    """What the event loop and the threads are doing (for a test that waited in vain), on stderr."""
    import asyncio
    import sys
    import threading
    import traceback
    print(f'--- {why}: asyncio tasks ---', file=sys.stderr)
    for task in asyncio.all_tasks():
        print(f'{task!r}', file=sys.stderr)
        task.print_stack(limit=8, file=sys.stderr)
    print('--- threads ---', file=sys.stderr)
    frames = sys._current_frames()
    for thread in threading.enumerate():
        print(f'{thread.name}:', file=sys.stderr)
        traceback.print_stack(frames.get(thread.ident), limit=8, file=sys.stderr)


def documents(user) -> str:
    """The documents list's markup (components/documents.py: one static element), '' before the side column."""
    found = [e for e in user.client.elements.values() if 'documents' in e._markers]
    return found[0].content if found else ''


def _marked(user, marker: str) -> list:
    return [e for e in user.client.elements.values() if marker in e._markers and not e.is_deleted]


async def detail_field(user, field: str):
    """The ticket page's editor of ``field``: a detail field is shown as its face until the user goes into it
    (components/details.py); the face is focused, as a click or Tab does in a browser, and its editor built."""
    return await _opened(user, f'face-{field}', f'field-{field}')


async def team_picker(user):
    """The team's "Add a member" select, built when the user goes into its face (components/team.py)."""
    return await _opened(user, 'team-picker-face', 'team-picker')


async def _opened(user, face: str, editor: str):
    for attempt in range(200):
        editors = _marked(user, editor)
        if editors:
            return editors[0]
        if attempt % 20 == 0 and _marked(user, face):
            user.find(marker=face).trigger('focusin')
        await asyncio.sleep(0.05)
    raise AssertionError(f'no {editor} came')


FACE_VALUE = re.compile(r'<input [^>]*value="([^"]*)"|<textarea [^>]*>([^<]*)</textarea>')


def detail_shown(user, field: str) -> tuple[str, bool] | None:
    """What the detail field ``field`` shows while it is a face — its text, and whether it may be changed — or None
    when it is an editor or not there (yet)."""
    faces = _marked(user, f'face-{field}')
    if not faces:
        return None
    content = faces[0].content
    found = FACE_VALUE.search(content)
    assert found, content
    return html.unescape(found.group(1) or found.group(2) or ''), ' disabled' not in content


def document_names(user) -> list[str]:
    """The file names the documents list shows, in order."""
    return [html.unescape(name) for name in
            re.findall(r'<a class="[^"]*" href="/attachments/\d+" target="_blank">([^<]*)</a>', documents(user))]


@pytest.fixture
def nicegui_path(monkeypatch) -> Callable[[], None]:
    """Call to put NiceGUI's own element machinery back for new elements (undone after the test): NiceGUI's props,
    classes and style (not components/lean_elements'), with NiceGUI's ``_handle_change`` (not
    components/render.install_direct_element_updates')."""
    from nicegui import element as element_module
    from nicegui.classes import Classes
    from nicegui.props import Props
    from nicegui.style import Style

    def put_back() -> None:
        for cls in (Props, Classes, Style):
            monkeypatch.setattr(cls, '_handle_change', cls._handle_change.__pulse_original__)
            monkeypatch.setattr(element_module, cls.__name__, cls)
    return put_back


def count_chatter_reads(monkeypatch) -> list[int]:
    """From now on, the id of the viewer of every chatter read a live change makes (``queries/shared.new_events``)."""
    from pulse_live.queries import shared
    reads: list[int] = []
    new_events = shared.new_events

    async def counted(viewer, *args, **kwargs):
        reads.append(viewer.id)
        return await new_events(viewer, *args, **kwargs)
    monkeypatch.setattr(shared, 'new_events', counted)
    return reads
