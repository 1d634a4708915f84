"""The notification bell in the header: unread count, recent list, mark read; live, with a toast."""
from __future__ import annotations

import asyncio

from nicegui import background_tasks, ui

from pulse_live import presence
from pulse_live.events import NotificationCreated, NotificationsRead
from pulse_live.models import User
from pulse_live.queries import notifications as note_queries
from pulse_live.queries.shared import shared_read
from pulse_live.services import notifications

from . import in_app, live

_counts: dict[tuple[int, int], tuple[object, int]] = {}
COUNT_KEPT_S = 5.0


async def unread_after(user_id: int, event: NotificationCreated | NotificationsRead | None) -> int:
    """The user's unread count, read once per event for all their open pages (a desk has the app open in several
    tabs, and every page has a bell): the first page reads, pages reading meanwhile share it
    (``queries/shared.py``), pages that come to it later take its answer for a few seconds. The answer was read
    after the change committed (events are published after the commit); the next change is another event."""
    if event is None:
        return await note_queries.unread_count(user_id)
    key = (user_id, id(event))
    hit = _counts.get(key)
    if hit is not None and hit[0] is event:
        return hit[1]
    count = await shared_read(('unread', *key), lambda: note_queries.unread_count(user_id))
    if key not in _counts:
        _counts[key] = (event, count)  # the event kept with it: its id() names this change while it is kept
        asyncio.get_running_loop().call_later(COUNT_KEPT_S, _counts.pop, key, None)
    return count


class Bell:
    def __init__(self, user: User) -> None:
        self.user = user
        self.client = ui.context.client
        with ui.button(icon='notifications').props('flat round dense color=white').mark('bell') as self.button:
            self.badge = ui.badge('', color='red').props('floating rounded').mark('bell-count')
            self.badge.set_visibility(False)
            with ui.menu().props('anchor="bottom right" self="top right"') as self.menu:
                self.items = ui.column().classes('w-96 max-w-[90vw] gap-0 p-1')
        self.menu.on_value_change(lambda e: e.value and background_tasks.create(self._fill(), name='bell-fill'))
        created, read = live.user_events(user.id)  # this person's notifications only
        created.subscribe(self._created)
        read.subscribe(self._read)
        self.client.on_delete(lambda: live.forget_user_events(user.id))  # after the unsubscriptions above
        background_tasks.create(self._count(), name='bell-count')

    async def _count(self, event: NotificationCreated | NotificationsRead | None = None) -> None:
        count = await unread_after(self.user.id, event)
        if not self.client.is_deleted:
            self.badge.set_text(str(count) if count < 100 else '99+')
            self.badge.set_visibility(count > 0)

    async def _fill(self) -> None:
        rows = await note_queries.recent(self.user.id)
        self.items.clear()
        with self.items:
            with ui.row().classes('w-full items-center px-2 py-1'):
                ui.label('Notifications').classes('font-medium')
                ui.space()
                ui.button('Mark all read', on_click=self._mark_all).props('flat dense no-caps size=sm')
            if not rows:
                ui.label('Nothing yet.').classes('text-sm text-slate-400 px-2 py-2')
            for row in rows:
                with ui.item(on_click=lambda row=row: self._open(row)).classes('w-full rounded') \
                        .mark('notification'), ui.item_section():
                    ui.label(row.text).classes('text-sm' + ('' if row.read else ' font-semibold'))
                    ui.label(f'{row.created_at:%Y-%m-%d %H:%M}').classes('text-xs text-slate-400')

    async def _open(self, row: note_queries.NotificationRow) -> None:
        await notifications.mark_read(actor=self.user, notification_ids=[row.id])
        if row.reference:
            self.menu.close()  # (opened in place, the page stays: the menu must not stay open over the ticket)
            await in_app.go(f'/tickets/{row.reference}')  # in place where the page offers it

    async def _mark_all(self) -> None:
        await notifications.mark_read(actor=self.user)
        await self._fill()

    async def _created(self, event: NotificationCreated) -> None:
        if event.user_id != self.user.id or self.client.is_deleted:
            return
        if event.ticket_id is not None and presence.viewed_in(event.ticket_id, self.client.id):
            # This tab shows that ticket: the entry appears in its chatter right now, so no toast repeating it,
            # and it is read. (The planner does not notify users it knows are viewing the ticket; this covers a tab
            # it did not know of yet: just opened, or presence from another process not arrived.)
            await notifications.mark_read(actor=self.user, notification_ids=[event.notification_id])
            return  # NotificationsRead re-counts the bell in every tab of the user
        ui.notify(event.text, type='info', position='top-right', timeout=6000, multi_line=True)
        await self._count(event)

    async def _read(self, event: NotificationsRead) -> None:
        if event.user_id == self.user.id and not self.client.is_deleted:
            await self._count(event)
