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
