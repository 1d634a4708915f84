"""Files uploaded but not yet sent, per user across all their open pages of this process.

An upload is held in memory by its form or composer until the message is sent. The per-request limits
(``upload_limit.py``) do not stop one person from filling several pages with files they never send, so each person
has a budget of pending bytes (``PULSE_MAX_PENDING_UPLOAD_BYTES``): an upload past it is refused with a message
(and refused before its body is read when the request says its length, ``pulse_live/app.py``). Sending, removing
a file or closing the page gives the bytes back.
"""
from __future__ import annotations

from collections import defaultdict

from pulse_live.config import get_settings
from pulse_live.storage import UploadedFile


class PendingUploads:
    def __init__(self) -> None:
        self._held: dict[int, dict[tuple[str, int], int]] = defaultdict(dict)  # user → {(client, file key): bytes}

    def held(self, user_id: int) -> int:
        return sum(self._held.get(user_id, {}).values())

    def remaining(self, user_id: int) -> int:
        return max(0, get_settings().max_pending_upload_bytes - self.held(user_id))

    def hold(self, user_id: int, client_id: str, key: object, size: int) -> bool:
        """Count ``size`` bytes against the user's budget; False (nothing counted) when it would pass it."""
        if size > self.remaining(user_id):
            return False
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


def hold(client, key: object, size: int) -> str:
    """Count an upload of the page's user against their budget: '' if it fits, else the message to show.
    Pages without a signed-in user hold nothing (they have no upload control)."""
    from . import guard
    user_id = guard.user_id_of(client)
    if user_id is None:
        return 'Please log in again to attach files.'
    if not getattr(client, 'pulse_uploads_tracked', False):
        client.pulse_uploads_tracked = True
        client.on_delete(lambda: pending_uploads.release_client(client.id))
    if not pending_uploads.hold(user_id, client.id, key, size):
        return budget_message(pending_uploads.held(user_id))
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
    refused = hold(client, reservation, size)
    if refused:
        ui.notify(refused, type='negative')
        return None
    upload = UploadedFile(e.file.name, e.file.content_type, await e.file.read())
    release(client, reservation)  # the file itself holds it from here on
    hold(client, upload, len(upload.data))
    return upload
