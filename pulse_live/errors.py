"""Errors that services raise; their message is safe and meant to be shown to the user."""


class ServiceError(Exception):
    """Base: the requested change was refused; nothing was written."""


class NotFound(ServiceError):
    pass


class PermissionDenied(ServiceError):
    pass


class ValidationError(ServiceError):
    pass


class StaleWrite(ServiceError):
    """Somebody else changed the ticket since the user loaded it."""

    def __init__(self, message: str, current_version: int | None = None) -> None:
        super().__init__(message)
        self.current_version = current_version


class LoginRefused(ServiceError):
    pass


class TooMany(ServiceError):
    """Refused for now: too many of these in a short time; ``retry_after_s`` until the next may come."""

    def __init__(self, message: str, retry_after_s: int = 60) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class Unavailable(ServiceError):
    """The database is not answering (restarting, unreachable): nothing was written; trying again later works."""


UNAVAILABLE_MESSAGE = 'The database is not answering right now; nothing was saved. Try again in a moment.'


def _raised_in_database_client(error: BaseException) -> bool:
    tb = error.__traceback__
    while tb is not None:
        if tb.tb_frame.f_globals.get('__name__', '').startswith(('sqlalchemy', 'asyncpg', 'aiosqlite')):
            return True
        tb = tb.tb_next
    return False


# SQLite's primary result codes of passing trouble: BUSY, LOCKED, NOMEM, IOERR, FULL, CANTOPEN, PROTOCOL
SQLITE_PASSING = frozenset({5, 6, 7, 10, 13, 14, 15})


def _sqlite_code(error: BaseException) -> int | None:
    """The primary SQLite result code of a wrapped sqlite3 error, else None."""
    code = getattr(getattr(error, 'orig', None), 'sqlite_errorcode', None)
    return code & 0xFF if isinstance(code, int) else None


CONFLICT_MESSAGE = 'The same was saved at the same moment from elsewhere. Look at the page again and try once more.'


def is_conflict(error: BaseException) -> bool:
    """True when ``error`` is the database refusing a duplicate a check could not see coming (a unique key written at
    the same moment by another request): the user is told, not left with a silent failure and a traceback."""
    from sqlalchemy.exc import IntegrityError
    return isinstance(error, IntegrityError)


def is_unavailable(error: BaseException) -> bool:
    """True when ``error`` (or what caused it) is a lost or refused database connection — passing trouble, not a bug:
    the connection pool checks connections before use, so requests work again by themselves once the server answers.
    A connection error from anything else (a mail or IMAP server, a webhook) is not this."""
    from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OperationalError) and _sqlite_code(current) is not None:
            if _sqlite_code(current) in SQLITE_PASSING:  # busy, locked, out of memory, I/O, disk full, cannot open
                return True  # (not: no such table or column, a syntax error, a corrupt file — those are bugs)
        elif isinstance(current, Unavailable | OperationalError | InterfaceError):
            return True
        if isinstance(current, DBAPIError) and current.connection_invalidated:
            return True
        if type(current).__module__.startswith('asyncpg') and type(current).__name__ in {
                'CannotConnectNowError', 'ConnectionDoesNotExistError', 'AdminShutdownError', 'InterfaceError',
                'ConnectionFailureError', 'CrashShutdownError'}:
            return True
        if isinstance(current, ConnectionError | TimeoutError) and _raised_in_database_client(current):
            return True
        current = current.__cause__ or current.__context__
    return False
