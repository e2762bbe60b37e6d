"""Deny by default, checked on every route the app has (included routers expanded)."""

import re

import pytest
from fastapi import APIRouter, FastAPI

from atelier.server.security import RouteInfo, allow, app_routes, check_every_route, is_public
from atelier.services.auth import ROLES
from tests.conftest import Accounts


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "nobody", path)


def guarded_routes(client) -> list[tuple[str, str, RouteInfo]]:  # type: ignore[no-untyped-def]
    routes = []
    for route in app_routes(client.app):
        if is_public(route.path) or route.path == "/static":
            continue
        for method in sorted(route.methods - {"HEAD"}):
            routes.append((method, concrete(route.path), route))
    return routes


def test_the_app_has_guarded_routes(client) -> None:  # type: ignore[no-untyped-def]
    routes = guarded_routes(client)
    assert len(routes) > 15
    assert all(route.roles for _, _, route in routes)


def test_every_route_refuses_anonymous_requests(client) -> None:  # type: ignore[no-untyped-def]
    for method, path, _ in guarded_routes(client):
        response = client.request(method, path)
        assert response.status_code == 401, f"{method} {path} answered {response.status_code}"


def test_every_route_refuses_bad_tokens(client, accounts: Accounts) -> None:  # type: ignore[no-untyped-def]
    headers = {"Authorization": "Bearer atl_000000000000_forged"}
    for method, path, _ in guarded_routes(client):
        assert client.request(method, path, headers=headers).status_code == 401, path


def test_every_route_refuses_roles_it_does_not_allow(client, accounts: Accounts) -> None:  # type: ignore[no-untyped-def]
    checked = 0
    for method, path, route in guarded_routes(client):
        for role in ROLES:
            response = client.request(method, path, headers=accounts.headers(role))
            status = response.status_code
            if role in (route.roles or ()):
                # A 403 may still come from a rule about the object (the MLflow gateway refuses
                # a write endpoint it does not know to everyone but admins), never from the role.
                assert status != 401, f"{role} refused on {method} {path}"
                assert status != 403 or f"role {role!r} may not" not in response.text, (
                    f"{role} refused on {method} {path}"
                )
            else:
                assert status == 403, f"{role} got {status} on {method} {path}"
                checked += 1
    assert checked > 10


def test_pages_send_anonymous_browsers_to_login(client) -> None:  # type: ignore[no-untyped-def]
    response = client.get(
        "/admin/audit?x=1", headers={"Accept": "text/html"}, follow_redirects=False
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/admin/audit%3Fx%3D1"


def test_public_routes(client) -> None:  # type: ignore[no-untyped-def]
    assert client.get("/health").json()["status"] == "ok"
    assert client.get("/login").status_code == 200
    assert client.get("/static/atelier.css").status_code == 200


def test_an_unguarded_route_stops_the_app_from_starting() -> None:
    app = FastAPI(openapi_url=None)
    router = APIRouter(prefix="/api/v1")

    @router.get("/open")
    def open_route() -> None: ...

    app.include_router(router)
    with pytest.raises(RuntimeError, match="/api/v1/open has no role guard"):
        check_every_route(app)

    guarded = FastAPI(openapi_url=None)

    @guarded.get("/closed")
    def closed(_: object = allow("admin")) -> None: ...

    check_every_route(guarded)


def test_session_cookie_needs_csrf_for_changes(client, workbench) -> None:  # type: ignore[no-untyped-def]
    code = workbench.sessions.create_link(workbench.owner().name)
    assert client.get(f"/login/link?code={code}", follow_redirects=False).status_code == 303
    page = client.get("/admin/tokens")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert csrf is not None
    refused = client.post("/api/v1/tokens", json={"name": "x"})
    assert refused.status_code == 403 and "CSRF" in refused.json()["detail"]
    forged = client.post("/admin/tokens", data={"name": "x", "csrf_token": "forged"})
    assert forged.status_code == 403
    made = client.post(
        "/api/v1/tokens", json={"name": "x"}, headers={"X-CSRF-Token": csrf.group(1)}
    )
    assert made.status_code == 201
    form = client.post("/admin/tokens", data={"name": "y", "csrf_token": csrf.group(1)})
    assert form.status_code == 200 and "atl_" in form.text


def test_a_token_in_use_is_checked_in_the_event_loop_and_afresh(  # type: ignore[no-untyped-def]
    client, workbench, accounts: Accounts, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bearer token whose use is recorded is checked without a worker thread's hop; its
    first use, a wrong secret and a revoked token still go through the full check, and the
    revocation refuses the very next call."""
    from atelier.server import security

    handed: list[str] = []
    resolve = security.AuthMiddleware.resolve

    def counted(self, connection):  # type: ignore[no-untyped-def]
        handed.append(connection.headers.get("authorization", ""))
        return resolve(self, connection)

    monkeypatch.setattr(security.AuthMiddleware, "resolve", counted)
    headers = accounts.headers("scientist")
    for _ in range(3):
        assert client.get("/api/v1/me", headers=headers).json()["name"] == "scientist1"
    # The first use, which records it (a database server: every check, from worker threads).
    sqlite = workbench.db.engine.dialect.name == "sqlite"
    assert len(handed) == (1 if sqlite else 3)
    key = accounts.tokens["scientist"].split("_")[1]
    forged = {"Authorization": f"Bearer atl_{key}_{'x' * 43}"}
    assert client.get("/api/v1/me", headers=forged).status_code == 401
    assert len(handed) == (2 if sqlite else 4)
    workbench.tokens.revoke(key)
    assert client.get("/api/v1/me", headers=headers).status_code == 401
