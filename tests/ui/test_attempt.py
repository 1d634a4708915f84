"""``components.actions.attempt`` answers on the page that asked even when the control that asked is gone."""
from __future__ import annotations

import asyncio
import gc

import pytest
from nicegui import context, ui
from nicegui.testing import User
from nicegui.testing.user_notify import UserNotify

from components.actions import attempt
from pulse_live.errors import ValidationError
from tests.ui.conftest import login


async def test_the_answer_reaches_the_page_when_the_control_that_asked_was_removed(user: User, people,
                                                                                  monkeypatch) -> None:
    """A fast double click on Take: the second click's answer comes after the first click's refresh removed that
    row. NiceGUI raised "the parent element this slot belongs to has been deleted" (a traceback per click in the
    log, and no answer on the page)."""
    await login(user, 'anna@pulse.demo')
    shown: list[tuple[str, str]] = []

    def notify(_self, message, **_kwargs) -> None:  # what NiceGUI's notify does first: find the current page
        shown.append((context.client.id, message))
    monkeypatch.setattr(UserNotify, '__call__', notify)  # the simulated user's notify (it stands in for ui.notify)
    with user.client.layout:
        row = ui.row()
    slot = row.default_slot
    release = asyncio.Event()

    async def refused() -> None:
        await release.wait()
        raise ValidationError('Somebody else took it meanwhile.')

    async def click() -> bool:
        with slot:  # as NiceGUI runs a handler: inside the slot of the control that was clicked
            return bool(await attempt(refused()))
    answer = asyncio.create_task(click())
    await asyncio.sleep(0.05)
    with user.client:
        user.client.layout.remove(row)  # the list refreshed: the row is gone
    del row
    gc.collect()
    with pytest.raises(RuntimeError), slot:  # what the old code met
        context.client  # noqa: B018
    release.set()
    assert await answer is False  # no RuntimeError
    assert shown == [(user.client.id, 'Somebody else took it meanwhile.')]  # on the page that asked

    async def done() -> None:
        await asyncio.sleep(0)
    with user.client.layout:
        other = ui.row()

    async def click_done() -> bool:
        with other.default_slot:
            return bool(await attempt(done(), success='It is yours now.'))
    assert await asyncio.create_task(click_done()) is True
    assert shown[-1] == (user.client.id, 'It is yours now.')


async def test_a_duplicate_refused_by_the_database_is_said_not_a_silent_traceback(user: User, people,
                                                                                 monkeypatch) -> None:
    """Two saves at the same moment pass the service's check and the database's unique key refuses the second: the
    page logged a traceback and said nothing (its dialog stayed open)."""
    from sqlalchemy.exc import IntegrityError

    from pulse_live.errors import CONFLICT_MESSAGE
    await login(user, 'anna@pulse.demo')
    shown: list[str] = []
    monkeypatch.setattr(UserNotify, '__call__', lambda _self, message, **_kwargs: shown.append(message))

    async def duplicate() -> None:
        raise IntegrityError('INSERT INTO organisations …', {}, Exception('UNIQUE constraint failed'))
    with user.client.layout:
        outcome = await attempt(duplicate())
    assert not outcome and isinstance(outcome.error, ValidationError)
    assert shown == [CONFLICT_MESSAGE]
