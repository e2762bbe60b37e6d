"""The gateway's route: its guard checked without FastAPI's dependency solving, and nothing lost.

The guard must refuse exactly as before (anonymous, wrong role, a token for code without the
scope, a cookie session from another origin) before the endpoint runs; the route keeps its
declared roles for ``check_every_route``; an endpoint that asks for anything more than the
request and the caller is built by FastAPI as usual.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from fastapi.testclient import TestClient

from atelier.server.gateway import allow_gateway
from atelier.server.gateway.route import GuardedRoute, _plain
from atelier.server.security import app_routes, check_every_route
from atelier.services.auth import Principal
from atelier.services.auth.scopes import TRACKING
from tests.server.gateway.test_guard import HOST, FakeLogin

GUARD = allow_gateway("admin", "scientist", scopes=(TRACKING,))
CALLED: list[str] = []
ROUTER = APIRouter(route_class=GuardedRoute)


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    router = ROUTER

    @router.api_route("/gw/{rest:path}", methods=["GET", "POST"])
    async def proxied(request: Request, principal: Principal = GUARD) -> Response:
        CALLED.append(request.url.path)
        return JSONResponse({"name": principal.name, "role": principal.role})

    @router.get("/other/{rest:path}")
    async def other(rest: str, limit: int, _: Principal = GUARD) -> Response:
        return JSONResponse({"rest": rest, "limit": limit})

    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    app.include_router(router)
    check_every_route(app)
    app.add_middleware(FakeLogin)
    with TestClient(app, base_url=f"http://{HOST}") as test_client:
        yield test_client


def test_the_guard_lets_its_roles_through(client: TestClient) -> None:
    answer = client.get("/gw/a/b", headers={"X-As": "scientist/token"})
    assert answer.status_code == 200
    assert answer.json() == {"name": "ada", "role": "scientist"}


def test_refusals_come_before_the_endpoint(client: TestClient) -> None:
    CALLED.clear()
    assert client.get("/gw/x").status_code == 401
    assert client.get("/gw/x", headers={"X-As": "viewer/token"}).status_code == 403
    # A cookie session writing from another site: the gateway's origin check.
    cross = {"X-As": "admin/session", "Origin": "http://evil.example"}
    assert client.post("/gw/x", headers=cross).status_code == 403
    assert CALLED == []
    same = {"X-As": "admin/session", "Origin": f"http://{HOST}"}
    assert client.post("/gw/x", headers=same).status_code == 200
    assert CALLED == ["/gw/x"]


def test_the_route_keeps_its_declared_roles(client: TestClient) -> None:
    app = client.app
    assert isinstance(app, FastAPI)
    found = {route.path: route for route in app_routes(app)}
    assert found["/gw/{rest:path}"].roles == frozenset({"admin", "scientist"})
    assert found["/gw/{rest:path}"].scopes == frozenset({TRACKING})


def test_an_endpoint_with_more_parameters_is_built_by_fastapi(client: TestClient) -> None:
    routes = {route.path: route for route in ROUTER.routes if isinstance(route, GuardedRoute)}
    assert _plain(routes["/gw/{rest:path}"]) is not None
    assert _plain(routes["/other/{rest:path}"]) is None
    who = {"X-As": "admin/token"}
    assert client.get("/other/a?limit=3", headers=who).json() == {"rest": "a", "limit": 3}
    assert client.get("/other/a?limit=x", headers=who).status_code == 422
    assert client.get("/other/a?limit=3").status_code == 401
