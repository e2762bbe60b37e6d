"""``/collab/NAME/``: a project's shared JupyterLab, where its members edit together.

Every request and WebSocket is authenticated (admins and scientists, as for ``/notebooks/``)
and then must come from an owner or editor of the project (or an admin): readers, other
scientists and viewers are refused before anything reaches Jupyter. The gateway names the
user to Jupyter and brings the user's kernel token only on the requests that start a kernel
(see :mod:`atelier.services.notebooks.shared`). It remembers who started each kernel and
connects only that member to it: a kernel runs as the one who started it, nobody else's code
reaches it.
"""

from __future__ import annotations

import asyncio
import json
import re
import time

import httpx
from fastapi import APIRouter, Request, WebSocket
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from atelier.errors import AtelierError
from atelier.server.api.deps import workbench
from atelier.server.gateway import (
    Upstream,
    allow_gateway,
    canonical_path,
    proxy_http,
    proxy_websocket,
)
from atelier.server.gateway.peers import pass_on, pass_on_websocket
from atelier.server.pages.notebooks import METHODS, NOTEBOOK_ROLES, POLL_SECONDS, WAIT_SECONDS
from atelier.services.auth import Principal
from atelier.services.notebooks import JupyterServer, NotebookServerElsewhere, NotebookServerFailed
from atelier.services.notebooks.shared import SharedServers, base_url
from atelier.services.notebooks.shared_jupyter import TOKEN_HEADER, USER_HEADER
from atelier.services.projects.git import email
from atelier.services.workbench import Workbench

router = APIRouter()
MEMBERS = allow_gateway(*NOTEBOOK_ROLES)
#: Requests that may start a kernel: they carry the caller's kernel token.
STARTS_KERNEL = re.compile(r"^api/(sessions(/[^/]+)?|kernels)/?$")
#: jupyterlab-git's commit, at the top of the repository or in a folder of it.
COMMITS = re.compile(r"^git(/.*)?/commit$")
#: Requests that act on one kernel: for the member who started it only.
ONE_KERNEL = re.compile(r"^api/kernels/(?P<id>[^/]+)(/.*)?$")
#: A session: ending it ends its kernel, for the member who started it only (changing its
#: kernel starts one that runs as whoever asks).
ONE_SESSION = re.compile(r"^api/sessions/(?P<id>[^/]+)/?$")


def upstream(
    server: JupyterServer, project: str, principal: Principal, token: str = ""
) -> Upstream:
    headers = {"Authorization": f"token {server.secret}", USER_HEADER: principal.name}
    if token:
        headers[TOKEN_HEADER] = token
    return Upstream(
        f"http://jupyter{base_url(project)}",
        uds=str(server.socket),
        headers=headers,
        name="the shared JupyterLab",
    )


async def _editor(wb: Workbench, project: str, principal: Principal) -> str | None:
    """Why ``principal`` may not use the shared server of ``project``, or None."""
    try:
        await run_in_threadpool(wb.projects.require_member, project, principal)
    except AtelierError as exc:
        return str(exc)
    return None


async def _server(shared: SharedServers, project: str) -> JupyterServer | str | None:
    """The project's shared server once it answers (within :data:`WAIT_SECONDS`), None while
    it starts, or why it failed."""
    server = shared.get(project)
    if server is None or not server.alive:
        server = shared.start_project(project)
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        try:
            if await shared.probe(server):
                return server
        except NotebookServerFailed as exc:
            return str(exc)
        if time.monotonic() >= deadline:
            return None
        await asyncio.sleep(POLL_SECONDS)


def _not_owner(shared: SharedServers, project: str, principal: Principal, kernel: str) -> str:
    """Why ``principal`` may not act on kernel (or session) ``kernel``; "" when they may."""
    owner = shared.kernel_owners.get(project, {}).get(kernel)
    if owner == principal.name or principal.role == "admin":
        return ""
    if owner is None:  # every kernel here starts through the gateway, which notes who
        return "no kernel or session of this server has this id"
    return (
        f"this kernel runs as {owner}, who started it: only {owner} runs code in it. To run "
        "cells as yourself, start your own kernel (Kernel > Change Kernel)"
    )


@router.get("/collab/{project}")
def shared_home(project: str, _: Principal = MEMBERS) -> RedirectResponse:
    return RedirectResponse(f"{base_url(project)}lab", status_code=303)


@router.api_route("/collab/{project}/{path:path}", methods=METHODS)
async def shared_http(
    request: Request, project: str, path: str, principal: Principal = MEMBERS
) -> Response:
    path = canonical_path(path)
    wb = workbench(request)
    refusal = await _editor(wb, project, principal)
    if refusal is not None:
        return JSONResponse({"message": refusal, "detail": refusal}, status_code=403)
    shared = wb.shared_notebooks
    try:
        server = await _server(shared, project)
    except NotebookServerElsewhere as elsewhere:  # it knows who started which kernel
        return await pass_on(request, elsewhere, base_url(project) + path)
    if not isinstance(server, JupyterServer):
        detail = server or "the shared JupyterLab is starting; retry in a few seconds"
        return JSONResponse({"detail": detail}, status_code=502 if server else 503)
    server.touch()
    kernel, session = ONE_KERNEL.match(path), ONE_SESSION.match(path)
    # Anything but reading one kernel, and ending a session, is for its starter.
    owned = (kernel if request.method != "GET" else None) or (
        session if request.method == "DELETE" else None
    )
    if owned:
        why = _not_owner(shared, project, principal, owned["id"])
        if why:
            return JSONResponse({"message": why, "detail": why}, status_code=403)
    if request.method in ("POST", "PATCH") and STARTS_KERNEL.match(path):
        token = await run_in_threadpool(shared.kernel_token, project, principal.name)
        answer = await _forward(request, server, project, principal, path, token=token)
        _note_kernel(shared, project, principal, answer)
        return _response(answer)
    if request.method == "POST" and COMMITS.match(path):
        # The commit's author is the member who commits (the committer is the shared server).
        body = _json(await request.body())
        body["author"] = f"{principal.name} <{email(principal.name, wb.projects.git_host)}>"
        answer = await _forward(request, server, project, principal, path, body=body)
        return _response(answer)
    return await proxy_http(request, upstream(server, project, principal), path)


async def _forward(
    request: Request,
    server: JupyterServer,
    project: str,
    principal: Principal,
    path: str,
    *,
    token: str = "",
    body: dict[str, object] | None = None,
) -> httpx.Response:
    """Send a small JSON request to the shared server and read its whole answer."""
    headers = dict(upstream(server, project, principal, token).headers)
    headers["Content-Type"] = "application/json"
    content = json.dumps(body).encode() if body is not None else await request.body()
    transport = httpx.AsyncHTTPTransport(uds=str(server.socket))
    async with httpx.AsyncClient(transport=transport, trust_env=False, timeout=90) as client:
        return await client.request(
            request.method,
            f"http://jupyter{base_url(project)}{path}",
            params=request.query_params,
            content=content,
            headers=headers,
        )


def _note_kernel(
    shared: SharedServers, project: str, principal: Principal, answer: httpx.Response
) -> None:
    """Remember who started the kernel a session or kernel answer names."""
    model = _json(answer.content) if answer.is_success else {}
    kernel = model.get("kernel", model)
    owners = shared.kernel_owners.setdefault(project, {})
    if isinstance(kernel, dict) and isinstance(kernel.get("id"), str):
        owners.setdefault(kernel["id"], principal.name)
        session = model.get("id") if kernel is not model else None
        if isinstance(session, str):
            owners.setdefault(session, principal.name)  # the session, which ends the kernel


def _json(content: bytes) -> dict[str, object]:
    try:
        value = json.loads(content or b"{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _response(answer: httpx.Response) -> Response:
    return Response(
        answer.content,
        status_code=answer.status_code,
        media_type=answer.headers.get("content-type", "application/json"),
    )


@router.websocket("/collab/{project}/{path:path}")
async def shared_websocket(
    websocket: WebSocket, project: str, path: str, principal: Principal = MEMBERS
) -> None:
    path = canonical_path(path)
    wb: Workbench = websocket.app.state.workbench
    refusal = await _editor(wb, project, principal)
    if refusal is not None:
        await websocket.close(code=1008, reason=refusal[:120])
        return
    try:
        server = await _server(wb.shared_notebooks, project)
    except NotebookServerElsewhere as elsewhere:  # it knows who started which kernel
        await pass_on_websocket(websocket, elsewhere, base_url(project) + path)
        return
    if not isinstance(server, JupyterServer):
        await websocket.close(code=1011 if server else 1013, reason="JupyterLab is not ready")
        return
    one = ONE_KERNEL.match(path)
    why = _not_owner(wb.shared_notebooks, project, principal, one["id"]) if one else ""
    if why:
        await websocket.close(code=1008, reason=why[:120])
        return
    server.touch()
    try:
        await proxy_websocket(websocket, upstream(server, project, principal), path)
    finally:
        server.touch()
