"""Who passes the gateway: roles, and the origin check that replaces CSRF tokens there."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI, WebSocket
from fastapi.testclient import TestClient
from starlette.requests import HTTPConnection
from starlette.testclient import WebSocketDenialResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from atelier.server.gateway import allow_gateway, same_origin
from atelier.server.security import app_routes, check_every_route
from atelier.services.auth import Principal

HOST = "127.0.0.1:8700"
USERS = allow_gateway("admin", "scientist")


class FakeLogin:
    """Stands in for AuthMiddleware: ``X-As: role/via`` names the caller."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            who = HTTPConnection(scope).headers.get("x-as")
            principal = None
            if who:
                role, via = who.split("/")
                principal = Principal(1, "ada", role, via)  # type: ignore[arg-type]
            scope.setdefault("state", {})["principal"] = principal
        await self.app(scope, receive, send)


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

    @app.api_route("/gw/{path:path}", methods=["GET", "POST", "DELETE"])
    async def http(path: str, _: Principal = USERS) -> dict[str, str]:
        return {"path": path}

    @app.websocket("/gw/{path:path}")
    async def ws(websocket: WebSocket, _: Principal = USERS) -> None:
        await websocket.accept()
        await websocket.send_text("in")
        await websocket.close()

    check_every_route(app)  # the WebSocket route counts as guarded
    app.add_middleware(FakeLogin)
    with TestClient(app, base_url=f"http://{HOST}") as test_client:
        yield test_client


def test_websocket_routes_declare_their_roles(client: TestClient) -> None:
    roles = {route.path: route.roles for route in app_routes(client.app)}  # type: ignore[arg-type]
    assert roles["/gw/{path:path}"] == frozenset({"admin", "scientist"})


def test_roles(client: TestClient) -> None:
    assert client.get("/gw/x").status_code == 401
    assert client.get("/gw/x", headers={"X-As": "viewer/session"}).status_code == 403
    assert client.get("/gw/x", headers={"X-As": "scientist/session"}).json() == {"path": "x"}


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 403),
        ({"Origin": "http://evil.example"}, 403),
        ({"Origin": "http://127.0.0.1:9999"}, 403),  # same site, other port: still refused
        ({"Origin": "null"}, 403),
        ({"Origin": f"http://{HOST}"}, 200),
        ({"Referer": f"http://{HOST}/notebooks/lab"}, 200),
        ({"Referer": "http://evil.example/page"}, 403),
    ],
)
def test_session_requests_that_change_state_need_this_origin(
    client: TestClient, headers: dict[str, str], status: int
) -> None:
    response = client.post("/gw/api/x", headers={"X-As": "admin/session", **headers})
    assert response.status_code == status, response.text
    if status == 403:
        assert "cross-origin" in response.json()["detail"]


def test_reads_and_token_callers_need_no_origin(client: TestClient) -> None:
    assert client.get("/gw/x", headers={"X-As": "admin/session"}).status_code == 200
    assert client.delete("/gw/x", headers={"X-As": "admin/token"}).status_code == 200


def _ws(client: TestClient, headers: dict[str, str]) -> Any:
    with client.websocket_connect(f"ws://{HOST}/gw/api/kernels/1/channels", headers=headers) as ws:
        return ws.receive_text()


def test_cross_site_websocket_hijacking_is_refused(client: TestClient) -> None:
    for origin in ({}, {"Origin": "http://evil.example"}, {"Origin": "http://127.0.0.1:1"}):
        with pytest.raises(WebSocketDenialResponse) as refused:
            _ws(client, {"X-As": "admin/session", **origin})
        assert refused.value.status_code == 403
    assert _ws(client, {"X-As": "admin/session", "Origin": f"http://{HOST}"}) == "in"
    assert _ws(client, {"X-As": "scientist/token"}) == "in"


def test_websocket_roles(client: TestClient) -> None:
    with pytest.raises(WebSocketDenialResponse) as refused:
        _ws(client, {"X-As": "viewer/token"})
    assert refused.value.status_code == 403


def test_same_origin_accepts_the_public_url() -> None:
    scope = {
        "type": "http",
        "method": "POST",
        "headers": [(b"host", b"10.0.0.5:8700"), (b"origin", b"https://atelier.example.org")],
    }
    connection = HTTPConnection(scope)
    assert not same_origin(connection)
    assert same_origin(connection, "https://atelier.example.org")
