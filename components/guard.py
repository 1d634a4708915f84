"""What binds a websocket to a session and a page, and what ends a page whose session ended.

NiceGUI (3.18) routes a socket message by the ``client_id`` written *inside* the message and never checks that the
socket sending it is connected as that client (``nicegui/nicegui.py::_on_event``). Left alone, any socket — even one
on ``/login`` — could drive another person's page if it knew that page's ids. So this module replaces the server's
socket handlers (``install``):

- **connect**: a browser's ``Origin`` must be this installation (``PULSE_BASE_URL``) or the host it asked for;
  a page of another site cannot open a socket with the user's cookies (cross-site websocket hijacking).
- **handshake**: the socket's session cookie must be the session that loaded the page it claims to be.
- **event / javascript_response / ack / log**: only from a socket that handshook as the client named in the
  message (NiceGUI keeps that socket ↔ client mapping in ``Client._socket_to_document_id``); anything else, or a
  message without ``client_id``/``id``, is dropped and logged as a refused attempt.
- An event then reaches only an element the server rendered for that page, enabled and with that listener, with
  well-formed arguments (``Client.handle_event`` wrapped): pages never render controls a viewer may not use, and
  every handler calls a service that checks the permission again.

A page remembers who it was built for (``remember``). When that person's account changes (password, active, role,
reach: ``AccountChanged``) or their browser session logs out (``SessionEnded``), every open page of theirs, in every
process (the events come over the bus), re-checks and — if the session no longer holds — is sent to ``/login``
with a message; events it sends meanwhile are dropped.
"""
from __future__ import annotations

import asyncio
import base64
import contextvars
import json
import logging
import math
import time
from typing import Any
from urllib.parse import urlsplit

from itsdangerous import BadSignature, TimestampSigner
from nicegui import Client, app, background_tasks, core, ui
from nicegui.elements.mixins.value_element import ValueElement

from pulse_live import auth
from pulse_live.config import get_settings
from pulse_live.events import AccountChanged, Event, SessionEnded
from pulse_live.models import User
from pulse_live.ops.logs import one_line

from . import in_app

log = logging.getLogger('pulse_live.security')
_installed = {'done': False}

END_NOTICES = {
    'logged-out': 'You logged out in another tab.',
    'password-changed': 'Your password was changed. Please log in again.',
    'account-ended': 'Your account was deactivated.',
    'access-changed': 'Your access was changed. Please log in again.',
}


# --- who a page was built for -------------------------------------------------------------------------------------

def reach(user: User) -> tuple:
    """What decides what the user may see: a change of any of it ends their open pages."""
    return (user.role, user.organisation_id, bool(user.is_org_admin), bool(user.is_active),
            auth.password_stamp(user), hash(user.password_hash))  # (the stamp moves with the address too)


def session_id_of(client: Client) -> str | None:
    try:
        return client.request.session.get('id')
    except (RuntimeError, AssertionError, AttributeError):
        return None


def remember(user: User) -> None:
    """Note who is signed in on the current page, and in which browser session."""
    client = ui.context.client
    client.pulse_user = f'user {user.id} ({user.role}, organisation {user.organisation_id})'  # type: ignore[attr-defined]
    client.pulse_user_id = user.id  # type: ignore[attr-defined]
    client.pulse_reach = reach(user)  # type: ignore[attr-defined]
    client.pulse_session = session_id_of(client)  # type: ignore[attr-defined]


def user_id_of(client: Client) -> int | None:
    return getattr(client, 'pulse_user_id', None)


def _who(client: Client | None) -> str:
    return getattr(client, 'pulse_user', 'a browser without a session') if client is not None else 'a socket'


ENDED_GRACE_S = 2.0  # an ended page's browser has this long to follow the way to the login before its socket closes


def end_client(client: Client, reason: str) -> None:
    """Send the page to the login with a message, and from then on send it nothing else and take nothing from it;
    the server forgets it (its live subscriptions, its socket) a moment later. A script that ignores the way to the
    login kept a deactivated agent's ticket page receiving internal notes before."""
    if getattr(client, 'pulse_ended', None):
        return
    client.pulse_ended = reason  # type: ignore[attr-defined]
    log.info('ended the page %s of %s: %s', client.id, _who(client), reason)
    if client.has_socket_connection:
        with client:
            ui.navigate.to(f'/login?notice={reason}')
    _silence(client)
    asyncio.get_running_loop().call_later(ENDED_GRACE_S, _forget, client)


def _silence(client: Client) -> None:
    """Nothing more goes out to this page than what is queued now (the way to the login): changes of its elements
    are not sent (those still queued neither), nor are further messages."""
    outbox = client.outbox
    outbox.updates.clear()
    outbox.enqueue_update = lambda element: None  # type: ignore[method-assign]
    outbox.enqueue_delete = lambda element: None  # type: ignore[method-assign]
    outbox.enqueue_message = lambda message_type, data, target_id: None  # type: ignore[method-assign]


TOO_MANY_PAGES = ('<div style="font:16px system-ui,sans-serif;margin:4rem auto;max-width:32rem;color:#334155">'
                  '<b>This page was closed</b><p style="margin-top:.5rem">You have more pages of Pulse Live open '
                  'than one person needs; the oldest are closed. Reload this one to go on here.</p></div>')


def keep_pages_bounded(new: Client) -> None:
    """A person's connected pages in this process are at most ``max_pages_per_user``: when a page connects beyond
    that, their oldest pages are closed (each holds ~0.5 MB of server memory, and one customer opened 1,000). A
    closed page stops its socket — no reconnect, no reload that would close the next one — and says why."""
    uid = user_id_of(new)
    if uid is None:
        return
    limit = get_settings().max_pages_per_user
    pages = sorted((c for c in list(Client.instances.values())
                    if user_id_of(c) == uid and not getattr(c, 'pulse_ended', None) and c.has_socket_connection),
                   key=lambda c: c.created)
    for old in pages[:max(0, len(pages) - limit)]:
        if old is not new:
            close_page(old, 'too-many-pages')


def close_page(client: Client, reason: str) -> None:
    """End a page for good: its socket disconnects (the browser does not reconnect or reload), a message replaces
    it, and the server forgets it a moment later."""
    client.pulse_ended = reason  # type: ignore[attr-defined]
    log.info('closed the page %s of %s: %s', client.id, _who(client), reason)
    with client:
        ui.run_javascript(f'window.socket?.disconnect(); document.body.innerHTML = {json.dumps(TOO_MANY_PAGES)};')
    _silence(client)
    asyncio.get_running_loop().call_later(2.0, _forget, client)


def _forget(client: Client) -> None:
    """Delete an ended page's client and close its sockets (a script may ignore what it was told)."""
    if client.is_deleted or client.id not in Client.instances:
        return
    # NiceGUI deletes a client whose socket went after its reconnect timeout, and a client deleted here meanwhile
    # made that deletion fail with a KeyError traceback in the log: its sockets are dropped from the client first (a
    # later disconnect is then nothing to it) and its pending deletions cancelled
    sockets = list(client._socket_to_document_id)  # pylint: disable=protected-access
    client._socket_to_document_id.clear()  # pylint: disable=protected-access
    for task in client._delete_tasks.values():  # pylint: disable=protected-access
        task.cancel()
    client._delete_tasks.clear()  # pylint: disable=protected-access
    client.delete()
    for sid in sockets:
        background_tasks.create(core.sio.disconnect(sid), name='close-ended-page-socket')


def _session_still_signed_in(client: Client) -> bool:
    """Is the browser session of this page still signed in as the page's user (a logout in another tab of the same
    process clears it at once)?"""
    sid = getattr(client, 'pulse_session', None)
    if sid is None:
        return True
    storage = app.storage._users.get(sid)  # pylint: disable=protected-access
    return storage is None or storage.get('user_id') == client.pulse_user_id  # type: ignore[attr-defined]


async def on_bus_event(event: Event) -> None:
    """Re-check the open pages an account or session change concerns (subscribed at startup, every process)."""
    if isinstance(event, SessionEnded):
        for client in list(Client.instances.values()):
            if getattr(client, 'pulse_session', None) == event.session_id and user_id_of(client) is not None:
                end_client(client, 'logged-out')
    elif isinstance(event, AccountChanged):
        clients = [c for c in list(Client.instances.values()) if user_id_of(c) == event.user_id]
        if not clients:
            return
        user = await auth.get_user(event.user_id)  # None when gone or inactive
        for client in clients:
            reason = _end_reason(client, user)
            if reason:
                _sign_out_session(client)  # so the login page asks again instead of sending them back
                end_client(client, reason)


def _sign_out_session(client: Client) -> None:
    sid = getattr(client, 'pulse_session', None)
    storage = app.storage._users.get(sid) if sid else None  # pylint: disable=protected-access
    if storage is not None and storage.get('user_id') == user_id_of(client):
        storage.pop('user_id', None)
        storage.pop('stamp', None)


def _end_reason(client: Client, user: User | None) -> str:
    if user is None or not user.is_active:
        return 'account-ended'
    before = client.pulse_reach  # type: ignore[attr-defined]
    now = reach(user)
    if before == now:
        return ''
    return 'password-changed' if before[5] != now[5] else 'access-changed'


# --- events for elements ------------------------------------------------------------------------------------------

def _problem(client: Client, msg: dict) -> str:
    """Why this event cannot be meant for this page ('' if it can)."""
    if getattr(client, 'pulse_ended', None):
        return 'came from a page whose session ended, on'
    if user_id_of(client) is not None and not _session_still_signed_in(client):
        end_client(client, 'logged-out')
        return 'came from a page whose session logged out, on'
    sender = client.elements.get(msg.get('id'))  # type: ignore[arg-type]
    if sender is None:
        return 'is not on'
    if sender.is_ignoring_events:
        return 'is disabled or hidden on'
    if msg.get('listener_id') not in sender._event_listeners:
        return 'has no such listener on'
    try:
        args = [None if arg is None else json.loads(arg) for arg in msg.get('args') or []]
    except (TypeError, ValueError):
        return 'got malformed arguments on'
    if sum(len(arg) for arg in msg.get('args') or [] if isinstance(arg, str)) > MAX_EVENT_ARGS_CHARS:
        return 'got arguments larger than any control sends on'
    listener = sender._event_listeners[msg['listener_id']]  # pylint: disable=protected-access
    if (isinstance(sender, ValueElement) and _same_event(listener.type, f'update:{sender.VALUE_PROP}')
            and not _value_fits(sender, args[0] if len(args) == 1 else args)):
        return 'got a value of the wrong kind for its element on'
    if isinstance(sender, ui.table) and not _table_event_fits(sender, listener.type, args):
        return 'got a table event that table does not send on'
    if listener.type in ('sub_pages_open', 'sub_pages_navigate'):
        return 'asked for sub pages, which no page has, on'
    if listener.type == in_app.EVENT and in_app.parse(args[0] if len(args) == 1 else None) is None:
        return 'asked to open in place what is not a ticket on'
    return ''


# an event's arguments as the browser sends them (JSON text): a message of MESSAGE_LIMIT characters, escaped, fits
MAX_EVENT_ARGS_CHARS = 256 * 1024
ADDED_CHOICE_CHARS = 200  # a choice typed into a select that takes new ones (a tier, a time zone)
ADDED_CHOICES_MAX = 500   # … and how many choices such a select may come to hold
PAGINATION_KEYS = frozenset({'sortBy', 'descending', 'page', 'rowsPerPage', 'rowsNumber'})


def _table_event_fits(table: ui.table, kind: str, args: list) -> bool:
    """A table's own events (NiceGUI keeps what they send: ``selected`` grows by every ``selection`` event's rows,
    ``pagination`` is stored as sent): only a table that offers selection takes a selection, and only of rows it
    shows; pagination and full screen only in the shape Quasar sends."""
    value = args[0] if len(args) == 1 else None
    if kind == 'selection':
        if table.selection == 'none' or not isinstance(value, dict):
            return False
        shown = {row.get(table.row_key) for row in table.rows}
        rows, keys = value.get('rows'), value.get('keys')
        return (isinstance(value.get('added'), bool) and isinstance(rows, list) and isinstance(keys, list)
                and len(rows) <= len(shown) and len(keys) <= len(shown)
                and all(isinstance(row, dict) and row in table.rows for row in rows)
                and all(isinstance(key, (str, int)) and key in shown for key in keys))
    if _same_event(kind, 'update:pagination'):
        return (isinstance(value, dict) and set(value) <= PAGINATION_KEYS
                and all(v is None or (isinstance(v, (bool, int, float)) and not (isinstance(v, float) and not
                                                                             math.isfinite(v)))
                        or (isinstance(v, str) and len(v) <= 100) for v in value.values()))
    if _same_event(kind, 'update:fullscreen'):
        return isinstance(value, bool)
    return True


def _same_event(a: str, b: str) -> bool:
    """NiceGUI stores ``update:model-value`` as ``update:modelValue``."""
    return a.replace('-', '').lower() == b.replace('-', '').lower()


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _value_fits(element: ValueElement, value: Any) -> bool:
    """Whether a new value sent for an input, select, switch… has the shape its browser component sends: the page's
    handlers (NiceGUI's conversion of a choice's index, ``.strip()`` of a text, a service's boolean) never see a
    dict where text belongs, an index out of range or a list for a checkbox."""
    if isinstance(element, ui.select):
        adds = bool(element.props.get('new-value-mode'))

        def choice(item: Any) -> bool:
            return ((isinstance(item, dict) and isinstance(item.get('value'), int)
                     and not isinstance(item.get('value'), bool) and 0 <= item['value'] < len(element._values))
                    or (adds and isinstance(item, str) and 0 < len(item) <= ADDED_CHOICE_CHARS
                        and (item in element._values or len(element._values) < ADDED_CHOICES_MAX)))
        if value is None:
            return True
        if element.multiple:
            return isinstance(value, list) and all(choice(item) for item in value)
        return choice(value)
    if isinstance(element, (ui.radio, ui.toggle)):
        return ((value is None and isinstance(element, ui.toggle))
                or (isinstance(value, int) and not isinstance(value, bool) and 0 <= value < len(element._values)))
    if isinstance(element, ui.number):
        if value is None or value == '' or _is_number(value):
            return True
        try:
            return isinstance(value, str) and math.isfinite(float(value))
        except ValueError:
            return False
    if isinstance(element, (ui.checkbox, ui.switch)) or isinstance(element.value, bool):
        return value is None or isinstance(value, bool)
    if isinstance(element, (ui.input, ui.textarea)) or isinstance(element.value, str):
        return value is None or isinstance(value, str)
    return True


# the socket whose event message is being handled (``_on_event``): ``Client.handle_event`` is given the message only
_event_socket: contextvars.ContextVar[str | None] = contextvars.ContextVar('pulse_event_socket', default=None)


def _refuse_event(client: Client | None, msg: Any, problem: str) -> None:
    """Drop an event; it counts as a refusal of the socket that sent it (REFUSALS_PER_MINUTE), said while in bound.
    Before, these did not count: one /login socket sent 3,000 events for an element not on its page, stayed
    connected and wrote 606 log lines, and as many again a few seconds later."""
    sid = _event_socket.get()
    if sid is not None and not _refused(sid):
        return
    page = client.page.path if client is not None and getattr(client, 'page', None) else '?'
    log.warning('refused: %s sent a %r event for element %r, which %s page %s', _who(client),
                msg.get('type') if isinstance(msg, dict) else '?', msg.get('id') if isinstance(msg, dict) else '?',
                problem, page)


# --- the socket handlers ------------------------------------------------------------------------------------------

def _client_of_socket(sid: str) -> Client | None:
    """The page a socket handshook as (for the log line of a refusal)."""
    return next((c for c in list(Client.instances.values())
                 if sid in c._socket_to_document_id), None)  # pylint: disable=protected-access


# refused messages a socket may send a minute before it is closed: a browser sends none (a page the server forgot
# is dropped silently), a script sent 100,000 (5.2 s of CPU and 18 MB of log lines from one anonymous socket)
REFUSALS_PER_MINUTE = 30
_refusals: dict[str, list[float]] = {}  # socket → [window start, refusals]


def _refused(sid: str) -> bool:
    """Count a refusal of this socket's message; True while it may still be said in the log. Past the bound the
    socket is closed."""
    now = time.monotonic()
    window = _refusals.get(sid)
    if window is None or now - window[0] >= 60:
        window = _refusals[sid] = [now, 0]
    window[1] += 1
    if window[1] == REFUSALS_PER_MINUTE + 1:
        log.warning('refused: socket %s sent more than %d refused messages in a minute; closed', sid,
                    REFUSALS_PER_MINUTE)
        background_tasks.create(core.sio.disconnect(sid), name='close-refused-socket')
    return window[1] <= REFUSALS_PER_MINUTE


def bound_client(sid: str, msg: Any, kind: str) -> Client | None:
    """The client a socket message may act on: the one this socket handshook as, and only if the message names it."""
    if not isinstance(msg, dict) or not isinstance(msg.get('client_id'), str):
        if _refused(sid):
            log.warning('refused: socket %s sent a %s message without a client id', sid, kind)
        return None
    client = Client.instances.get(msg['client_id'])
    if client is None:
        return None  # a page the server forgot (e.g. after a restart): the browser reloads by itself
    if sid not in client._socket_to_document_id:  # pylint: disable=protected-access
        if _refused(sid):
            own = _client_of_socket(sid)
            log.warning('refused: socket %s (%s, page %s) sent an %s message for another page %s (%s)', sid,
                        _who(own), own.page.path if own is not None else 'none', kind, client.id, _who(client))
        return None
    return client


# Events one person (pages without a sign-in: their network address) may send a second, over all their pages in
# this process, refilled continuously up to a burst. A person at a keyboard sends a few a second (a keystroke, a
# click, a choice); scripted, one socket sent 1,000 priority changes in a burst (5.7 s of server CPU). Beyond the
# budget events are dropped — the page is the sender's own, nobody else's state depends on it — and said once a
# minute in the log.
EVENTS_PER_SECOND = 60.0
EVENT_BURST = 600.0
_event_budgets: dict[tuple[str, object], list[float]] = {}  # key → [tokens, last refill, dropped, last said]


def _address_of_page(client: Client) -> str:
    """The network address a page was loaded from (behind nginx the browser's): pages without a sign-in share its
    budget (50 login pages of one address each had a budget of their own: 30,000 clicks in one burst)."""
    try:
        return client.request.client.host if client.request.client else '?'
    except (RuntimeError, AssertionError, AttributeError):
        return '?'


def event_allowed(client: Client, now: float) -> bool:
    """Whether the person behind this page may send one more event now (and count it)."""
    uid = user_id_of(client)
    key: tuple[str, object] = ('user', uid) if uid is not None else ('address', _address_of_page(client))
    budget = _event_budgets.get(key)
    if budget is None:
        if len(_event_budgets) >= 10_000:  # forget the budgets that refilled (idle people, closed pages)
            for k, b in list(_event_budgets.items()):
                if b[0] + (now - b[1]) * EVENTS_PER_SECOND >= EVENT_BURST:
                    del _event_budgets[k]
        budget = _event_budgets[key] = [EVENT_BURST, now, 0, -math.inf]
    budget[0] = min(EVENT_BURST, budget[0] + (now - budget[1]) * EVENTS_PER_SECOND)
    budget[1] = now
    if budget[0] >= 1:
        budget[0] -= 1
        return True
    budget[2] += 1
    if now - budget[3] >= 60:
        log.warning('refused: %s sent more than %d events a second (page %s); %d dropped so far', _who(client),
                    EVENTS_PER_SECOND, client.id, budget[2])
        budget[3] = now
    return False


def _on_event(sid: str, msg: Any) -> None:
    client = bound_client(sid, msg, 'event')
    if client is None or not client.has_socket_connection:
        return
    if not event_allowed(client, time.monotonic()):
        return
    token = _event_socket.set(sid)
    try:
        if not isinstance(msg.get('id'), int) or isinstance(msg.get('id'), bool):
            _refuse_event(client, msg, 'has no element id for')
            return
        client.handle_event(msg)
    finally:
        _event_socket.reset(token)


def _on_javascript_response(sid: str, msg: Any) -> None:
    if (client := bound_client(sid, msg, 'javascript_response')) is None:
        return
    if not isinstance(msg.get('request_id'), str):  # NiceGUI would raise KeyError on it
        log.warning('refused: socket %s sent a javascript_response without a request id', sid)
        return
    client.handle_javascript_response(msg)


def _on_ack(sid: str, msg: Any) -> None:
    if (client := bound_client(sid, msg, 'ack')) is not None and isinstance(msg.get('next_message_id'), int):
        client.outbox.prune_history(msg['next_message_id'])


LOG_LEVELS = frozenset({'debug', 'info', 'warning', 'error'})


# A page's script reports its errors to the server log (NiceGUI's ``log`` message). Any page sends them, the login
# page too, so they are what a stranger writes: one line each (``ops.logs.one_line``: a newline would forge a line of
# our own), marked as the browser's, at most BROWSER_LOG_CHARS characters and BROWSER_LOG_PER_MINUTE messages per page
# (the first one dropped is said). Raw, one socket wrote 20 MB in 2 s into the log, and a forged "refused: user 1
# (admin …)" line.
browser_log = logging.getLogger('pulse_live.browser')
BROWSER_LOG_CHARS = 2000
BROWSER_LOG_PER_MINUTE = 30


def _shown(text: str) -> str:
    """``text`` on one line, cut at BROWSER_LOG_CHARS."""
    cut = one_line(text[:BROWSER_LOG_CHARS])
    return cut + (f' … ({len(text) - BROWSER_LOG_CHARS} more characters)' if len(text) > BROWSER_LOG_CHARS else '')


def _log_allowed(client: Client, now: float) -> bool:
    """Whether this page may log one more message now (BROWSER_LOG_PER_MINUTE a minute)."""
    window = getattr(client, '_pulse_log_window', None)
    if window is None or now - window[0] >= 60:
        window = [now, 0]  # start, messages
        client._pulse_log_window = window  # type: ignore[attr-defined]
    window[1] += 1
    if window[1] == BROWSER_LOG_PER_MINUTE + 1:
        log.warning('refused: page %s: its browser sent more than %d log messages in a minute; the rest of this '
                    'minute\'s are dropped', client.id, BROWSER_LOG_PER_MINUTE)
    return window[1] <= BROWSER_LOG_PER_MINUTE


def _on_log(sid: str, msg: Any) -> None:
    if (client := bound_client(sid, msg, 'log')) is None:
        return
    level = msg.get('level')
    if not isinstance(level, str) or level not in LOG_LEVELS or not isinstance(msg.get('message'), str):  # KeyError
        log.warning('refused: socket %s sent a log message without a known level and a text', sid)
        return
    if _log_allowed(client, time.monotonic()):
        browser_log.log(logging.getLevelName(level.upper()), 'page %s, its browser says: %s', client.id,
                        _shown(msg['message']))


def allowed_origins(environ: dict) -> set[str]:
    """This installation's address and the address the browser asked for (behind a proxy, set PULSE_BASE_URL)."""
    base = urlsplit(get_settings().base_url)
    origins = {f'{base.scheme}://{base.netloc}'.lower()}
    host = environ.get('HTTP_HOST', '')
    if host:
        origins |= {f'http://{host}'.lower(), f'https://{host}'.lower()}
    return origins


def origin_problem(environ: dict) -> str:
    """'' if a socket may connect with these headers; a browser always sends Origin, other clients may not."""
    origin = (environ.get('HTTP_ORIGIN') or '').lower().rstrip('/')
    if not origin:
        return ''
    return '' if origin in allowed_origins(environ) else f'origin {origin} is not this site'


def session_id_of_environ(environ: dict) -> str | None:
    """The NiceGUI session id in the socket's session cookie (Starlette's signed cookie), None if absent or forged."""
    cookies = environ.get('HTTP_COOKIE', '')
    raw = next((part.split('=', 1)[1] for part in cookies.split('; ') if part.startswith('session=')), None)
    if raw is None:
        return None
    try:
        data = TimestampSigner(str(get_settings().resolved_storage_secret())).unsign(raw.encode())
        return json.loads(base64.b64decode(data)).get('id')
    except (BadSignature, ValueError, TypeError, AttributeError):
        return None


def _refuse_binary_packets(sio: Any) -> None:
    """Our pages never send socket.io's binary packets (events are JSON; files go over HTTP). python-socketio keeps
    every attachment frame a binary packet announces (up to 10 digits of them) until the last arrives: one socket
    without a page held +1.4 GB that way. A binary packet, or a frame of bytes, closes the socket."""
    original = sio.eio.handlers['message']

    async def on_message(eio_sid: str, data: Any) -> Any:
        if isinstance(data, (bytes, bytearray)) or (isinstance(data, str) and data[:1] in ('5', '6')):
            log.warning('refused: socket %s sent a binary socket.io packet; closed', eio_sid)
            await sio.eio.disconnect(eio_sid)
            return None
        return await original(eio_sid, data)

    sio.eio.on('message', on_message)


# open sockets per network address (``PULSE_MAX_SOCKETS_PER_ADDRESS``): one address held 3,000 sockets without a
# page (~43 KB and a file descriptor each), and each page of /login is a socket too. Behind nginx the address is
# the browser's (uvicorn takes X-Forwarded-For from the proxy); an office behind one NAT shares the number.
_sockets_of_address: dict[str, set[str]] = {}
_address_of_socket: dict[str, str] = {}
_said_full: dict[str, float] = {}


def admit_socket(sid: str, address: str, now: float) -> bool:
    """Count a new socket of ``address``; False (and said once a minute) when the address has its limit open."""
    limit = get_settings().max_sockets_per_address
    held = _sockets_of_address.setdefault(address, set())
    if limit and len(held) >= limit:
        if now - _said_full.get(address, -math.inf) >= 60:
            _said_full[address] = now
            log.warning('refused: address %s has %d sockets open, the most one address may (more are refused)',
                        address, limit)
        if not held:
            del _sockets_of_address[address]
        return False
    held.add(sid)
    _address_of_socket[sid] = address
    return True


def release_socket(sid: str) -> None:
    address = _address_of_socket.pop(sid, None)
    held = _sockets_of_address.get(address) if address is not None else None
    if held is not None:
        held.discard(sid)
        if not held:
            del _sockets_of_address[address]  # type: ignore[arg-type]


# sockets one page may have at once: a browser has one (two for a moment while it reconnects); a script joined 400
# to one page, and every message to the page went to each (300 clicks: 0.3 s of CPU with one socket, 6.2 s)
SOCKETS_PER_PAGE = 4


def install() -> None:
    if _installed['done']:
        return
    original_handle_event = Client.handle_event

    def handle_event(self: Client, msg: dict) -> None:
        problem = _problem(self, msg) if isinstance(msg, dict) else 'is unreadable on'
        if problem:
            _refuse_event(self, msg, problem)
            return  # NiceGUI would drop the first two silently and fail on the others
        original_handle_event(self, msg)

    Client.handle_event = handle_event  # type: ignore[method-assign]

    from nicegui import nicegui as nicegui_module
    sio = core.sio
    original_connect = nicegui_module._on_connect  # pylint: disable=protected-access
    original_disconnect = nicegui_module._on_disconnect  # pylint: disable=protected-access
    original_handshake = nicegui_module._on_handshake  # pylint: disable=protected-access

    async def on_connect(sid: str, environ: dict, auth_data: Any = None) -> None:
        problem = origin_problem(environ)
        if problem:
            log.warning('refused: a socket from %s (%s)', environ.get('REMOTE_ADDR', '?'), problem)
            import socketio
            raise socketio.exceptions.ConnectionRefusedError('Origin not allowed')
        await original_connect(sid, environ, auth_data)

    def on_disconnect(sid: str, *_reason: Any) -> None:
        _refusals.pop(sid, None)
        original_disconnect(sid)

    # the bound per address counts engine.io's connections (a websocket or a polling session), whether or not they
    # join socket.io: 2,000 that never joined were not counted, each holding up to a message's worth of memory
    original_eio_connect = sio.eio.handlers['connect']
    original_eio_disconnect = sio.eio.handlers['disconnect']

    async def on_eio_connect(eio_sid: str, environ: dict) -> Any:
        if not admit_socket(eio_sid, environ.get('REMOTE_ADDR') or '?', time.monotonic()):
            return False  # engine.io answers 401 and forgets it
        try:
            return await original_eio_connect(eio_sid, environ)
        except BaseException:
            release_socket(eio_sid)
            raise

    async def on_eio_disconnect(eio_sid: str, reason: Any = None) -> Any:
        release_socket(eio_sid)
        return await original_eio_disconnect(eio_sid, reason)
    sio.eio.on('connect', on_eio_connect)
    sio.eio.on('disconnect', on_eio_disconnect)

    async def on_handshake(sid: str, data: Any) -> bool:
        keys = ('client_id', 'tab_id', 'document_id')
        if not isinstance(data, dict) or not all(isinstance(data.get(k), str) for k in keys):
            log.warning('refused: socket %s sent a malformed handshake', sid)
            return False
        client = Client.instances.get(data['client_id'])
        if client is not None and not sid.startswith('test-'):
            page_session = session_id_of(client)
            socket_session = session_id_of_environ(sio.get_environ(sid) or {})
            if page_session is not None and socket_session != page_session:
                log.warning('refused: socket %s tried to connect as page %s (%s) of another browser session', sid,
                            client.id, _who(client))
                return False
        if client is not None and len(client._socket_to_document_id) >= SOCKETS_PER_PAGE:  # pylint: disable=W0212
            if _refused(sid):
                log.warning('refused: socket %s would be page %s\'s socket number %d', sid, client.id,
                            SOCKETS_PER_PAGE + 1)
            return False
        # a page is one document of a browser: its sockets (reconnects, a second one for a moment) carry the id the
        # document chose once (nicegui.js), a reload is another page. NiceGUI schedules a deletion per document id:
        # a script that joined one page with 4 ids had its delete handlers run 4 times and 3 KeyError tracebacks
        pinned = getattr(client, 'pulse_document_id', None) if client is not None else None
        if client is not None and pinned not in (None, data['document_id']):
            if _refused(sid):
                log.warning('refused: socket %s tried to join page %s as another document', sid, client.id)
            return False
        if client is not None and pinned is None:
            client.pulse_document_id = data['document_id']  # type: ignore[attr-defined]  # (before any await)
        bound = await original_handshake(sid, data)
        if not bound and client is not None and pinned is None \
                and not client._socket_to_document_id:  # pylint: disable=protected-access
            client.pulse_document_id = None  # type: ignore[attr-defined]  # the first handshake failed: no document
        if bound and client is not None:
            keep_pages_bounded(client)
        return bound

    nicegui_module._on_handshake = on_handshake  # the implicit handshake of _on_connect looks it up here
    _refuse_binary_packets(sio)
    sio.on('connect', on_connect)
    sio.on('disconnect', on_disconnect)
    sio.on('handshake', on_handshake)
    sio.on('event', _on_event)
    sio.on('javascript_response', _on_javascript_response)
    sio.on('ack', _on_ack)
    sio.on('log', _on_log)
    _installed['done'] = True
