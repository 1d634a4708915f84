"""Files uploaded but not yet sent, per user across all their open pages of this process.

An upload is held in memory by its form or composer until the message is sent. The per-request limits
(``upload_limit.py``) do not stop one person from filling several pages with files they never send, so each person
has a budget of pending bytes (``PULSE_MAX_PENDING_UPLOAD_BYTES``): an upload past it is refused with a message
Sending, removing a file or closing the page gives the bytes back.

Bodies still arriving count too: ``pulse_live/app.py`` reserves each upload request's length (a body without one:
what is left of the budget, the body cut off past it) for as long as the request runs, and takes at most
``max_uploads_at_once()`` upload requests of one person at a time (429 beyond). The page's handler (``take``) runs
in a task started by the request, which sees the request's reservation (``current_request``): the file's bytes move
from the reservation to the file, never counted twice. Whatever the files did not claim is given back when the
request ends (done, refused, failed or cut off by the client).
"""
from __future__ import annotations

import contextvars
from collections import defaultdict
from dataclasses import dataclass
from typing import NamedTuple

from pulse_live.config import get_settings
from pulse_live.storage import UploadedFile


def max_uploads_at_once() -> int:
    """Upload requests of one person received at the same time, over all their pages. The browser sends each chosen
    file in a request of its own, all at once (QUploader without ``batch``): a page's full selection must fit."""
    return max(2, get_settings().max_upload_files)


@dataclass(eq=False)
class Reservation:
    """The budget an upload request holds while its body arrives and its files are handed to the page."""
    user_id: int
    client_id: str
    amount: int  # bytes still reserved (falls as the page's handler claims the files; 0 once the request ended)
    limit: int  # the most body the request may send (its reservation plus the multipart framing)


class Refusal(NamedTuple):
    status: int
    message: str


current_request: contextvars.ContextVar[Reservation | None] = contextvars.ContextVar('pulse_upload_request',
                                                                                     default=None)


class PendingUploads:
    def __init__(self) -> None:
        self._held: dict[int, dict[tuple[str, int], int]] = defaultdict(dict)  # user → {(client, file key): bytes}
        self._requests: dict[int, list[Reservation]] = {}  # user → their upload requests under way

    def held(self, user_id: int) -> int:
        return sum(self._held.get(user_id, {}).values())

    def reserved(self, user_id: int) -> int:
        """Bytes of upload requests under way (not yet claimed by a file)."""
        return sum(r.amount for r in self._requests.get(user_id, ()))

    def uploading(self, user_id: int) -> int:
        """How many upload requests of the user are under way."""
        return len(self._requests.get(user_id, ()))

    def in_use(self, user_id: int) -> int:
        return self.held(user_id) + self.reserved(user_id)

    def remaining(self, user_id: int) -> int:
        return max(0, get_settings().max_pending_upload_bytes - self.in_use(user_id))

    def reserve(self, user_id: int, client_id: str, amount: int, limit: int) -> Reservation:
        reservation = Reservation(user_id, client_id, max(0, amount), limit)
        self._requests.setdefault(user_id, []).append(reservation)
        return reservation

    def end(self, reservation: Reservation) -> None:
        """The request is over: what its files did not claim goes back to the budget."""
        reservation.amount = 0
        requests = self._requests.get(reservation.user_id)
        if requests is not None:
            self._requests[reservation.user_id] = [r for r in requests if r is not reservation]
            if not self._requests[reservation.user_id]:
                del self._requests[reservation.user_id]

    def hold(self, user_id: int, client_id: str, key: object, size: int, *,
             claim: Reservation | None = None) -> bool:
        """Count ``size`` bytes against the user's budget; False (nothing counted) when it would pass it. With
        ``claim`` (the upload request that brought the file), the bytes move from that request's reservation."""
        claimed = min(size, claim.amount) if claim is not None and claim.user_id == user_id else 0
        if size > self.remaining(user_id) + claimed:
            return False
        if claim is not None and claimed:
            claim.amount -= claimed
        self._held[user_id][(client_id, id(key))] = size
        return True

    def release(self, user_id: int, client_id: str, key: object) -> None:
        held = self._held.get(user_id)
        if held is not None:
            held.pop((client_id, id(key)), None)
            if not held:
                self._held.pop(user_id, None)

    def release_client(self, client_id: str) -> None:
        """A page closed: whatever it held is given back."""
        for user_id in list(self._held):
            held = self._held[user_id]
            for k in [k for k in held if k[0] == client_id]:
                del held[k]
            if not held:
                del self._held[user_id]


pending_uploads = PendingUploads()


def budget_message(size_held: int) -> str:
    from .chatter import human_size
    limit = get_settings().max_pending_upload_bytes
    return (f'You have {human_size(size_held)} of files waiting to be sent in your open pages (at most '
            f'{human_size(limit)}): send or remove some first.')


def admit(user_id: int, client_id: str, declared: int | None) -> Reservation | Refusal:
    """An upload request of ``user_id`` to page ``client_id`` with a body of ``declared`` bytes (None: not said):
    its reservation (to ``end`` when the request is over), or why not. Called before the body is read."""
    from pulse_live import upload_limit
    at_once = max_uploads_at_once()
    if pending_uploads.uploading(user_id) >= at_once:
        return Refusal(429, f'Too many files arriving at once (at most {at_once}): wait until they are done, '
                            'then try again.')
    remaining = pending_uploads.remaining(user_id)
    if declared is None:  # chunked: no length to check now; the body may be as long as the budget left allows
        if remaining <= 0:
            return Refusal(413, budget_message(pending_uploads.in_use(user_id)))
        amount = min(remaining, upload_limit.request_limit())
    else:
        if declared > remaining + upload_limit.SLACK_BYTES:  # the slack: multipart framing around the files
            return Refusal(413, budget_message(pending_uploads.in_use(user_id)))
        amount = min(declared, remaining)
    return pending_uploads.reserve(user_id, client_id, amount, amount + upload_limit.SLACK_BYTES)


def hold(client, key: object, size: int, *, claim: bool = True) -> str:
    """Count an upload of the page's user against their budget: '' if it fits, else the message to show. With
    ``claim``, an upload request under way (this task was started by it) hands its reserved bytes over.
    Pages without a signed-in user hold nothing (they have no upload control)."""
    from . import guard
    user_id = guard.user_id_of(client)
    if user_id is None:
        return 'Please log in again to attach files.'
    if not getattr(client, 'pulse_uploads_tracked', False):
        client.pulse_uploads_tracked = True
        client.on_delete(lambda: pending_uploads.release_client(client.id))
    request = current_request.get() if claim else None
    if not pending_uploads.hold(user_id, client.id, key, size, claim=request):
        return budget_message(pending_uploads.in_use(user_id))
    return ''


def release(client, key: object) -> None:
    from . import guard
    user_id = guard.user_id_of(client)
    if user_id is not None:
        pending_uploads.release(user_id, client.id, key)


async def take(e, already: int, *, per: str = 'per message') -> UploadedFile | None:
    """An uploaded file checked on the server (size, count, the user's budget) and read into memory, held against
    the budget until ``release``; None after telling the user why not. The browser's limits can be bypassed."""
    from nicegui import ui

    from .chatter import human_size
    settings = get_settings()
    client = e.sender.client
    size = e.file.size()
    if size > settings.max_upload_bytes:
        ui.notify(f'{e.file.name} is too large ({human_size(size)}; at most '
                  f'{human_size(settings.max_upload_bytes)}).', type='negative')
        return None
    if already >= settings.max_upload_files:
        ui.notify(f'At most {settings.max_upload_files} files {per}.', type='negative')
        return None
    reservation = object()
    refused = hold(client, reservation, size)  # before the first await: the request's reservation is still there
    if refused:
        ui.notify(refused, type='negative')
        return None
    upload = UploadedFile(e.file.name, e.file.content_type, await e.file.read())
    release(client, reservation)  # the file itself holds it from here on
    hold(client, upload, len(upload.data), claim=False)
    return upload
