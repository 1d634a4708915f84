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

from pulse_live.errors import StaleWrite
from pulse_live.events import TicketChanged
from pulse_live.models import User
from pulse_live.storage import UploadedFile

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

    # --- shared ---
    @property
    def gone(self) -> bool:
        """The page was closed while a read was under way: nothing is to be shown any more."""
        return self.title.is_deleted

    def follow(self, on_presence=None) -> None:
        self.follower = TicketFollower(self.ticket_id, self.user, is_staff=self.staff, on_change=self._changed,
                                       on_presence=on_presence)

    async def reload(self) -> bool:
        """Show the ticket's current state; False (and ``lost``) when the viewer may no longer see it."""
        view = await self.read_view()
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
        if event.kind in self.check_first and not await self.reload():
            return
        fresh = await self.read_new_entries(event)
        if self.gone:
            return
        self.chatter.append(fresh)
        await self.after_change(event)
        if any(e.attachments for e in fresh) and not self.gone:
            self.documents.show(await self.read_attachments())

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
