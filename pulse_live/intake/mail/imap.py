"""The IMAP side of the intake (aioimaplib): connect (TLS, STARTTLS or plain; password or XOAUTH2), select, list
new UIDs with their sizes, fetch raw mails (of a mail over the size limit only its header), wait with IDLE. Every
call has a timeout; a dropped connection ends a wait at once."""
from __future__ import annotations

import asyncio
import contextlib
import re
import ssl
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aioimaplib import aioimaplib

from ...models import Mailbox

FETCH_BATCH_BYTES = 8 * 1024 * 1024
FETCH_BATCH_COUNT = 100
HEADER_LIMIT = 256 * 1024  # of a mail too large to fetch, at most this much of its header is read


class ImapError(Exception):
    """The server said no, or went away."""


@dataclass(frozen=True)
class MailboxSettings:
    id: int
    name: str
    host: str
    port: int
    security: str
    auth: str
    username: str
    secret: str
    folder: str
    cafile: str | None = None
    refreshable: bool = False          # XOAUTH2 with a refresh token, token endpoint and client id stored
    expires_at: datetime | None = None  # of the access token, when known


def settings_of(box: Mailbox) -> MailboxSettings:
    import os

    from ...services.mailboxes import decrypt_secret
    return MailboxSettings(id=box.id, name=box.name, host=box.host, port=box.port, security=box.security,
                           auth=box.auth, username=box.username, secret=decrypt_secret(box.secret_encrypted),
                           folder=box.folder, cafile=os.environ.get('PULSE_IMAP_CAFILE') or None,
                           refreshable=bool(box.oauth_refresh_encrypted and box.oauth_token_url
                                            and box.oauth_client_id),
                           expires_at=box.oauth_expires_at)


def _context(conf: MailboxSettings) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=conf.cafile)


class Connection:
    """One logged-in, selected IMAP connection."""

    def __init__(self, conf: MailboxSettings, *, timeout: float = 30) -> None:
        self.conf = conf
        self.timeout = timeout
        self.lost = asyncio.Event()
        self.client: Any = None
        self.uidvalidity = 0
        self.exists = 0
        self.idle_ok = False

    def _on_lost(self, exc: Exception | None) -> None:
        self.lost.set()
        if self.client is not None:  # wake an IDLE wait
            self.client.protocol.idle_queue.put_nowait([b'connection lost'])

    async def open(self) -> Connection:
        conf = self.conf
        tls = _context(conf) if conf.security == 'tls' else None
        self.client = aioimaplib.IMAP4(host=conf.host, port=conf.port, timeout=self.timeout, ssl_context=tls,
                                       conn_lost_cb=self._on_lost)
        await self.client.wait_hello_from_server()
        if conf.security == 'starttls':
            await self._starttls()
        if conf.auth == 'xoauth2':
            response = await self._xoauth2()
        else:
            response = await self.client.login(conf.username, conf.secret)
        if response.result != 'OK':  # (an XOAUTH2 refusal starts with the server's "+ <error>" continuation)
            raise ImapError(f'Sign-in refused: {_text([x for x in response.lines if not _line(x).startswith("+")])}')
        response = await self.client.select(_quoted(conf.folder))
        if response.result != 'OK':
            raise ImapError(f'Folder {conf.folder} cannot be opened: {_text(response.lines)}')
        for line in response.lines:
            text = _line(line)
            match = re.search(r'UIDVALIDITY (\d+)', text)
            if match:
                self.uidvalidity = int(match.group(1))
            match = re.match(r'(\d+) EXISTS', text)
            if match:
                self.exists = int(match.group(1))
        if not self.uidvalidity:
            raise ImapError('The server did not say the folder\'s UIDVALIDITY.')
        self.idle_ok = 'IDLE' in self.client.protocol.capabilities
        return self

    async def _xoauth2(self) -> Any:
        """SASL XOAUTH2 (Microsoft 365, Gmail). A refused token is answered by the server with a continuation
        carrying the error; the client must send an empty line to end the exchange (aioimaplib does not), then the
        server says NO."""
        protocol = self.client.protocol
        task = asyncio.ensure_future(protocol.xoauth2(self.conf.username, self.conf.secret))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        answered = False
        while not task.done() and loop.time() < deadline:
            await asyncio.sleep(0.02)
            command = protocol.pending_sync_command
            if not answered and command is not None and command.name == 'AUTHENTICATE' and command.response.lines:
                protocol.transport.write(b'\r\n')  # the error came as a continuation: end the exchange
                answered = True
        try:
            return await asyncio.wait_for(task, max(0.1, deadline - loop.time()))
        except TimeoutError:
            raise ImapError('Sign-in refused: the server did not answer the OAuth2 token.') from None

    async def _starttls(self) -> None:
        protocol = self.client.protocol
        if 'STARTTLS' not in protocol.capabilities:
            raise ImapError('The server does not offer STARTTLS.')
        response = await asyncio.wait_for(protocol.execute(
            aioimaplib.Command('STARTTLS', protocol.new_tag(), loop=protocol.loop)), self.timeout)
        if response.result != 'OK':
            raise ImapError(f'STARTTLS refused: {_text(response.lines)}')
        loop = asyncio.get_running_loop()
        protocol.transport = await asyncio.wait_for(loop.start_tls(
            protocol.transport, protocol, _context(self.conf), server_hostname=self.conf.host), self.timeout)
        await asyncio.wait_for(protocol.capability(), self.timeout)  # the capabilities may change after TLS

    async def _command(self, awaitable: Any, timeout: float) -> Any:
        """A command's answer; ends at once when the connection is lost meanwhile (aioimaplib leaves a command in
        flight waiting for its timeout — up to 2 minutes for a fetch — when the server goes away under it)."""
        if self.lost.is_set():
            if asyncio.iscoroutine(awaitable):
                awaitable.close()
            raise ImapError('The connection is gone.')
        task = asyncio.ensure_future(awaitable)
        lost = asyncio.ensure_future(self.lost.wait())
        try:
            done, _ = await asyncio.wait({task, lost}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            lost.cancel()
        if task in done:
            return task.result()
        task.cancel()
        with contextlib.suppress(BaseException):
            await task
        if self.lost.is_set():
            raise ImapError('The server went away.')
        raise TimeoutError(f'the server did not answer within {timeout:.0f} s')

    async def new_uids(self, after: int) -> list[tuple[int, int]]:
        """(UID, size) of the mails with a UID above ``after``, oldest first."""
        response = await self._command(self.client.uid('fetch', f'{after + 1}:*', '(UID RFC822.SIZE)'),
                                       self.timeout + 5)
        if response.result != 'OK':
            raise ImapError(f'Listing new mail failed: {_text(response.lines)}')
        found = []
        for line in response.lines:
            text = _line(line)
            uid, size = re.search(r'\bUID (\d+)', text), re.search(r'RFC822\.SIZE (\d+)', text)
            if uid and size and int(uid.group(1)) > after:
                found.append((int(uid.group(1)), int(size.group(1))))
        return sorted(found)

    async def fetch(self, uids: list[int]) -> dict[int, bytes]:
        """The raw mails (BODY.PEEK: nothing is marked read)."""
        return await self._fetch(uids, 'BODY.PEEK[]', 'Fetching mail')

    async def fetch_headers(self, uids: list[int]) -> dict[int, bytes]:
        """Only the header of each mail (its first ``HEADER_LIMIT`` bytes at most; nothing is marked read): what the
        intake reads of a mail over the size limit, to refuse it without downloading it."""
        return await self._fetch(uids, f'BODY.PEEK[HEADER]<0.{HEADER_LIMIT}>', 'Fetching mail headers')

    async def _fetch(self, uids: list[int], item: str, what: str) -> dict[int, bytes]:
        if not uids:
            return {}
        response = await self._command(self.client.protocol.fetch(
            ','.join(str(u) for u in uids), f'(UID {item})', by_uid=True,
            timeout=max(self.timeout, 120)), max(self.timeout, 120) + 5)
        if response.result != 'OK':
            raise ImapError(f'{what} failed: {_text(response.lines)}')
        mails: dict[int, bytes] = {}
        lines = response.lines
        for i, line in enumerate(lines):
            if isinstance(line, bytearray) and i > 0:
                head = _line(lines[i - 1])
                tail = _line(lines[i + 1]) if i + 1 < len(lines) else ''
                match = re.search(r'\bUID (\d+)', head) or re.search(r'\bUID (\d+)', tail)
                if match:
                    mails[int(match.group(1))] = bytes(line)
        return mails

    async def wait(self, seconds: float) -> bool:
        """Wait for news (IDLE) for at most ``seconds``; True when the server announced something."""
        if self.lost.is_set():
            raise ImapError('The connection is gone.')
        if not self.idle_ok:
            await asyncio.sleep(seconds)
            await self.noop()
            return False
        # (aioimaplib's IDLE command has no timeout: a connection lost before the server's "+ idling" left
        # idle_start waiting for ever, the mailbox showing no error and never reconnecting)
        idle = await self._command(self.client.idle_start(timeout=seconds), self.timeout + 5)
        try:
            push = await asyncio.wait_for(self.client.wait_server_push(), seconds + 5)
        finally:
            if not self.lost.is_set():
                self.client.idle_done()
                await asyncio.wait_for(idle, self.timeout)
        if self.lost.is_set():
            raise ImapError('The server went away.')
        return push != aioimaplib.STOP_WAIT_SERVER_PUSH and any('EXISTS' in _line(x) for x in push)

    async def noop(self) -> None:
        response = await self._command(self.client.noop(), self.timeout + 5)
        if response.result != 'OK' or self.lost.is_set():
            raise ImapError('The server went away.')

    async def close(self) -> None:
        if self.client is None:
            return
        try:
            if not self.lost.is_set():
                await asyncio.wait_for(self.client.logout(), 5)
        except Exception:  # noqa: BLE001, S110 — closing anyway
            pass
        transport = getattr(self.client.protocol, 'transport', None)
        if transport is not None:
            transport.close()


def _line(line: Any) -> str:
    return bytes(line).decode('utf-8', 'replace') if isinstance(line, (bytes, bytearray)) else str(line)


def _text(lines: list[Any]) -> str:
    return ' '.join(_line(x) for x in lines)[:300]


def _quoted(folder: str) -> str:
    return '"' + folder.replace('\\', '\\\\').replace('"', '\\"') + '"'


async def connect(conf: MailboxSettings, *, timeout: float = 30) -> tuple[Connection, int, int]:
    """Open, sign in, select: the connection, the folder's UIDVALIDITY and its number of mails."""
    connection = Connection(conf, timeout=timeout)
    try:
        await connection.open()
    except BaseException:
        await connection.close()
        raise
    return connection, connection.uidvalidity, connection.exists


def batches(uids: list[tuple[int, int]], *, max_bytes: int | None = None) -> list[list[int]]:
    """UIDs grouped for fetching: up to ``FETCH_BATCH_COUNT`` mails or ``FETCH_BATCH_BYTES`` a batch. A mail over
    ``max_bytes`` counts as its header only (only that is fetched of it: ``fetch_headers``)."""
    out: list[list[int]] = []
    current: list[int] = []
    size = 0
    for uid, n in uids:
        if max_bytes is not None and n > max_bytes:
            n = min(n, HEADER_LIMIT)
        if current and (size + n > FETCH_BATCH_BYTES or len(current) >= FETCH_BATCH_COUNT):
            out.append(current)
            current, size = [], 0
        current.append(uid)
        size += n
    if current:
        out.append(current)
    return out
