"""Following one ticket live from a page: its change events, and this tab's presence on it.

Both the agents' ticket page and the customer's portal request page use it, so the rules are the same for both:
the subscription lives and dies with what the page shows (its scope, components/page_scope.py: the tab, or the
ticket until the tab moves on to another in place), a handler never runs once that ended, and the tab counts as
viewing the ticket while its socket is connected and the ticket is what it shows.
"""
from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from nicegui import background_tasks, ui

from pulse_live import presence
from pulse_live.events import PresenceChanged, TicketChanged
from pulse_live.models import User
from pulse_live.services import chatter
from pulse_live.storage import UploadedFile

from . import housekeeping, live, page_scope
from .actions import attempt


class TicketFollower:
    """Subscribe the current page to one ticket; ``post`` sends the composer's message and ``typing`` reports
    this tab's composer."""

    def __init__(self, ticket_id: int, user: User, *, is_staff: bool,
                 on_change: Callable[[TicketChanged], Awaitable[None]],
                 on_presence: Callable[[], None] | None = None) -> None:
        self.ticket_id, self.user = ticket_id, user
        self.client = client = ui.context.client
        self.scope = scope = page_scope.current(client)
        housekeeping.watch()  # what the closed tab leaves in process-wide caches is released with its client

        # A page without a live socket (its tab went to another page, or the connection dropped: NiceGUI keeps it
        # for reconnect_timeout) re-reads and re-renders nothing: the changes it missed are kept, one per kind, and
        # shown when its socket comes back. Every tab that navigated away would otherwise cost each change a read
        # and a render for 15 s (measured: benchmarks/desk_load.py). The same before its first connection: what is
        # changed on a page not yet connected waits in its outbox for the socket anyway, and a page that never
        # connects (a prefetch, a script, a flood of GETs) made every change of its ticket cost a read and a render
        # until it went (benchmarks/load.py's page loads: hundreds of such pages at once).
        missed: dict[str, TicketChanged] = {}
        missed_presence = [False]

        def over() -> bool:
            return client.is_deleted or scope.ended

        def away() -> bool:
            return not client.has_socket_connection

        async def changed(event: TicketChanged) -> None:
            if event.ticket_id != ticket_id or over():
                return
            if away():
                missed.pop(event.kind, None)
                missed[event.kind] = event  # the newest of each kind, in the order they came
                return
            await on_change(event)

        async def caught_up() -> None:
            while missed and not over() and client.has_socket_connection:
                kind = next(iter(missed))
                await on_change(missed.pop(kind))
            if missed_presence[0] and on_presence is not None and not over():
                missed_presence[0] = False
                on_presence()

        ticket_changed, presence_changed_ = live.ticket_events(ticket_id)  # this ticket's changes only
        scope.subscribe(ticket_changed, changed)
        scope.on_connect(caught_up)
        if on_presence is not None:
            def presence_changed(event: PresenceChanged) -> None:
                if event.ticket_id != ticket_id or over():
                    return
                if away():
                    missed_presence[0] = True
                    return
                on_presence()
            scope.subscribe(presence_changed_, presence_changed)
        scope.on_end(lambda: live.forget_ticket_events(ticket_id))  # after the subscriptions' own handlers

        self.live_since: float | None = time.monotonic() if client.has_socket_connection else None

        def connected() -> None:
            self.live_since = time.monotonic()

        def gone_away() -> None:
            if not client.has_socket_connection:
                self.live_since = None
        scope.on_connect(connected)
        scope.on_disconnect(gone_away)

        async def joined() -> None:
            if over():
                return
            await presence.join(ticket_id, client_id=client.id, user_id=user.id, name=user.display_name,
                                is_staff=is_staff)
            if over():  # the tab moved on (or closed) while it joined: it is not viewing the ticket
                await presence.leave(ticket_id, client_id=client.id)

        async def left() -> None:
            await presence.leave(ticket_id, client_id=client.id)

        async def disconnected() -> None:
            if client.has_socket_connection:  # an old socket's end, handled after the new one's handshake
                return
            await left()

        scope.on_connect(joined)
        scope.on_disconnect(disconnected)
        scope.on_end(left)
        if client.has_socket_connection:  # following starts on a page already connected
            background_tasks.create(joined(), name='presence-join')
        # else the tab joins when its socket connects: a page that never connects (a prefetch, a script, a link
        # preview) is nobody viewing — counted as viewing, its user was told nothing of changes for 60-70 s

    async def typing(self) -> None:
        await presence.typing(self.ticket_id, client_id=self.client.id)

    def stopped_typing(self) -> None:
        """After a post, in the background: never delays what the others see of the message just sent (their pages
        clear the typing mark with its entry, see ``presence.stopped_typing``)."""
        background_tasks.create(presence.stopped_typing(self.ticket_id, client_id=self.client.id, posted=True),
                                name='presence-stopped-typing')

    async def post(self, body: str, internal: bool, files: list[UploadedFile]) -> bool:
        """Post through the chatter service (which checks everything again); a refusal is shown, not raised."""
        if not await attempt(chatter.post_message(actor=self.user, ticket_id=self.ticket_id, body=body,
                                                  internal=internal, files=files)):
            return False
        self.stopped_typing()
        return True
