"""Attachment files: content-addressed on disk (sha256), safe names, limits checked on the server."""
from __future__ import annotations

import asyncio
import hashlib
import mimetypes
import os
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from .config import get_settings
from .errors import ValidationError

# shown inline in the browser; everything else (HTML, SVG, scripts, …) is always a download
INLINE_TYPES = frozenset({'image/png', 'image/jpeg', 'image/gif', 'image/webp', 'application/pdf', 'text/plain'})


@dataclass(frozen=True)
class UploadedFile:
    name: str
    content_type: str
    data: bytes


# invisible characters that change how a name reads: bidirectional overrides and isolates (U+202E turns
# "invoice\u202egpj.exe" into "invoiceexe.jpg" on screen), zero-width characters, BOM (all category Cf), control
# characters (Cc), lone surrogates (Cs) and line/paragraph separators (Zl, Zp)
_INVISIBLE_CATEGORIES = frozenset({'Cc', 'Cf', 'Cs', 'Zl', 'Zp'})


def _visible_only(text: str) -> str:
    return ''.join(ch for ch in text if unicodedata.category(ch) not in _INVISIBLE_CATEGORIES)


def safe_filename(name: str) -> str:
    """A name to store and show: no path, no characters forbidden on common file systems, nothing invisible
    that could make it read differently from what it is (e.g. a right-to-left override hiding ".exe")."""
    name = _visible_only(unicodedata.normalize('NFC', name or ''))
    name = name.replace('\\', '/').rsplit('/', 1)[-1]
    name = re.sub(r'[\x00-\x1f\x7f"<>:|?*]', '', name).strip().lstrip('.')
    if not name:
        name = 'file'
    stem, dot, ext = name.rpartition('.')
    if dot and len(ext) <= 16:
        return stem[:199 - len(ext)] + '.' + ext if stem else name[:200]
    return name[:200]


def content_type_for(name: str, declared: str | None) -> str:
    guessed = mimetypes.guess_type(name)[0]
    value = (guessed or declared or 'application/octet-stream').split(';')[0].strip().lower()
    return value if re.fullmatch(r'[a-z0-9.+-]+/[a-z0-9.+-]+', value) else 'application/octet-stream'


def is_inline_safe(content_type: str) -> bool:
    return content_type in INLINE_TYPES


def check_limits(files: list[UploadedFile]) -> None:
    settings = get_settings()
    if len(files) > settings.max_upload_files:
        raise ValidationError(f'Too many files: at most {settings.max_upload_files} per message.')
    for f in files:
        if len(f.data) > settings.max_upload_bytes:
            raise ValidationError(f'{safe_filename(f.name)} is too large '
                                  f'({len(f.data) // 1024} KiB; at most {settings.max_upload_bytes // 1024} KiB).')
        if not f.data:
            raise ValidationError(f'{safe_filename(f.name)} is empty.')


def _path_for(digest: str) -> Path:
    return get_settings().attachments_dir / digest[:2] / digest[2:4] / digest


def _write(data: bytes) -> str:
    digest = hashlib.sha256(data).hexdigest()
    path = _path_for(digest)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f'.tmp{os.getpid()}')
        tmp.write_bytes(data)
        os.replace(tmp, path)
    return digest


async def store(data: bytes) -> str:
    """Write the bytes (off the event loop) and return their sha256, which is also their name on disk."""
    return await asyncio.to_thread(_write, data)


def path_of(digest: str) -> Path:
    if not re.fullmatch(r'[0-9a-f]{64}', digest):
        raise ValueError('bad digest')
    return _path_for(digest)
