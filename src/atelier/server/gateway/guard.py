"""Who may pass through the gateway, and from which page.

Proxied tools (JupyterLab, MLflow, hosted apps) cannot send Atelier's CSRF token, so for
cookie sessions the gateway checks instead that state-changing requests and every WebSocket
come from a page of this server: the ``Origin`` (or, for HTTP, the ``Referer``) must name
this host. This stops cross-site request forgery and cross-site WebSocket hijacking, which
SameSite cookies alone do not (another port of the same host is the same site). Callers with
a bearer token are not at risk: browsers never attach it on their own.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from fastapi import Depends, HTTPException
from starlette.requests import HTTPConnection

from atelier.server.security import SAFE_METHODS, RoleGuard
from atelier.services.auth import Principal


def same_origin(connection: HTTPConnection, public_url: str = "") -> bool:
    """True when the request's ``Origin`` (or ``Referer``) is this server itself."""
    source = connection.headers.get("origin")
    if source is None and connection.scope["type"] == "http":
        source = connection.headers.get("referer")
    if not source or source == "null":
        return False
    netloc = urlsplit(source).netloc.lower()
    allowed = {connection.headers.get("host", "").lower()}
    if public_url:
        allowed.add(urlsplit(public_url).netloc.lower())
    return bool(netloc) and netloc in allowed


def needs_origin_check(connection: HTTPConnection) -> bool:
    if connection.scope["type"] == "websocket":
        return True
    return connection.scope["method"] not in SAFE_METHODS


class GatewayGuard(RoleGuard):
    """The role check of :class:`RoleGuard`, for HTTP and WebSocket routes alike, with the
    origin check above in place of the CSRF token."""

    async def __call__(self, connection: HTTPConnection) -> Principal:
        principal = self.check(getattr(connection.state, "principal", None), connection.url.path)
        if principal.via == "session" and needs_origin_check(connection):
            workbench = getattr(connection.app.state, "workbench", None)
            public_url = workbench.workspace.public_url if workbench is not None else ""
            if not same_origin(connection, public_url):
                raise HTTPException(403, "cross-origin request refused: open the page from Atelier")
        return principal


def allow_gateway(*roles: str, scopes: Iterable[str] = ()) -> Any:
    """``principal: Principal = allow_gateway("admin", "scientist")`` on a proxied route
    (HTTP or WebSocket); ``scopes`` as for :func:`~atelier.server.security.allow`."""
    return Depends(GatewayGuard(roles, scopes))
