"""Real uvicorn servers in threads: a tiny upstream service and a proxy in front of it."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect


@dataclass
class Seen:
    """What the upstream observed, for the tests to inspect."""

    websocket_headers: dict[str, str] = field(default_factory=dict)
    close_codes: list[int] = field(default_factory=list)


def upstream_app(seen: Seen) -> Starlette:
    async def echo(request: Request) -> JSONResponse:
        body = await request.body()
        return JSONResponse(
            {
                "method": request.method,
                "path": request.scope["raw_path"].decode(),
                "query": request.url.query,
                "headers": {k: v for k, v in request.headers.items()},
                "body_length": len(body),
                "body_sum": sum(body) % 1_000_003,
                "chunked": request.headers.get("transfer-encoding") == "chunked",
            },
            status_code=int(request.query_params.get("status", "200")),
        )

    async def stream(request: Request) -> StreamingResponse:
        async def chunks() -> Any:
            for index in range(5):
                yield f"chunk {index}\n".encode()
                await asyncio.sleep(0.01)

        return StreamingResponse(chunks(), media_type="text/plain")

    async def redirect(request: Request) -> RedirectResponse:
        return RedirectResponse("/base/elsewhere?x=1", status_code=302)

    async def cookies(request: Request) -> Response:
        response = Response("ok")
        response.set_cookie("atelier_session", "planted")
        response.set_cookie("app_a", "1")
        response.set_cookie("app_b", "2")
        response.headers["connection"] = "close"
        return response

    async def ws_echo(websocket: WebSocket) -> None:
        seen.websocket_headers = dict(websocket.headers.items())
        offered = websocket.scope.get("subprotocols") or []
        await websocket.accept(subprotocol=offered[-1] if offered else None)
        try:
            while True:
                message = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    seen.close_codes.append(message.get("code", 0))
                    return
                if message.get("text") == "close please":
                    await websocket.close(code=4321, reason="bye")
                    return
                if message.get("text") is not None:
                    await websocket.send_text("echo " + message["text"])
                else:
                    await websocket.send_bytes(b"echo " + message["bytes"])
        except WebSocketDisconnect as exc:
            seen.close_codes.append(exc.code)

    async def ws_refuse(websocket: WebSocket) -> None:
        await websocket.close(code=1008)

    return Starlette(
        routes=[
            Route("/stream", stream),
            Route("/redirect", redirect),
            Route("/cookies", cookies),
            Route("/{path:path}", echo, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]),
            WebSocketRoute("/ws", ws_echo),
            WebSocketRoute("/ws-refuse", ws_refuse),
        ]
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def serve(
    app: Any, *, uds: str | None = None, port: int | None = None, lifespan: str = "off"
) -> Iterator[None]:
    """Run ``app`` with uvicorn in a thread until the block ends."""
    config = uvicorn.Config(
        app, uds=uds, port=port or 0, host="127.0.0.1", log_level="warning", lifespan=lifespan
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("test server did not start")
        time.sleep(0.02)
    try:
        yield
    finally:
        server.should_exit = True
        thread.join(timeout=20)
