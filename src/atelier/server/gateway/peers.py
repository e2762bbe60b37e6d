"""Several servers on one workspace: a request for what another server holds (a user's
JupyterLab, a running job's log) is passed on to that server.

The service that finds the work elsewhere raises :class:`~atelier.errors.HeldElsewhere` with
the holder's ``server.internal_url``; the request then goes there as it came (see
:func:`~atelier.server.gateway.proxy.peer`), over connections kept to that server
(:func:`~atelier.server.gateway.pool.kept_pool`), and is authenticated and checked there
again. A request passed on once is never passed on again: should the holder have changed
meanwhile, it is answered 409, naming it.
"""

from __future__ import annotations

from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse, Response
from starlette.websockets import WebSocket

from atelier.errors import HeldElsewhere
from atelier.server.gateway.pool import kept_pool
from atelier.server.gateway.proxy import (
    FORWARDED_HEADER,
    Upstream,
    peer,
    proxy_http,
    proxy_websocket,
)


def holder(connection: HTTPConnection, elsewhere: HeldElsewhere) -> Upstream | None:
    """The server to pass the request on to; None when there is none (``elsewhere`` named no
    address, or the request was passed on already)."""
    if not elsewhere.address or FORWARDED_HEADER in connection.headers:
        return None
    return peer(elsewhere.address, connection.app.state.workbench.leases.holder)


async def pass_on(request: Request, elsewhere: HeldElsewhere, path: str = "") -> Response:
    """The answer of the server that holds the work, or the 409 when there is none (the
    application's handler of :class:`HeldElsewhere`; ``path``: the request's, in the
    spelling that was checked)."""
    other = holder(request, elsewhere)
    if other is None:
        return JSONResponse({"detail": str(elsewhere)}, status_code=elsewhere.status_code)
    pool = kept_pool(f"peer {other.base_url}", other)
    return await proxy_http(request, other, path or request.url.path, client=pool)


async def pass_on_websocket(websocket: WebSocket, elsewhere: HeldElsewhere, path: str) -> None:
    """:func:`pass_on` for a WebSocket (closed with the reason when there is no holder)."""
    other = holder(websocket, elsewhere)
    if other is None:
        await websocket.close(code=1013, reason=str(elsewhere)[:120])
        return
    await proxy_websocket(websocket, other, path)
