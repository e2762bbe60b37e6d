"""User-facing errors.

Every error a user can see derives from :class:`AtelierError`; its message says what failed,
where, and what to do. The CLI prints it on one line, the API maps it to a status code.
"""

from __future__ import annotations


class AtelierError(Exception):
    """An error meant for the user, not a bug."""

    status_code = 400


class ConfigError(AtelierError):
    """The configuration (atelier.toml or ATELIER_* variables) is invalid."""


class WorkspaceNotFound(AtelierError):
    """No workspace where one was expected."""


class InvalidInput(AtelierError):
    status_code = 422


class NotFound(AtelierError):
    status_code = 404


class Conflict(AtelierError):
    status_code = 409


class HeldElsewhere(Conflict):
    """What a request is for is on another server of the workspace (a user's JupyterLab, a
    running job's log): the one at ``address``, its ``server.internal_url`` (empty: none
    known), to which the gateway passes the request on."""

    def __init__(self, message: str, address: str = "") -> None:
        super().__init__(message)
        self.address = address


class AuthenticationFailed(AtelierError):
    status_code = 401


class PermissionDenied(AtelierError):
    status_code = 403
