"""``/notebooks/``: each user's JupyterLab, behind Atelier's login.

Every HTTP request and WebSocket under ``/notebooks/`` is authenticated by Atelier (admins and
scientists; viewers and tokens made for code are refused) and proxied to the caller's own
Jupyter server, which is started on the first request. While it starts, browsers get a page
that reloads itself; other clients (an IDE, ``jupyter_client``), which do not retry, wait for
it up to :data:`WAIT_SECONDS`, then get a 503 with ``Retry-After``.

Besides the portal's session, a personal token in Jupyter's own spellings
(``Authorization: token …`` or ``?token=…``, see :mod:`atelier.server.gateway.jupyter_tokens`)
gets in, so that IDEs connect to ``https://HOST/notebooks/`` as to any remote Jupyter server.

Requests that change a project (save, rename or delete its files, start its kernel, change its
git repository) pass only for its owners and editors and admins
(:mod:`atelier.services.notebooks.rights`); others get a 403 whose message JupyterLab shows.

Several servers on one workspace: a user's JupyterLab runs on one of them (the holder of its
lease). A request or WebSocket that reaches another server is passed on to the holder (see
:mod:`atelier.server.gateway.peers`), so the reverse proxy in front need not keep a user on
one server.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator

from fastapi import APIRouter, FastAPI, Request, WebSocket
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from atelier.errors import NotFound, PermissionDenied
from atelier.server.api.deps import workbench
from atelier.server.gateway import (
    Upstream,
    allow_gateway,
    canonical_path,
    proxy_http,
    proxy_websocket,
)
from atelier.server.gateway.peers import pass_on, pass_on_websocket
from atelier.server.pages.render import render
from atelier.server.security import allow
from atelier.services.auth import Principal
from atelier.services.notebooks import (
    BASE_URL,
    JupyterServer,
    NotebookServerElsewhere,
    NotebookServerFailed,
    NotebookServers,
    rights,
)
from atelier.services.workbench import Workbench

log = logging.getLogger(__name__)
router = APIRouter()

NOTEBOOK_ROLES = ("admin", "scientist")
NOTEBOOK_USERS = allow_gateway(*NOTEBOOK_ROLES)
METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
RETRY_SECONDS = 2
#: How long a request that is not a browser's page waits for a JupyterLab that is starting.
WAIT_SECONDS = 45.0
#: How often a starting JupyterLab is asked whether it answers.
POLL_SECONDS = 0.25
#: How often idle servers are looked for.
REAP_SECONDS = 30.0


def upstream(server: JupyterServer) -> Upstream:
    return Upstream(
        f"http://jupyter{BASE_URL}",
        uds=str(server.socket),
        headers=server.headers,
        name="JupyterLab",
    )


@router.get("/notebooks")
def notebooks_home(_: Principal = allow(*NOTEBOOK_ROLES)) -> RedirectResponse:
    return RedirectResponse(f"{BASE_URL}lab", status_code=303)


def _wants_page(request: Request) -> bool:
    return request.method == "GET" and "text/html" in request.headers.get("accept", "")


def _not_ready(request: Request, error: str | None = None) -> Response:
    response: Response
    if _wants_page(request):
        response = render(
            request,
            "notebooks/starting.html",
            status_code=502 if error else 503,
            error=error,
            target=request.url.path,
        )
    else:
        detail = error or "JupyterLab is starting; retry in a few seconds"
        response = JSONResponse({"detail": detail}, status_code=502 if error else 503)
    if not error:
        response.headers["Retry-After"] = str(RETRY_SECONDS)
        response.headers["Refresh"] = str(RETRY_SECONDS)
    return response


async def _ready_server(
    servers: NotebookServers, principal: Principal, wait: float = 0.0
) -> JupyterServer | NotebookServerFailed | None:
    """The caller's server when it answers (within ``wait`` seconds); None while it starts;
    the error if it failed."""
    server = servers.get(principal.name)
    if server is None or not server.alive:
        # Started from the event loop's thread: the server is tied to this process's life.
        server = servers.start(principal)
    deadline = time.monotonic() + wait
    while True:
        try:
            if await servers.probe(server):
                return server
        except NotebookServerFailed as exc:
            return exc
        if time.monotonic() >= deadline:
            return None
        await asyncio.sleep(POLL_SECONDS)


@router.api_route("/notebooks/{path:path}", methods=METHODS)
async def notebooks_http(
    request: Request, path: str, principal: Principal = NOTEBOOK_USERS
) -> Response:
    path = canonical_path(path)
    # Refused before anything starts: a refusal leaves no JupyterLab behind.
    refusal = await _refusal(request, principal, path)
    if refusal is not None:
        # Jupyter's clients show the ``message`` of an error answer.
        return JSONResponse({"message": refusal, "reason": "Forbidden"}, status_code=403)
    servers = workbench(request).notebooks
    wait = 0.0 if _wants_page(request) else WAIT_SECONDS
    try:
        server = await _ready_server(servers, principal, wait)
    except NotebookServerElsewhere as elsewhere:
        return await pass_on(request, elsewhere, BASE_URL + path)
    if not isinstance(server, JupyterServer):
        return _not_ready(request, str(server) if server else None)
    if path.startswith("api/kernelspecs"):
        # New projects appear in the launcher: Jupyter re-reads the specs on this request.
        await run_in_threadpool(servers.sync_kernels, principal)
    server.touch()
    return await proxy_http(request, upstream(server), path)


async def _refusal(request: Request, principal: Principal, path: str) -> str | None:
    """Why ``principal`` may not make this request, or None."""
    if request.method not in rights.CHANGES or principal.role == "admin":
        return None
    # Small JSON bodies only; the proxy forwards the same bytes.
    body = await request.body() if rights.needs_body(request.method, path) else b""
    projects = workbench(request).projects
    for change in rights.changes(request.method, path, body):
        if change.project is None:
            return (
                "only admins change the top of the projects folder: make a project on the "
                "Projects page, then work inside it"
            )
        try:
            await run_in_threadpool(projects.require_member, change.project, principal)
        except NotFound:
            return f"{change.project!r} is not a project: only admins change it"
        except PermissionDenied as exc:
            return f"you may not {change.doing} in project {change.project!r}: {exc}"
    return None


@router.websocket("/notebooks/{path:path}")
async def notebooks_websocket(
    websocket: WebSocket, path: str, principal: Principal = NOTEBOOK_USERS
) -> None:
    path = canonical_path(path)
    wb: Workbench = websocket.app.state.workbench
    try:
        server = await _ready_server(wb.notebooks, principal, WAIT_SECONDS)
    except NotebookServerElsewhere as elsewhere:
        await pass_on_websocket(websocket, elsewhere, BASE_URL + path)
        return
    if not isinstance(server, JupyterServer):
        reason = "JupyterLab failed to start" if server else "JupyterLab is starting; try again"
        await websocket.close(code=1011 if server else 1013, reason=reason)
        return
    server.touch()
    try:
        await proxy_websocket(websocket, upstream(server), path)
    finally:
        server.touch()


@contextlib.asynccontextmanager
async def notebook_lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Stop idle Jupyter servers while the app runs, and every one when it stops."""
    wb: Workbench = app.state.workbench
    reaper = asyncio.create_task(_reap(wb))
    try:
        yield
    finally:
        reaper.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reaper
        for kind in KINDS:
            if kind in wb.__dict__:
                await run_in_threadpool(getattr(wb, kind).stop_all)


#: The workbench's Jupyter servers: users' own, and projects' shared ones.
KINDS = ("notebooks", "shared_notebooks")


async def _reap(wb: Workbench) -> None:
    while True:
        await asyncio.sleep(REAP_SECONDS)
        for kind in KINDS:
            if kind not in wb.__dict__:
                continue
            servers: NotebookServers = getattr(wb, kind)
            try:
                for name in await servers.idle_users():
                    log.info("stopping the idle JupyterLab of %s", name)
                    await run_in_threadpool(servers.stop, name)
            except Exception:  # keep reaping: one bad round must not end the loop
                log.exception("looking for idle Jupyter servers failed")
