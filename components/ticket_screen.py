"""What the agents' ticket page (pages/ticket.py) and the customer's request page (pages/portal_request.py) share:
following the ticket live, re-reading it, appending new conversation entries, and a status change that may meet a
stale version. Each page says what it reads (its own query, for its own viewer) and how it shows it.

A live change arrives through ``TicketFollower`` (components/ticket_live.py). The page first re-reads the ticket
for the kinds in ``check_first`` (for a customer a field or team change may take the request away, so access is
checked before anything new is shown), then appends the entries newer than the last one shown, then lets the page
update its own parts (``after_change``), and shows the documents again when a new entry brought files.
"""
from __future__ import annotations

from collections.abc import Awaitable, Sequence
from typing import Any, ClassVar, Generic, TypeVar

from nicegui import ui
from nicegui.events import GenericEventArguments

from pulse_live.errors import StaleWrite
from pulse_live.events import TicketChanged
from pulse_live.models import User
from pulse_live.queries import shared
from pulse_live.queries.shared import read_per_change
from pulse_live.storage import UploadedFile

from . import live_entries
from .actions import attempt
from .chatter import Chatter
from .documents import DocumentsList
from .ticket_live import TicketFollower

V = TypeVar('V')


class LiveTicketScreen(Generic[V]):
    """A live view of one ticket for one user. Subclasses build the page (setting ``title``, ``chatter`` and
    ``documents``), then call ``follow()``."""

    staff: bool = False  # the agents' page sets it per viewer
    check_first: ClassVar[frozenset[str]] = frozenset()  # change kinds that re-read the ticket before the entries
    title: ui.label
    chatter: Chatter
    documents: DocumentsList
    follower: TicketFollower

    def __init__(self, user: User, view: V, ticket_id: int) -> None:
        self.user, self.view, self.ticket_id = user, view, ticket_id

    # --- what each page reads and shows ---
    async def read_view(self) -> V | None:
        """The ticket as this viewer may see it now (without entries); None when they may no longer."""
        raise NotImplementedError

    def show(self, previous: V) -> None:
        """Show ``self.view`` (``previous`` is what was shown before)."""
        raise NotImplementedError

    async def shown(self, previous: V) -> None:
        """After ``show``: anything that needs a read of its own (default: nothing)."""

    def lost(self) -> None:
        """The viewer may no longer see the ticket."""
        ui.navigate.to('/')

    async def read_new_entries(self, event: TicketChanged) -> Sequence[Any]:
        """Entries newer than the last one shown, for this viewer."""
        raise NotImplementedError

    async def read_attachments(self) -> Sequence[Any]:
        raise NotImplementedError

    async def after_change(self, event: TicketChanged) -> None:
        """The page's own parts after a live change's new entries were appended (default: nothing)."""

    def entries_shown(self, entries: Sequence[Any]) -> None:
        """Called as soon as live entries are shown on this page, in the same update (default: nothing)."""

    def typists(self) -> Sequence[tuple[int, str]]:
        """Who this page shows typing, (user id, name) (default: nobody)."""
        return ()

    def entries_shown_in_browser(self, typists: Sequence[str]) -> None:
        """Live entries were sent to this page's browser with many others' (``live_entries``), whose script cleared a
        typing line naming exactly one of ``typists``, their authors who were typing (default: nothing)."""

    def tail_synced(self) -> None:
        """The browser reconnected and was sent what a lost broadcast held (default: nothing)."""

    # --- shared ---
    @property
    def gone(self) -> bool:
        """The page was closed while a read was under way: nothing is to be shown any more."""
        return self.title.is_deleted

    def follow(self, on_presence=None) -> None:
        self.follower = TicketFollower(self.ticket_id, self.user, is_staff=self.staff, on_change=self._changed,
                                       on_presence=on_presence)
        self.chatter.show_ticket(self.ticket_id)
        if self.staff:  # many staff viewers of one ticket are sent its live entries at once (live_entries.py)
            live_entries.follow(self)
            self._syncing = False
            # one listener per page, for the ticket it shows now (a tab moves to another ticket in place)
            client = self.follower.client
            shown = client.__dict__.get('pulse_tail_sync')
            if shown is None:
                shown = client.__dict__['pulse_tail_sync'] = [None]

                async def sync(e: GenericEventArguments) -> None:
                    if shown[0] is not None:
                        await shown[0](e)
                ui.on('pulse_tail_sync', sync)
            shown[0] = self._sync_tail
            self.follower.scope.on_end(lambda: shown.__setitem__(0, None) if shown[0] == self._sync_tail else None)

    async def _sync_tail(self, e: GenericEventArguments) -> None:
        """The browser reconnected: entries after the newest in its live tail that a lost broadcast did not bring
        (it sends ``{"last": id}``; anything else is ignored, as is a page whose entries never went to the tail)."""
        last = e.args.get('last') if isinstance(e.args, dict) else None
        if not isinstance(last, int) or isinstance(last, bool) or not 0 <= last < self.chatter.last_id \
                or self._syncing or self.gone or not self.chatter.in_tail:  # (nothing newer than the page shows)
            return
        self._syncing = True
        try:
            # never before the entries the page was sent with (they are in its blocks): a bounded read
            missed = await shared.new_events(self.user, self.ticket_id, after=max(last, self.chatter.tail_from))
        finally:
            self._syncing = False
        missed = [m for m in missed if m.id <= self.chatter.last_id]  # later ones come with their own change
        if missed and not self.gone:
            self.follower.client.run_javascript(live_entries.tail_call(missed, self.user.id, self.ticket_id))
            self.tail_synced()

    def reader(self) -> object | None:
        """Who reads the ticket alike (e.g. 'staff'): pages woken by the same change with the same reader share one
        read of the ticket (``queries/shared.py``); None (default): this page reads for itself."""
        return None

    async def _read_view_for(self, event: TicketChanged | None) -> V | None:
        reader = self.reader()
        if event is None or reader is None:
            return await self.read_view()
        return await read_per_change(event, ('ticket-view', self.ticket_id, reader), self.read_view)

    async def reload(self, event: TicketChanged | None = None) -> bool:
        """Show the ticket's current state; False (and ``lost``) when the viewer may no longer see it. ``event``:
        the live change that asks for it (pages woken by it share the read, see ``reader``)."""
        view = await self._read_view_for(event)
        if self.gone:
            return False
        if view is None:
            self.lost()
            return False
        previous, self.view = self.view, view
        self.show(previous)
        await self.shown(previous)
        return True

    async def _changed(self, event: TicketChanged) -> None:
        if event.kind in self.check_first and not await self.reload(event):
            return
        fresh = await self.read_new_entries(event)
        if self.gone:
            return
        live_entries.share(self, event, fresh)  # to this page and many others at once: then nothing is left below
        self.chatter.append(fresh)
        if fresh:
            self.entries_shown(fresh)
        await self.after_change(event)
        if any(e.attachments for e in fresh) and not self.gone:
            attachments = await self.read_attachments()
            if not self.gone:  # ``self.documents`` is read after the read: the side column may have come meanwhile
                self.documents.show(attachments)

    async def _typing(self) -> None:
        await self.follower.typing()

    async def _post(self, body: str, internal: bool, files: list[UploadedFile]) -> bool:
        return await self.follower.post(body, internal, files)

    async def write(self, call: Awaitable, *, success: str = '', stale: str = '') -> bool:
        """Run a change of the ticket; a refusal is shown. A stale version shows ``stale`` (default: the service's
        message) and the current state."""
        done = await attempt(call, success=success, handled=(StaleWrite,))
        if isinstance(done.error, StaleWrite):
            ui.notify(stale or str(done.error), type='warning', multi_line=True)
            await self.reload()
        return bool(done)
