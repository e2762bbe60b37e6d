"""``proxy_http`` with a kept client: the client survives, an abandoned answer is closed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
from starlette.requests import Request

from atelier.server.gateway import Upstream, proxy_http


class Body(httpx.AsyncByteStream):
    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks
        self.closed = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self.chunks:
            yield chunk

    async def aclose(self) -> None:
        self.closed = True


def request(path: str) -> Request:
    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": b"", "more_body": False}

    scope = {
        "type": "http", "method": "GET", "path": path, "raw_path": path.encode(),
        "query_string": b"", "headers": [(b"host", b"portal")], "scheme": "http",
        "client": ("127.0.0.1", 1), "server": ("portal", 80),
    }  # fmt: skip
    return Request(scope, receive)


def test_kept_client_is_not_closed_and_abandoned_answers_are() -> None:
    bodies: list[Body] = []

    def answer(outgoing: httpx.Request) -> httpx.Response:
        bodies.append(Body([outgoing.url.path.encode(), b"-second", b"-third"]))
        return httpx.Response(200, stream=bodies[-1])

    upstream = Upstream("http://upstream")

    async def go() -> list[bytes]:
        client = httpx.AsyncClient(transport=httpx.MockTransport(answer))
        got = []
        for name in ("one", "two"):
            response = await proxy_http(request(f"/{name}"), upstream, name, client=client)
            got.append(b"".join([c async for c in response.body_iterator]))  # type: ignore[attr-defined]
            await response.background()  # type: ignore[misc]
        assert not client.is_closed
        # A caller that goes away after the first chunk: the upstream answer is closed anyway.
        response = await proxy_http(request("/three"), upstream, "three", client=client)
        iterator = response.body_iterator  # type: ignore[attr-defined]
        assert await iterator.__anext__() == b"/three"
        await iterator.aclose()
        assert bodies[-1].closed
        assert not client.is_closed
        await client.aclose()
        return got

    assert asyncio.run(go()) == [b"/one-second-third", b"/two-second-third"]
    assert all(body.closed for body in bodies)
