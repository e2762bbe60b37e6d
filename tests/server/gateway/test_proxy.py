"""The reverse proxy against a real upstream (uvicorn on a Unix socket and on loopback)."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI, Request, WebSocket
from fastapi.responses import Response
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from atelier.server.gateway import Upstream, proxy_http, proxy_websocket
from atelier.server.gateway.pool import UpstreamPool
from tests.server.gateway.servers import Seen, free_port, serve, upstream_app

SECRET = {"Authorization": "token upstream-secret"}


def proxy_app(upstreams: dict[str, Upstream]) -> FastAPI:
    """``/p/…``: a client per request; ``/k/…``: a kept pool per upstream (closed when the
    app stops)."""
    pools: dict[str, UpstreamPool] = {}

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        for pool in pools.values():
            await pool.aclose()

    app = FastAPI(lifespan=lifespan)
    methods = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]

    @app.api_route("/p/{name}/{path:path}", methods=methods)
    async def http(request: Request, name: str, path: str) -> Response:
        return await proxy_http(request, upstreams[name], path)

    @app.api_route("/k/{name}/{path:path}", methods=methods)
    async def kept(request: Request, name: str, path: str) -> Response:
        pool = pools.setdefault(name, UpstreamPool(upstreams[name]))
        return await proxy_http(request, upstreams[name], path, client=pool)

    @app.websocket("/p/{name}/{path:path}")
    async def ws(websocket: WebSocket, name: str, path: str) -> None:
        await proxy_websocket(websocket, upstreams[name], path)

    return app


@dataclass
class Setup:
    url: str
    seen: Seen

    @property
    def ws_url(self) -> str:
        return "ws" + self.url[len("http") :]


@pytest.fixture(params=["p", "k"], ids=["client-per-request", "kept-pool"])
def via(request: pytest.FixtureRequest) -> str:
    """The proxy route: httpx per request, or a kept :class:`UpstreamPool`."""
    return str(request.param)


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    folder = tmp_path_factory.mktemp("gw")
    sock = str(folder / "up.sock")
    seen = Seen()
    loopback = free_port()
    upstreams = {
        "uds": Upstream("http://upstream", uds=sock, headers=SECRET, name="the test service"),
        "tcp": Upstream(f"http://127.0.0.1:{loopback}", headers=SECRET),
        "down": Upstream("http://upstream", uds=str(folder / "nothing.sock"), name="Nothing"),
    }
    port = free_port()
    with (
        serve(upstream_app(seen), uds=sock),
        serve(upstream_app(seen), port=loopback),
        serve(proxy_app(upstreams), port=port, lifespan="on"),
    ):
        yield Setup(f"http://127.0.0.1:{port}", seen)


def test_forwards_method_path_query_and_body(setup: Setup, via: str) -> None:
    body = os.urandom(3 * 1024 * 1024)
    response = httpx.put(
        f"{setup.url}/{via}/uds/files/a%20b/%C3%BC.txt?x=1&y=%2F",
        content=body,
        headers={"Content-Type": "application/octet-stream"},
    )
    assert response.status_code == 200
    seen = response.json()
    assert seen["method"] == "PUT"
    assert seen["path"] == "/files/a%20b/%C3%BC.txt"
    assert seen["query"] == "x=1&y=%2F"
    assert seen["body_length"] == len(body)
    assert seen["body_sum"] == sum(body) % 1_000_003
    assert not seen["chunked"]  # a known length is passed on, not re-chunked


def test_streams_a_chunked_request_body(setup: Setup, via: str) -> None:
    def parts() -> Iterator[bytes]:
        for _ in range(10):
            yield b"x" * 100_000

    seen = httpx.post(f"{setup.url}/{via}/uds/upload", content=parts()).json()
    assert seen["body_length"] == 1_000_000


def test_credentials_are_swapped_and_hop_by_hop_headers_dropped(setup: Setup, via: str) -> None:
    seen = httpx.get(
        f"{setup.url}/{via}/uds/headers",
        headers={
            "Authorization": "Bearer atl_user_token",
            "Cookie": "atelier_session=signed; _xsrf=abc; atelier_login_csrf=x; theme=dark",
            "Origin": setup.url,
            "X-Custom": "kept",
            "Connection": "keep-alive, X-Hop",
            "X-Hop": "dropped",
        },
    ).json()
    headers = seen["headers"]
    assert headers["authorization"] == "token upstream-secret"
    assert headers["cookie"] == "_xsrf=abc; theme=dark"
    assert headers["origin"] == "http://upstream"
    assert headers["host"] == "upstream"
    assert headers["x-custom"] == "kept"
    assert "x-hop" not in headers
    assert headers["x-forwarded-host"] == setup.url.removeprefix("http://")
    assert headers["x-forwarded-proto"] == "http"


def test_status_is_copied(setup: Setup, via: str) -> None:
    response = httpx.delete(f"{setup.url}/{via}/uds/thing?status=418")
    assert response.status_code == 418
    assert response.json()["method"] == "DELETE"


def test_response_is_streamed(setup: Setup, via: str) -> None:
    with httpx.stream("GET", f"{setup.url}/{via}/uds/stream") as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain")
        chunks = list(response.iter_text())
    assert "".join(chunks) == "".join(f"chunk {i}\n" for i in range(5))


def test_redirects_are_passed_back_untouched(setup: Setup, via: str) -> None:
    response = httpx.get(f"{setup.url}/{via}/uds/redirect", follow_redirects=False)
    assert response.status_code == 302
    assert response.headers["location"] == "/base/elsewhere?x=1"


def test_upstream_cannot_set_atelier_cookies(setup: Setup, via: str) -> None:
    response = httpx.get(f"{setup.url}/{via}/uds/cookies")
    assert response.text == "ok"
    cookies = response.headers.get_list("set-cookie")
    assert [c.split("=")[0] for c in cookies] == ["app_a", "app_b"]
    # The upstream's "Connection: close" concerns its own connection, not the caller's.
    assert response.headers.get("connection") != "close"


def test_loopback_upstream(setup: Setup, via: str) -> None:
    seen = httpx.post(f"{setup.url}/{via}/tcp/over/tcp", content=b"hello").json()
    assert seen["path"] == "/over/tcp"
    assert seen["body_length"] == 5
    assert seen["headers"]["authorization"] == "token upstream-secret"


def test_unreachable_upstream_is_a_clear_502(setup: Setup, via: str) -> None:
    response = httpx.get(f"{setup.url}/{via}/down/anything")
    assert response.status_code == 502
    assert "Nothing is not reachable" in response.json()["detail"]


def test_websocket_relays_both_ways_with_subprotocol(setup: Setup) -> None:
    async def talk() -> tuple[str | None, list[str | bytes], int, str]:
        async with connect(
            f"{setup.ws_url}/p/uds/ws?session=1",
            subprotocols=["v1.kernel.websocket.jupyter.org", "plain"],  # type: ignore[list-item]
            additional_headers={"Cookie": "atelier_session=signed; _xsrf=abc"},
            max_size=None,
        ) as ws:
            protocol = ws.subprotocol
            await ws.send("hello")
            await ws.send(b"\x00\x01" * 600_000)
            replies = [await ws.recv(), await ws.recv()]
            await ws.send("close please")
            with pytest.raises(ConnectionClosed):
                await ws.recv()
            assert ws.close_code is not None
            return protocol, replies, ws.close_code, ws.close_reason or ""

    protocol, replies, code, reason = asyncio.run(talk())
    assert protocol == "plain"
    assert replies[0] == "echo hello"
    assert replies[1] == b"echo " + b"\x00\x01" * 600_000
    assert (code, reason) == (4321, "bye")
    headers = setup.seen.websocket_headers
    assert headers["authorization"] == "token upstream-secret"
    assert headers["cookie"] == "_xsrf=abc"


def test_websocket_client_close_reaches_upstream(setup: Setup) -> None:
    async def talk() -> None:
        async with connect(f"{setup.ws_url}/p/uds/ws") as ws:
            await ws.send("ping")
            assert await ws.recv() == "echo ping"
            await ws.close(code=4100, reason="done")

    setup.seen.close_codes.clear()
    asyncio.run(talk())
    for _ in range(100):
        if setup.seen.close_codes:
            break
        asyncio.run(asyncio.sleep(0.05))
    assert setup.seen.close_codes == [4100]


def test_websocket_refused_upstream_refuses_the_caller(setup: Setup) -> None:
    async def talk(path: str) -> None:
        async with connect(f"{setup.ws_url}/p/{path}") as ws:
            await ws.recv()

    for path in ("uds/ws-refuse", "down/ws"):
        with pytest.raises(InvalidStatus) as refused:
            asyncio.run(talk(path))
        assert refused.value.response.status_code == 403


def test_upstream_url_quotes_paths() -> None:
    upstream = Upstream("http://jupyter/notebooks/", uds="/x.sock")
    assert upstream.url("lab/tree/a b.ipynb", "x=1") == (
        "http://jupyter/notebooks/lab/tree/a%20b.ipynb?x=1"
    )
    assert upstream.url("/api/kernels", scheme="ws") == "ws://jupyter/notebooks/api/kernels"
    assert upstream.origin == "http://jupyter"
    assert Path(upstream.uds or "").name == "x.sock"


def test_upstream_target_keeps_escapes_and_encodes_raw_bytes() -> None:
    upstream = Upstream("http://jupyter/notebooks/", uds="/x.sock")
    # What a kept pool sends: the target alone; escapes pass as they came, bytes that a
    # request line may carry but HTTP/1.1 may not send are encoded (as httpx does).
    assert upstream.target("lab/a b.ipynb", b"filter=name%3D%27x%27&q=\xe9") == (
        "/notebooks/lab/a%20b.ipynb?filter=name%3D%27x%27&q=%E9"
    )
    assert Upstream("http://mlflow").target("/mlflow/api/2.0/x") == "/mlflow/api/2.0/x"


def test_head_gets_the_head_alone(setup: Setup, via: str) -> None:
    head = httpx.head(f"{setup.url}/{via}/uds/thing")
    assert head.status_code == 200
    assert head.content == b""
    # The length of the answer a GET would get (the echo names the method: one more byte).
    got = httpx.get(f"{setup.url}/{via}/uds/thing")
    assert int(head.headers["content-length"]) == len(got.content) + 1
    # The connection carries on: the next request on it is answered.
    assert httpx.get(f"{setup.url}/{via}/uds/after").json()["path"] == "/after"
