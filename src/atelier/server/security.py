"""Deny by default: authentication for every request, roles and CSRF checked per route.

* :class:`AuthMiddleware` resolves who is calling (bearer token or session cookie) for every
  HTTP and WebSocket request and turns away anonymous ones, except on the few public paths.
* :func:`allow` is the per-route role check. ``check_every_route`` makes the app refuse to
  start when a route lacks it, so a new route cannot be left open by mistake.
* Tokens made for code (apps, jobs, notebooks) are scoped: they pass only the routes whose
  ``allow(..., scopes=...)`` names one of their scopes. A route that names none is closed to
  them (deny by default); :func:`app_routes` lists every route with its roles and scopes.
* Cookie-authenticated requests that change state must carry the session's CSRF token
  (``X-CSRF-Token`` header, sent by HTMX, or a ``csrf_token`` form field).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.routing import APIRoute, APIWebSocketRoute, iter_route_contexts
from itsdangerous import BadSignature, Signer
from starlette.concurrency import run_in_threadpool
from starlette.requests import HTTPConnection
from starlette.responses import JSONResponse, RedirectResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from atelier.services.auth import Principal
from atelier.services.auth.scopes import SCOPES
from atelier.services.auth.secrets import same
from atelier.services.auth.throttle import TooManyAttempts, client_key
from atelier.services.workbench import Workbench

SESSION_COOKIE = "atelier_session"
LOGIN_CSRF_COOKIE = "atelier_login_csrf"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

#: Exact paths and path prefixes anyone may reach.
PUBLIC_PATHS = frozenset(
    # A device signing in has no credentials yet (see atelier.server.api.device).
    # Browsers ask for /favicon.ico on answers that are not pages (JSON, images).
    {
        "/health",
        "/login",
        "/login/link",
        "/api/v1/device/code",
        "/api/v1/device/token",
        "/favicon.ico",
    }
)
PUBLIC_PREFIXES = ("/static/",)


def is_public(path: str) -> bool:
    return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)


def client_address(connection: HTTPConnection) -> str | None:
    return connection.client.host if connection.client else None


def signin_client(workbench: Workbench, connection: HTTPConnection) -> str:
    """The address failed sign-ins are counted against: the socket peer, or what a trusted
    proxy (``auth.trusted_proxies``) says in X-Forwarded-For."""
    return client_key(
        client_address(connection),
        connection.headers.get("x-forwarded-for"),
        workbench.settings.auth.trusted_proxies,
    )


def bearer(connection: HTTPConnection) -> str | None:
    """The credential of an ``Authorization: Bearer …`` header; None without one."""
    scheme, _, credential = connection.headers.get("authorization", "").partition(" ")
    return credential if scheme.lower() == "bearer" and credential else None


class AuthMiddleware:
    def __init__(self, app: ASGIApp, workbench: Workbench, signer: Signer) -> None:
        self.app = app
        self.workbench = workbench
        self.signer = signer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        connection = HTTPConnection(scope)
        if scope["path"].startswith(PUBLIC_PREFIXES):
            # Static assets need no caller: spare them a database round trip.
            await self.app(scope, receive, send)
            return
        try:
            principal = self.quick(connection) or await run_in_threadpool(self.resolve, connection)
        except TooManyAttempts as refused:
            await self.too_many(refused, scope, receive, send)
            return
        scope.setdefault("state", {})["principal"] = principal
        if principal is None and not is_public(scope["path"]):
            await self.refuse(connection, scope, receive, send)
            return
        await self.app(scope, receive, send)

    def quick(self, connection: HTTPConnection) -> Principal | None:
        """The caller of a bearer token whose check writes nothing, read in the event loop's
        own thread (see :meth:`Throttle.quick_token`): a worker thread's hop costs more CPU
        than the check itself. None when :meth:`resolve` decides, in a worker thread."""
        credential = bearer(connection)
        if credential is None:
            return None
        workbench = self.workbench
        use = workbench.throttle.quick_token(
            workbench.tokens, credential, signin_client(workbench, connection)
        )
        return use.principal if use is not None else None

    def resolve(self, connection: HTTPConnection) -> Principal | None:
        credential = bearer(connection)
        if credential is not None:
            # Back-off: a locked token key or client is refused before the secret is checked.
            use = self.workbench.throttle.authenticate_token(
                self.workbench.tokens, credential, signin_client(self.workbench, connection)
            )
            if use is None:
                self.workbench.audit.record(
                    "token.rejected",
                    actor=None,
                    success=False,
                    client=client_address(connection),
                    detail={"path": connection.url.path},
                )
                return None
            if use.audit:
                self.workbench.audit.record(
                    "token.used",
                    actor=use.principal.name,
                    target=use.token_key,
                    client=client_address(connection),
                )
            return use.principal
        cookie = connection.cookies.get(SESSION_COOKIE)
        if cookie:
            try:
                secret = self.signer.unsign(cookie).decode()
            except BadSignature:
                return None
            return self.workbench.sessions.authenticate(secret)
        return None

    async def too_many(
        self, refused: TooManyAttempts, scope: Scope, receive: Receive, send: Send
    ) -> None:
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 4429, "reason": str(refused)})
            return
        body: dict[str, str] = {"detail": str(refused)}
        if scope["path"].startswith("/mlflow/"):
            body = {"error_code": "REQUEST_LIMIT_EXCEEDED", "message": str(refused), **body}
        response = JSONResponse(
            body, status_code=429, headers={"Retry-After": str(refused.retry_after)}
        )
        await response(scope, receive, send)

    async def refuse(
        self, connection: HTTPConnection, scope: Scope, receive: Receive, send: Send
    ) -> None:
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 4401, "reason": "not authenticated"})
            return
        wants_page = (
            scope["method"] == "GET"
            and not scope["path"].startswith("/api/")
            and "text/html" in connection.headers.get("accept", "")
        )
        if wants_page:
            target = scope["path"] + (
                f"?{scope['query_string'].decode()}" if scope["query_string"] else ""
            )
            response: Any = RedirectResponse(f"/login?next={quote(target)}", status_code=303)
        else:
            message = "not authenticated: send 'Authorization: Bearer <token>' or log in"
            body: dict[str, str] = {"detail": message}
            if scope["path"].startswith("/mlflow/"):
                # MLflow's error format, so that MLflow clients show the message.
                body = {"error_code": "UNAUTHENTICATED", "message": message, **body}
            response = JSONResponse(body, status_code=401, headers={"WWW-Authenticate": "Bearer"})
        await response(scope, receive, send)


class RoleGuard:
    """A route dependency: the caller must be authenticated with one of ``roles``, and a
    token made for code must hold one of ``scopes``."""

    def __init__(self, roles: Iterable[str], scopes: Iterable[str] = ()) -> None:
        self.roles = frozenset(roles)
        self.scopes = frozenset(scopes)
        unknown = self.scopes - SCOPES
        if unknown:
            raise ValueError(f"unknown scopes {sorted(unknown)} (see services/auth/scopes.py)")

    def check(self, principal: Principal | None, path: str) -> Principal:
        """The role and scope checks, shared by every kind of guard."""
        if principal is None:
            raise HTTPException(401, "not authenticated")
        if principal.role not in self.roles:
            raise HTTPException(
                403,
                f"role {principal.role!r} may not do this (needs {', '.join(sorted(self.roles))})",
            )
        if not principal.may(self.scopes):
            raise HTTPException(
                403,
                f"the token {principal.label!r} is for code and may not reach {path} "
                f"(it may: {', '.join(sorted(principal.scopes or ()))})",
            )
        return principal

    async def __call__(self, request: Request) -> Principal:
        principal = self.check(getattr(request.state, "principal", None), request.url.path)
        if request.method not in SAFE_METHODS and principal.via == "session":
            await check_csrf(request, principal.csrf_token)
        return principal


def allow(*roles: str, scopes: Iterable[str] = ()) -> Any:
    """``principal: Principal = allow("admin", "scientist")`` in a route's signature; with
    ``scopes=(DATA_READ,)`` tokens made for code that hold that scope may pass too."""
    return Depends(RoleGuard(roles, scopes))


async def check_csrf(request: Request, expected: str | None) -> None:
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        form = await request.form()
        value = form.get("csrf_token")
        sent = value if isinstance(value, str) else None
        if not expected or not sent or not same(sent, expected):
            # Nobody else will close the form's spooled files when the request is refused.
            await form.close()
    if not expected or not sent or not same(sent, expected):
        raise HTTPException(403, "missing or wrong CSRF token: reload the page and try again")


@dataclass(frozen=True)
class RouteInfo:
    path: str
    methods: frozenset[str]
    #: None for public routes and for routes that forgot their guard.
    roles: frozenset[str] | None
    #: The scopes of code tokens that may pass (empty: closed to code tokens).
    scopes: frozenset[str] = frozenset()


def _guard(route: object) -> RoleGuard | None:
    if not isinstance(route, APIRoute | APIWebSocketRoute):
        return None
    pending = list(route.dependant.dependencies)
    while pending:
        dependency = pending.pop()
        if isinstance(dependency.call, RoleGuard):
            return dependency.call
        pending.extend(dependency.dependencies)
    return None


def app_routes(app: FastAPI) -> list[RouteInfo]:
    """Every route of the app, included routers expanded, with the roles and scopes it
    allows."""
    found = []
    for context in iter_route_contexts(app.routes):
        guard = _guard(context.original_route)
        found.append(
            RouteInfo(
                context.path or "",
                frozenset(context.methods or ()),
                guard.roles if guard else None,
                guard.scopes if guard else frozenset(),
            )
        )
    return found


def check_every_route(app: FastAPI) -> None:
    """Refuse to build an app where a non-public route has no role guard."""
    for route in app_routes(app):
        if route.roles is None and not (is_public(route.path) or is_public(route.path + "/")):
            raise RuntimeError(f"route {route.path} has no role guard: add allow(...)")
