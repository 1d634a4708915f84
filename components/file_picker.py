"""Attach files to a form (new request, new ticket): a drop zone, the chosen files as removable chips.

The browser's size limit can be bypassed by a crafted request, so every file is checked again here
(and once more by the service that stores it).
"""
from __future__ import annotations

from nicegui import events, ui

from pulse_live.config import get_settings
from pulse_live.storage import UploadedFile, safe_filename

from . import css, upload_budget
from .chatter import human_size


class FilePicker:
    def __init__(self, label: str = 'Drop files here or click to choose (screenshots, logs…)') -> None:
        settings = get_settings()
        self.files: list[UploadedFile] = []
        self.upload = ui.upload(label=label, multiple=True, auto_upload=True, max_file_size=settings.max_upload_bytes,
                                max_files=settings.max_upload_files, on_upload=self._uploaded,
                                on_rejected=lambda: ui.notify('That file is too large or there are too many files.',
                                                              type='negative')) \
            .props('flat bordered hide-upload-btn color=grey-2 text-color=grey-9').classes('w-full pl-file-picker') \
            .mark('file-picker')
        css.add_once('.pl-file-picker .q-uploader__subtitle{display:none}')  # no "0.0B / 0.00%" before any file
        self.chips = ui.row().classes('gap-1')

    async def _uploaded(self, e: events.UploadEventArguments) -> None:
        upload = await upload_budget.take(e, len(self.files), per='in all')
        if upload is None:
            return
        self.files.append(upload)
        self._show()

    def _show(self) -> None:
        self.chips.clear()
        with self.chips:
            for f in self.files:
                ui.chip(f'{safe_filename(f.name)} ({human_size(len(f.data))})', icon='attach_file', removable=True,
                        on_value_change=lambda _, f=f: self._remove(f)).props('dense').mark('picked-file')

    def _remove(self, f: UploadedFile) -> None:
        upload_budget.release(self.upload.client, f)
        self.files = [p for p in self.files if p is not f]
        self._show()

    def clear(self) -> None:
        for f in self.files:
            upload_budget.release(self.upload.client, f)
        self.files = []
        self.upload.reset()
        self._show()
