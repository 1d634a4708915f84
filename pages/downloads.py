"""Authorised attachment downloads: no guessable public URL; no access → 404; risky types never inline."""
from __future__ import annotations

from urllib.parse import quote

from fastapi import HTTPException
from fastapi.responses import StreamingResponse
from nicegui import app

from components.session import current_user
from pages.params import RowId
from pulse_live import storage
from pulse_live.queries.tickets import attachment_for_download


def register() -> None:
    @app.get('/attachments/{attachment_id}')
    async def download(attachment_id: RowId) -> StreamingResponse:
        user = await current_user()
        att = await attachment_for_download(user, attachment_id) if user is not None else None
        if att is None:
            raise HTTPException(status_code=404, detail='Not found')
        try:  # streamed from the attachment store (local directory or object storage), after the check above
            size, chunks = await storage.open_stream(att.sha256)
        except storage.MissingFile:
            raise HTTPException(status_code=404, detail='The file is missing on the server') from None
        inline = storage.is_inline_safe(att.content_type)
        disposition = f"{'inline' if inline else 'attachment'}; filename*=UTF-8''{quote(att.filename)}"
        return StreamingResponse(chunks, media_type=att.content_type if inline else 'application/octet-stream',
                                 headers={'Content-Disposition': disposition,
                                          'Content-Length': str(size), 'X-Content-Type-Options': 'nosniff',
                                          'Content-Security-Policy': "default-src 'none'; sandbox",
                                          'Cache-Control': 'private, no-store'})
