"""The login hand-off from the portal to the apps origin, and where that origin is.

Hosted apps are user-authored web content: their JavaScript runs with the rights of the page's
origin. They are therefore served from an origin other than the portal's (a second listener,
``server.apps_port``, or one origin per app under a wildcard DNS name, ``server.apps_domain``),
which never accepts the portal's session cookie. A visitor gets in with a one-time hand-off,
as JupyterHub does for its single-user servers:

1. the portal (``/apps/NAME/…``, logged in) checks that the visitor may use the app and
   redirects to ``APPS/apps/NAME/-/enter?ticket=…``; the ticket is signed with the workspace's
   key, names the user, the app and the page to land on, and is valid for a minute, once;
2. the apps origin redeems it (:class:`TicketBook` remembers the used ones until they expire),
   sets its own HttpOnly cookie, ``atelier_app``, for that app's path only, and redirects.

The cookie is signed with another salt than the portal's session, so neither is accepted in
the other's place; it names the user and the app, and every request re-checks that the user
exists, is enabled and may still use the app.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from itsdangerous import BadData, URLSafeTimedSerializer

from atelier.config.settings import ServerSettings
from atelier.errors import AtelierError, InvalidInput
from atelier.server.gateway.proxy import APP_COOKIE, PATH_SAFE

#: Seconds a hand-off ticket may take from the portal to the apps origin.
TICKET_SECONDS = 60
TICKET_SALT = "atelier.apps.ticket"
COOKIE_SALT = "atelier.apps.session"
#: The hand-off's path on the apps origin: ``/-/`` is never used by Streamlit or Dash.
ENTER = "-/enter"


__all__ = ["APP_COOKIE", "AppsOrigin", "TicketBook", "TicketRefused", "Tickets"]


class TicketRefused(AtelierError):
    status_code = 403


@dataclass(frozen=True)
class AppsOrigin:
    """Where hosted apps are served: one URL for all of them, or one host per app."""

    #: The portal's own address (``Workspace.public_url``).
    portal_url: str
    #: The apps listener's port on this machine.
    port: int
    #: ``http(s)://host[:port]`` of the apps listener, when every app shares it.
    base_url: str
    #: ``apps.example.com[:port]``: app NAME is at ``NAME.apps.example.com``.
    domain: str = ""
    scheme: str = "http"

    @classmethod
    def from_settings(cls, server: ServerSettings, portal_url: str) -> AppsOrigin:
        port = server.apps_port or server.port + 1
        portal = urlsplit(portal_url)
        if server.apps_url:
            base = server.apps_url
        else:
            host = portal.hostname or server.host
            host = f"[{host}]" if ":" in host else host
            base = f"{portal.scheme or 'http'}://{host}:{port}"
        scheme = urlsplit(base).scheme or "http"
        origin = cls(portal_url.rstrip("/"), port, base.rstrip("/"), server.apps_domain, scheme)
        origin.check(server)
        return origin

    def check(self, server: ServerSettings) -> None:
        """Refuse a configuration where the apps would share the portal's origin."""
        portal = urlsplit(self.portal_url)
        if self.port == server.port:
            raise InvalidInput(
                f"server.apps_port {self.port} is the portal's port: hosted apps need a port "
                "of their own (0 takes the portal's port + 1)"
            )
        if self.domain:
            host = (portal.hostname or "").lower()
            bare = self.domain.split(":", 1)[0]
            if host == bare or host.endswith("." + bare):
                raise InvalidInput(
                    f"server.apps_domain {self.domain!r} holds the portal's host {host!r}: "
                    "use a name of its own, e.g. apps.example.com for atelier.example.com"
                )
        elif urlsplit(self.base_url).netloc.lower() == portal.netloc.lower():
            raise InvalidInput(
                f"server.apps_url {self.base_url} is the portal's origin: use another port "
                "or host name"
            )

    def app_url(self, name: str) -> str:
        """The origin that serves app ``name`` (no path)."""
        if self.domain:
            return f"{self.scheme}://{name}.{self.domain}"
        return self.base_url

    def app_of_host(self, host: str) -> str | None:
        """With one origin per app: the app that a ``Host`` header names, else None."""
        suffix = "." + self.domain
        host = host.lower()
        if not self.domain or not host.endswith(suffix):
            return None
        name = host[: -len(suffix)]
        return name if name and "." not in name else None

    @property
    def secure(self) -> bool:
        return self.scheme == "https"


def landing(name: str, path: str, query: str = "") -> str:
    """The page under ``/apps/NAME/`` to open after the hand-off."""
    target = f"/apps/{name}/" + quote(path.lstrip("/"), safe=PATH_SAFE)
    return f"{target}?{query}" if query else target


def inside_app(name: str, target: str) -> bool:
    """Whether ``target`` is a path of app ``name`` (and nothing a browser reads as another
    host or another path: no ``//``, no backslash, no scheme, no dot segments)."""
    parts = urlsplit(target)
    segments = unquote(parts.path).split("/")
    return (
        not parts.scheme
        and not parts.netloc
        and "\\" not in unquote(target)
        and "//" not in parts.path
        and "." not in segments
        and ".." not in segments
        and parts.path.startswith(f"/apps/{name}/")
    )


class Tickets:
    """Signs hand-off tickets (in the portal) and app cookies; reads both back."""

    def __init__(self, secret_key: str) -> None:
        self._tickets = URLSafeTimedSerializer(secret_key, salt=TICKET_SALT)
        self._cookies = URLSafeTimedSerializer(secret_key, salt=COOKIE_SALT)

    def ticket(self, user_id: int, user: str, app: str, target: str) -> str:
        if not inside_app(app, target):
            raise InvalidInput(f"{target!r} is not a page of app {app!r}")
        nonce = secrets.token_urlsafe(16)
        return self._tickets.dumps({"u": user_id, "n": user, "a": app, "t": target, "x": nonce})

    def read_ticket(self, ticket: str, app: str) -> dict[str, Any]:
        """The ticket's content, if it is genuine, fresh and for ``app``."""
        try:
            data = self._tickets.loads(ticket, max_age=TICKET_SECONDS)
        except BadData:
            raise TicketRefused(
                "this sign-in link to the app is expired or not genuine: open the app from "
                "the portal again"
            ) from None
        if not isinstance(data, dict) or data.get("a") != app:
            raise TicketRefused(f"this sign-in link is not for app {app!r}")
        if not inside_app(app, str(data.get("t", ""))):
            raise TicketRefused("this sign-in link names a page outside the app")
        return data

    def cookie(self, user_id: int, user: str, app: str) -> str:
        return self._cookies.dumps({"u": user_id, "n": user, "a": app})

    def read_cookie(self, value: str, app: str, max_age: int) -> tuple[int, str] | None:
        """The user id and name an app cookie names, when it is genuine, fresh and for ``app``."""
        try:
            data = self._cookies.loads(value, max_age=max_age)
        except BadData:
            return None
        if not isinstance(data, dict) or data.get("a") != app:
            return None
        user_id, user = data.get("u"), data.get("n")
        if not isinstance(user_id, int) or not isinstance(user, str):
            return None
        return user_id, user


class TicketBook:
    """The nonces of tickets redeemed in the last minute: each ticket opens one session.

    Held in the memory of the server process that serves the apps origin (the one process of
    ``atelier up``); a ticket is forgotten once it would be refused as expired anyway.
    """

    def __init__(self, seconds: float = TICKET_SECONDS + 5) -> None:
        self.seconds = seconds
        self._used: dict[str, float] = {}
        self._lock = threading.Lock()

    def claim(self, nonce: str) -> bool:
        """True the first time ``nonce`` is claimed, False after."""
        now = time.monotonic()
        with self._lock:
            for old in [n for n, until in self._used.items() if until < now]:
                del self._used[old]
            if nonce in self._used:
                return False
            self._used[nonce] = now + self.seconds
            return True
