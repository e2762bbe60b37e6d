"""Passing a request on to another Atelier server (:func:`~atelier.server.gateway.proxy.peer`),
against a real upstream on loopback: the request goes as it came, credentials, ``Host`` and
``Origin`` included (that server authenticates and checks it again), marked as passed on."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest
from websockets.asyncio.client import connect

from atelier.server.gateway.proxy import FORWARDED_HEADER, peer
from tests.server.gateway.servers import Seen, free_port, serve, upstream_app
from tests.server.gateway.test_proxy import Setup, proxy_app

CREDENTIALS = {
    "Authorization": "Bearer atl_user_token",
    "Cookie": "atelier_session=signed; _xsrf=abc",
}


@pytest.fixture(scope="module")
def setup() -> Iterator[Setup]:
    seen = Seen()
    other, port = free_port(), free_port()
    upstreams = {"peer": peer(f"http://127.0.0.1:{other}", "node-a:1:ab")}
    with (
        serve(upstream_app(seen), port=other),
        serve(proxy_app(upstreams), port=port, lifespan="on"),
    ):
        yield Setup(f"http://127.0.0.1:{port}", seen)


@pytest.mark.parametrize("via", ["p", "k"], ids=["client-per-request", "kept-pool"])
def test_a_request_goes_on_as_it_came_marked_as_passed_on(setup: Setup, via: str) -> None:
    """Through a client per request, or over the connections kept to that server (as
    :func:`~atelier.server.gateway.peers.pass_on` sends it): the same request."""
    seen = httpx.get(
        f"{setup.url}/{via}/peer/notebooks/api/status?x=1",
        headers={
            **CREDENTIALS,
            "Origin": setup.url,
            "X-Forwarded-For": "203.0.113.9",
            "Connection": "keep-alive, X-Hop",
            "X-Hop": "dropped",
            FORWARDED_HEADER: "spoofed",
        },
    ).json()
    headers = seen["headers"]
    assert seen["path"] == "/notebooks/api/status" and seen["query"] == "x=1"
    assert headers["authorization"] == CREDENTIALS["Authorization"]
    assert headers["cookie"] == CREDENTIALS["Cookie"]
    # The other server checks the Origin against the Host the caller used, as this one did.
    assert headers["origin"] == setup.url
    assert headers["host"] == setup.url.removeprefix("http://")
    # The chain as it came, then the caller as this server saw it.
    chain = headers["x-forwarded-for"].split(", ")
    assert chain[0] == "203.0.113.9" and len(chain) == 2
    assert headers[FORWARDED_HEADER] == "node-a:1:ab"  # the caller's own mark is replaced
    assert "x-hop" not in headers


async def _handshake(url: str, headers: dict[str, str]) -> None:
    async with connect(url, additional_headers=headers) as ws:
        await ws.send("hello")
        assert await ws.recv() == "echo hello"


def test_a_websocket_goes_on_with_the_callers_host_and_credentials(setup: Setup) -> None:
    asyncio.run(_handshake(f"{setup.ws_url}/p/peer/ws", {**CREDENTIALS, "Origin": setup.url}))
    headers = setup.seen.websocket_headers
    assert headers["cookie"] == CREDENTIALS["Cookie"]
    assert headers["authorization"] == CREDENTIALS["Authorization"]
    assert headers["origin"] == setup.url
    assert headers["host"] == setup.url.removeprefix("http://")
    assert headers[FORWARDED_HEADER] == "node-a:1:ab"


@pytest.mark.parametrize("host", ["user:secret@evil.example", "evil.example/x?y=", "a b"])
def test_a_host_that_is_more_than_a_host_is_not_put_in_the_uri(setup: Setup, host: str) -> None:
    """The URI built from ``Host`` could otherwise carry user info (an ``Authorization``
    header of the attacker's making) or a path: the other server's own address is used."""
    asyncio.run(_handshake(f"{setup.ws_url}/p/peer/ws", {**CREDENTIALS, "Host": host}))
    seen = setup.seen.websocket_headers
    assert seen["host"] == seen["host"].strip() and "@" not in seen["host"]
    assert seen["host"].startswith("127.0.0.1:")
    assert seen["authorization"] == CREDENTIALS["Authorization"]
