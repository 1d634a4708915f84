"""Attachment files: content-addressed (sha256) in a store the settings choose — the local directory or S3-compatible
object storage — plus safe names and limits checked on the server."""
from __future__ import annotations

import asyncio
import hashlib
import io
import itertools
import mimetypes
import os
import re
import threading
import unicodedata
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

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


# --- where the bytes live: a backend chosen by PULSE_STORAGE_BACKEND ------------------------------------------------

CHUNK = 256 * 1024  # downloads are streamed in pieces of this size, never read whole into memory


class MissingFile(LookupError):
    """The database names a file that the attachment store does not have."""


def _check_digest(digest: str) -> str:
    if not re.fullmatch(r'[0-9a-f]{64}', digest):
        raise ValueError('bad digest')
    return digest


class Backend(Protocol):
    """Where attachment files live. Every method is safe to await on the event loop (blocking work runs in a thread).
    Files are named by their sha256, so writing the same bytes twice is one file."""
    name: str

    async def put(self, digest: str, data: bytes) -> None: ...
    async def exists(self, digest: str) -> bool: ...
    async def read(self, digest: str) -> bytes: ...  # MissingFile if absent
    async def open(self, digest: str) -> tuple[int, AsyncIterator[bytes]]: ...  # size and chunks; MissingFile
    async def delete(self, digest: str) -> None: ...  # absent is fine
    async def check(self) -> None: ...  # raises if the store cannot be reached


def _path_for(digest: str) -> Path:
    return get_settings().attachments_dir / digest[:2] / digest[2:4] / digest


_writes = itertools.count()


class LocalBackend:
    """The default: files under ``data_dir/attachments/ab/cd/<sha256>`` on this machine."""
    name = 'local'

    async def put(self, digest: str, data: bytes) -> None:
        await asyncio.to_thread(self._write, _path_for(digest), data)

    @staticmethod
    def _write(path: Path, data: bytes) -> None:
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            # a name of its own for each write: the same file stored twice at once (two sends with the same
            # attachment, each on a thread of its own) shared one temporary name, and the second rename found it gone
            tmp = path.with_suffix(f'.tmp{os.getpid()}-{threading.get_ident()}-{next(_writes)}')
            try:
                tmp.write_bytes(data)
                os.replace(tmp, path)  # the same content under the same name: whichever comes last is as good
            finally:
                tmp.unlink(missing_ok=True)

    async def exists(self, digest: str) -> bool:
        return await asyncio.to_thread(_path_for(digest).is_file)

    async def read(self, digest: str) -> bytes:
        try:
            return await asyncio.to_thread(_path_for(digest).read_bytes)
        except FileNotFoundError:
            raise MissingFile(digest) from None

    async def open(self, digest: str) -> tuple[int, AsyncIterator[bytes]]:
        try:
            handle = await asyncio.to_thread(_path_for(digest).open, 'rb')
        except FileNotFoundError:
            raise MissingFile(digest) from None
        size = os.fstat(handle.fileno()).st_size

        async def chunks() -> AsyncIterator[bytes]:
            try:
                while chunk := await asyncio.to_thread(handle.read, CHUNK):
                    yield chunk
            finally:
                handle.close()
        return size, chunks()

    async def delete(self, digest: str) -> None:
        await asyncio.to_thread(_path_for(digest).unlink, missing_ok=True)

    async def check(self) -> None:
        directory = get_settings().attachments_dir
        await asyncio.to_thread(directory.mkdir, parents=True, exist_ok=True)


class S3Backend:
    """S3-compatible object storage (AWS S3, MinIO, Ceph, Garage, …) through boto3, whose blocking calls run in
    threads (its client is thread-safe). Uploads above 8 MiB go up in parts (boto3's transfer manager); downloads are
    read from the response stream in chunks. Objects are ``<prefix><sha256>``; the bucket stays private — browsers
    only ever get a file through our authorised routes."""
    name = 's3'

    def __init__(self) -> None:
        import boto3
        from botocore.config import Config
        s = get_settings()
        if not s.s3_bucket:
            raise ValueError('PULSE_S3_BUCKET must name a bucket when PULSE_STORAGE_BACKEND=s3')
        self.bucket, self.prefix = s.s3_bucket, s.s3_prefix
        config = Config(s3={'addressing_style': s.s3_addressing}, retries={'max_attempts': 3, 'mode': 'standard'},
                        connect_timeout=5, read_timeout=30, max_pool_connections=20)
        self.client = boto3.session.Session().client(
            's3', endpoint_url=s.s3_endpoint_url or None, region_name=s.s3_region or None, config=config,
            aws_access_key_id=s.s3_access_key_id or None, aws_secret_access_key=s.s3_secret_access_key or None)

    def _key(self, digest: str) -> str:
        return self.prefix + digest

    @staticmethod
    def _missing(error: Exception) -> bool:
        from botocore.exceptions import ClientError
        return isinstance(error, ClientError) and \
            error.response.get('Error', {}).get('Code') in {'404', 'NoSuchKey', 'NotFound'}

    async def put(self, digest: str, data: bytes) -> None:
        if await self.exists(digest):  # content-addressed: the same bytes are there already
            return
        await asyncio.to_thread(self.client.upload_fileobj, io.BytesIO(data), self.bucket, self._key(digest))

    async def exists(self, digest: str) -> bool:
        try:
            await asyncio.to_thread(self.client.head_object, Bucket=self.bucket, Key=self._key(digest))
        except Exception as e:
            if self._missing(e):
                return False
            raise
        return True

    async def _get(self, digest: str) -> dict[str, Any]:
        try:
            return await asyncio.to_thread(self.client.get_object, Bucket=self.bucket, Key=self._key(digest))
        except Exception as e:
            if self._missing(e):
                raise MissingFile(digest) from None
            raise

    async def read(self, digest: str) -> bytes:
        answer = await self._get(digest)
        body = answer['Body']
        try:
            return await asyncio.to_thread(body.read)
        finally:
            body.close()

    async def open(self, digest: str) -> tuple[int, AsyncIterator[bytes]]:
        answer = await self._get(digest)
        body = answer['Body']

        async def chunks() -> AsyncIterator[bytes]:
            try:
                while chunk := await asyncio.to_thread(body.read, CHUNK):
                    yield chunk
            finally:
                body.close()
        return int(answer['ContentLength']), chunks()

    async def delete(self, digest: str) -> None:
        await asyncio.to_thread(self.client.delete_object, Bucket=self.bucket, Key=self._key(digest))

    async def check(self) -> None:
        await asyncio.to_thread(self.client.head_bucket, Bucket=self.bucket)


_backend: tuple[tuple[Any, ...], Backend] | None = None


def backend() -> Backend:
    """The store the settings choose (made once per distinct setting, so tests may switch between them)."""
    global _backend  # noqa: PLW0603
    s = get_settings()
    key = (s.storage_backend, str(s.data_dir), s.s3_bucket, s.s3_endpoint_url, s.s3_region, s.s3_access_key_id,
           s.s3_secret_access_key, s.s3_prefix, s.s3_addressing)
    if _backend is None or _backend[0] != key:
        _backend = (key, S3Backend() if s.storage_backend == 's3' else LocalBackend())
    return _backend[1]


_written: ContextVar[set[str] | None] = ContextVar('storage_written', default=None)


@contextmanager
def remembering() -> Iterator[None]:
    """Within it, this task writes each content once: a ``store`` of bytes it already wrote returns at once. Lets a
    caller write files ahead, outside a transaction or lock, so the write inside it costs nothing (the store is
    content-addressed: the same bytes are the same file)."""
    token = _written.set(set())
    try:
        yield
    finally:
        _written.reset(token)


def remembers() -> bool:
    """Whether this task is inside ``remembering()``."""
    return _written.get() is not None


async def store(data: bytes) -> str:
    """Write the bytes (off the event loop) and return their sha256, which is also their name in the store."""
    digest = hashlib.sha256(data).hexdigest()
    written = _written.get()
    if written is not None and digest in written:
        return digest
    await backend().put(digest, data)
    if written is not None:
        written.add(digest)
    return digest


async def read(digest: str) -> bytes:
    """The whole file (for files the server itself works on, e.g. a kept mail); MissingFile if absent."""
    return await backend().read(_check_digest(digest))


async def open_stream(digest: str) -> tuple[int, AsyncIterator[bytes]]:
    """Size and chunks of a file to send to a browser; MissingFile if absent."""
    return await backend().open(_check_digest(digest))


async def exists(digest: str) -> bool:
    return await backend().exists(_check_digest(digest))


async def delete(digest: str) -> None:
    await backend().delete(_check_digest(digest))


def path_of(digest: str) -> Path:
    """Where the local backend keeps a file (the local backend only; others have no path)."""
    return _path_for(_check_digest(digest))
