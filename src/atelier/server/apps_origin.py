"""The apps listener: hosted Streamlit/Dash apps, served from an origin other than the portal's.

A hosted app's JavaScript is written by a team member. Served from the portal's origin it
could read the portal's pages (and their CSRF token) and call ``/api/v1`` or ``/admin`` as
whoever opens it. Here it runs in another origin (``server.apps_port``, or ``NAME.`` under
``server.apps_domain``), where:

* only ``/apps/NAME/…`` is served; the API, the admin pages and every portal page are not;
* the portal's session cookie is never accepted (browsers send it here too, since cookies are
  not isolated by port: it is ignored and never forwarded); visitors sign in through the
  hand-off of :mod:`atelier.server.gateway.handoff` and get a cookie for one app;
* each request re-checks that the visitor may use the app (viewers: the apps shared with
  them), and WebSockets and state-changing requests must come from the app's own origin.

:func:`by_port` joins this app and the portal into the one ASGI app that ``atelier up``
serves on both ports.
"""

from __future__ import annotations

import html
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import HTTPConnection, Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket

from atelier.errors import AtelierError, NotFound, PermissionDenied
from atelier.server.body_limit import BodyLimit, Limits
from atelier.server.gateway import Upstream, proxy_http, proxy_websocket, same_origin
from atelier.server.gateway.guard import needs_origin_check
from atelier.server.gateway.handoff import (
    APP_COOKIE,
    ENTER,
    AppsOrigin,
    TicketBook,
    TicketRefused,
    Tickets,
)
from atelier.services.auth import Principal
from atelier.services.workbench import Workbench

PROXY_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
#: What this origin's own answers carry (proxied answers are the app's own).
HEADERS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin"}


def apps_origin(workbench: Workbench) -> AppsOrigin:
    return AppsOrigin.from_settings(workbench.settings.server, workbench.workspace.public_url)


def app_cookies(connection: HTTPConnection) -> list[str]:
    """Every ``atelier_app`` value sent (a path-scoped cookie may be shadowed by another)."""
    values = []
    for key, value in connection.scope["headers"]:
        if key != b"cookie":
            continue
        for part in value.decode("latin-1").split(";"):
            name, _, content = part.strip().partition("=")
            if name == APP_COOKIE and content:
                values.append(content.strip('"'))
    return values


class AppsApp:
    """The apps origin's routes and the state they share (the used tickets)."""

    def __init__(self, workbench: Workbench) -> None:
        self.workbench = workbench
        self.origin = apps_origin(workbench)
        self.tickets = Tickets(workbench.workspace.secret_key())
        self.book = TicketBook()
        self.session_seconds = int(workbench.settings.server.session_hours * 3600)

    # -- who is visiting ---------------------------------------------------------------

    def person(self, user_id: int, user: str) -> Principal | None:
        try:
            found = self.workbench.users.get(user)
        except NotFound:
            return None
        if found.id != user_id or found.disabled:
            return None
        return Principal(found.id, found.name, found.role, "session")

    def visitor(self, connection: HTTPConnection, app: str) -> Principal | None:
        """The visitor, from this origin's cookie for ``app`` only: never from the portal's
        session cookie, nor from a bearer token (this origin is for browsers; tokens are
        checked, with their back-off, by the portal's API)."""
        for value in app_cookies(connection):
            found = self.tickets.read_cookie(value, app, self.session_seconds)
            if found is not None:
                return self.person(*found)
        return None

    def wrong_host(self, connection: HTTPConnection, app: str) -> str | None:
        """With one origin per app, app NAME is served at NAME.<apps_domain> only."""
        if not self.origin.domain:
            return None
        if self.origin.app_of_host(connection.headers.get("host", "")) == app:
            return None
        return f"app {app!r} is served at {self.origin.app_url(app)}/apps/{app}/"

    def exists(self, name: str) -> bool:
        try:
            self.workbench.apps.registry.get(name)
        except NotFound:
            return False
        return True

    async def upstream(self, name: str, principal: Principal) -> Upstream:
        """The app's process, if ``principal`` may use it; started when needed."""
        wb = self.workbench
        try:
            app = await run_in_threadpool(wb.apps.registry.for_user, name, principal)
        except NotFound:
            # Deleted (perhaps by the CLI, in another process): nothing may keep serving it.
            # (Not merely hidden from this visitor: that must not stop it for everyone.)
            if not await run_in_threadpool(self.exists, name):
                await run_in_threadpool(wb.apps.supervisor.stop, name)
            raise
        if not app.hosted:
            raise NotFound(f"app {name!r} is not a hosted app: open it in the portal")
        if app.status != "running":
            await run_in_threadpool(wb.apps.supervisor.stop, name)
            raise NotFound(f"app {name!r} is paused")
        hosted = await run_in_threadpool(wb.apps.ready, app)
        return Upstream(f"http://127.0.0.1:{hosted.port}", name=f"app {name}")

    # -- pages -------------------------------------------------------------------------

    def message(self, status: int, name: str, text: str) -> HTMLResponse:
        """A plain page (no portal template: nothing of the portal lives in this origin)."""
        portal = html.escape(f"{self.origin.portal_url}/apps")
        body = (
            f"<!doctype html><meta charset=utf-8><title>{html.escape(name)}</title>"
            f"<h1>{html.escape(name)}</h1><p role=alert>{html.escape(text)}</p>"
            f'<p><a href="{portal}">All apps</a></p>'
        )
        return HTMLResponse(body, status_code=status, headers=HEADERS)

    def anonymous(self, request: Request, name: str) -> Response:
        """Pages go through the portal's login and hand-off; other requests get a 401."""
        if request.method == "GET" and "text/html" in request.headers.get("accept", ""):
            target = f"{self.origin.portal_url}{request.url.path}"
            if request.url.query:
                target += f"?{request.url.query}"
            return RedirectResponse(target, status_code=303, headers=HEADERS)
        return JSONResponse(
            {"detail": f"not signed in to app {name!r}: open it from the portal"},
            status_code=401,
            headers=HEADERS,
        )

    async def enter(self, request: Request) -> Response:
        """Redeem a hand-off ticket: set this origin's cookie for the app, open the page."""
        name = request.path_params["name"]
        if (where := self.wrong_host(request, name)) is not None:
            return self.message(404, name, where)
        try:
            data = self.tickets.read_ticket(request.query_params.get("ticket", ""), name)
            if not self.book.claim(str(data.get("x"))):
                raise TicketRefused(
                    "this sign-in link was used already: open the app from the portal again"
                )
            principal = await run_in_threadpool(self.person, data["u"], data["n"])
            if principal is None:
                raise PermissionDenied("this account no longer exists or is disabled")
            await run_in_threadpool(self.workbench.apps.registry.for_user, name, principal)
        except AtelierError as error:
            return self.message(error.status_code, name, str(error))
        response = RedirectResponse(
            data["t"], status_code=303, headers={**HEADERS, "Cache-Control": "no-store"}
        )
        response.headers["Referrer-Policy"] = "no-referrer"
        response.set_cookie(
            APP_COOKIE,
            self.tickets.cookie(principal.user_id, principal.name, name),
            max_age=self.session_seconds,
            path=f"/apps/{name}",
            httponly=True,
            samesite="lax",
            secure=self.origin.secure or self.workbench.settings.server.secure_cookies,
        )
        return response

    async def app_root(self, request: Request) -> Response:
        # The portal knows whether NAME is a generated app (its page) or a hosted one.
        name = request.path_params["name"]
        return RedirectResponse(f"{self.origin.portal_url}/apps/{name}", status_code=307)

    async def http(self, request: Request) -> Response:
        name, path = request.path_params["name"], request.path_params["path"]
        if (where := self.wrong_host(request, name)) is not None:
            return self.message(404, name, where)
        principal = await run_in_threadpool(self.visitor, request, name)
        if principal is None:
            return self.anonymous(request, name)
        if (
            principal.via == "session"
            and needs_origin_check(request)
            and not same_origin(request, self.origin.app_url(name))
        ):
            return self.message(403, name, "cross-origin request refused: open the app itself")
        try:
            upstream = await self.upstream(name, principal)
        except AtelierError as error:
            return self.message(error.status_code, name, str(error))
        return await proxy_http(request, upstream, f"apps/{name}/{path}")

    async def websocket(self, websocket: WebSocket) -> None:
        name, path = websocket.path_params["name"], websocket.path_params["path"]
        if self.wrong_host(websocket, name) is not None:
            await websocket.close(code=1008, reason="wrong host for this app")
            return
        principal = await run_in_threadpool(self.visitor, websocket, name)
        if principal is None:
            await websocket.close(code=4401, reason="not signed in to this app")
            return
        if principal.via == "session" and not same_origin(websocket, self.origin.app_url(name)):
            await websocket.close(code=4403, reason="cross-origin WebSocket refused")
            return
        try:
            upstream = await self.upstream(name, principal)
        except AtelierError as error:
            await websocket.close(code=1008, reason=str(error)[:120])
            return
        await proxy_websocket(websocket, upstream, f"apps/{name}/{path}")

    async def elsewhere(self, request: Request, exc: Exception) -> Response:
        return self.message(
            404,
            "Not here",
            "this address serves hosted apps only (/apps/NAME/); "
            f"the portal is at {self.origin.portal_url}",
        )


def create_apps_app(workbench: Workbench) -> Starlette:
    """The ASGI app of the apps origin."""
    apps = AppsApp(workbench)
    app = Starlette(
        routes=[
            Route(f"/apps/{{name}}/{ENTER}", apps.enter, methods=["GET"]),
            Route("/apps/{name}", apps.app_root, methods=["GET", "HEAD"]),
            Route("/apps/{name}/{path:path}", apps.http, methods=PROXY_METHODS),
            WebSocketRoute("/apps/{name}/{path:path}", apps.websocket),
        ],
        exception_handlers={404: apps.elsewhere, 405: apps.elsewhere},
        # What hosted apps receive (file uploads) is limited as the portal's uploads are.
        middleware=[Middleware(BodyLimit, limits=Limits.from_settings(workbench.settings.server))],
    )
    app.state.apps = apps
    return app


def by_port(portal: ASGIApp, apps: ASGIApp, apps_port: int) -> ASGIApp:
    """One ASGI app for both listeners: connections to ``apps_port`` reach only ``apps``."""

    async def dispatch(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            server: Any = scope.get("server")
            if server and len(server) > 1 and server[1] == apps_port:
                await apps(scope, receive, send)
                return
        await portal(scope, receive, send)

    return dispatch
