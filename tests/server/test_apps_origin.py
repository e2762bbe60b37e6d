"""The apps origin in-process: where it is, the portal's hand-off to it, and a hosted app
served through it (HTTP and WebSocket) with the cookie the hand-off set."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from atelier.config.settings import ServerSettings
from atelier.errors import InvalidInput
from atelier.server.apps_origin import by_port, create_apps_app
from atelier.server.gateway.handoff import AppsOrigin, inside_app, landing
from atelier.services.auth import Principal
from atelier.services.workbench import Workbench
from tests.conftest import Accounts

APPS = "http://127.0.0.1:8701"
HELLO = "import streamlit as st\nst.title('Hello from Streamlit')\n"


def principal(workbench: Workbench, name: str) -> Principal:
    user = workbench.users.get(name)
    return Principal(user.id, user.name, user.role, "local")


def portal_session(client, workbench: Workbench, user: str) -> None:  # type: ignore[no-untyped-def]
    """Log ``client`` in to the portal as ``user`` (the signed session cookie)."""
    secret = workbench.sessions.start(workbench.users.get(user).id)
    client.cookies.set("atelier_session", client.app.state.signer.sign(secret).decode())


def handoff_location(page: str) -> str:
    """Where the portal's hand-off page sends the browser (its refresh and its link)."""
    refresh = re.search(r'http-equiv="refresh" content="0; url=([^"]+)"', page)
    link = re.search(r'data-testid="open-app" href="([^"]+)"|href="([^"]+)" data-testid', page)
    assert refresh and link
    assert html.unescape(refresh.group(1)) == html.unescape(link.group(1) or link.group(2))
    return html.unescape(refresh.group(1))


def handoff(client, name: str, path: str = "") -> str:  # type: ignore[no-untyped-def]
    """The apps origin's enter URL (path and query) the portal redirects to."""
    response = client.get(f"/apps/{name}/{path}", follow_redirects=False)
    assert response.status_code == 200, response.text
    location = handoff_location(response.text)
    assert location.startswith(f"{APPS}/apps/{name}/-/enter?ticket=")
    assert response.headers["cache-control"] == "no-store"
    parts = urlsplit(location)
    return f"{parts.path}?{parts.query}"


@pytest.fixture
def metadata_url(tmp_path: Path) -> str:
    """SQLite only: nothing here depends on the metadata database, and apps start processes."""
    return f"sqlite:///{tmp_path / 'meta.db'}"


@pytest.fixture
def apps(workbench: Workbench) -> Iterator[TestClient]:
    with TestClient(create_apps_app(workbench), base_url=APPS) as apps_client:
        yield apps_client


@pytest.fixture
def hello(workbench: Workbench, accounts: Accounts) -> str:
    workbench.apps.deploy("hello", HELLO, principal(workbench, "scientist1"))
    return "hello"


def test_the_apps_origin_is_another_port_or_one_host_per_app() -> None:
    server = ServerSettings()
    origin = AppsOrigin.from_settings(server, "http://127.0.0.1:8700")
    assert (origin.port, origin.app_url("churn")) == (8701, "http://127.0.0.1:8701")
    server = ServerSettings(port=9000, apps_port=9100, public_url="http://localhost:9000")
    origin = AppsOrigin.from_settings(server, server.public_url)
    assert origin.app_url("x") == "http://localhost:9100"
    server = ServerSettings(apps_domain="*.Apps.Example.com", apps_url="https://apps.example.com")
    origin = AppsOrigin.from_settings(server, "https://atelier.example.com")
    assert origin.app_url("churn") == "https://churn.apps.example.com"
    assert origin.app_of_host("churn.apps.example.com") == "churn"
    assert origin.app_of_host("a.b.apps.example.com") is None
    assert origin.app_of_host("apps.example.com") is None


@pytest.mark.parametrize(
    ("settings", "portal", "says"),
    [
        ({"port": 8700, "apps_port": 8700}, "http://127.0.0.1:8700", "portal's port"),
        ({"apps_url": "http://127.0.0.1:8700"}, "http://127.0.0.1:8700", "portal's origin"),
        ({"apps_domain": "example.com"}, "https://atelier.example.com", "portal's host"),
    ],
)
def test_an_apps_origin_that_is_the_portals_is_refused(settings, portal, says) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidInput, match=says):
        AppsOrigin.from_settings(ServerSettings(**settings), portal)


def test_settings_refuse_a_malformed_apps_domain() -> None:
    with pytest.raises(ValueError, match="DNS name"):
        ServerSettings(apps_domain="https://apps.example.com/")


def test_landing_pages_stay_inside_the_app() -> None:
    assert landing("hello", "a b/c", "x=1") == "/apps/hello/a%20b/c?x=1"
    assert inside_app("hello", "/apps/hello/")
    for outside in (
        "/apps/other/",
        "//evil.example/apps/hello/",
        "https://evil.example/apps/hello/",
        "/apps/hello/../../api/v1/users",
        "/apps/hello/%2e%2e/%2e%2e/admin",
        "/apps/hello/\\evil",
        "/apps/hello//evil",
    ):
        assert not inside_app("hello", outside), outside


def test_the_portal_hands_a_visitor_over_to_the_app(client, apps, workbench, hello) -> None:  # type: ignore[no-untyped-def]
    portal_session(client, workbench, "scientist1")
    enter = handoff(client, hello, "page?tab=2")
    entered = apps.get(enter, follow_redirects=False)
    assert entered.status_code == 303
    assert entered.headers["location"] == "/apps/hello/page?tab=2"
    assert entered.headers["referrer-policy"] == "no-referrer"
    cookie = entered.headers["set-cookie"]
    assert cookie.startswith("atelier_app=")
    assert "HttpOnly" in cookie and "Path=/apps/hello" in cookie and "SameSite=lax" in cookie
    # The app's own page reaches Streamlit with that cookie (and only that cookie).
    health = apps.get("/apps/hello/_stcore/health")
    assert health.status_code == 200 and health.text == "ok"


def test_a_streamlit_websocket_passes_from_the_apps_origin_only(
    client, apps, workbench, hello
) -> None:  # type: ignore[no-untyped-def]
    portal_session(client, workbench, "scientist1")
    apps.get(handoff(client, hello), follow_redirects=False)
    assert apps.get("/apps/hello/_stcore/health").status_code == 200
    path = "/apps/hello/_stcore/stream"
    # The test client's WebSockets do not read its cookie jar: send the cookie as a browser does.
    cookie = {"Cookie": f"atelier_app={apps.cookies['atelier_app']}"}
    headers = {**cookie, "Origin": APPS}
    with apps.websocket_connect(path, headers=headers, subprotocols=["streamlit"]) as ws:
        assert ws.accepted_subprotocol == "streamlit"
    for origin in ("http://127.0.0.1:8700", "https://evil.example", "null"):
        with (
            pytest.raises(WebSocketDisconnect) as refused,
            apps.websocket_connect(path, headers={**cookie, "Origin": origin}) as ws,
        ):
            ws.receive_text()
        assert refused.value.code == 4403, origin


def test_viewers_are_handed_over_to_the_apps_shared_with_them(
    client, apps, workbench, hello
) -> None:  # type: ignore[no-untyped-def]
    portal_session(client, workbench, "viewer1")
    refused = client.get("/apps/hello/", follow_redirects=False)
    assert refused.status_code == 404 and "is shared with you" in refused.text
    workbench.apps.registry.share("hello", principal(workbench, "scientist1"), users=["viewer1"])
    entered = apps.get(handoff(client, hello), follow_redirects=False)
    assert entered.status_code == 303 and "atelier_app=" in entered.headers["set-cookie"]


def test_anonymous_pages_go_through_the_portals_login(client, apps, hello) -> None:  # type: ignore[no-untyped-def]
    page = apps.get("/apps/hello/x?y=1", headers={"Accept": "text/html"}, follow_redirects=False)
    assert page.status_code == 303
    assert page.headers["location"] == "http://127.0.0.1:8700/apps/hello/x?y=1"
    assert apps.get("/apps/hello/_stcore/health").status_code == 401
    assert apps.get("/apps/hello", follow_redirects=False).headers["location"] == (
        "http://127.0.0.1:8700/apps/hello"
    )
    # The portal sends the browser to log in first, then back to the hand-off.
    login = client.get("/apps/hello/x", headers={"Accept": "text/html"}, follow_redirects=False)
    assert login.status_code == 303 and login.headers["location"].startswith("/login?next=")


def test_tokens_open_no_hosted_app(apps, accounts, hello) -> None:  # type: ignore[no-untyped-def]
    # The apps origin is for browsers, with its own cookie; tokens are for the API.
    for role in ("admin", "scientist"):
        health = apps.get("/apps/hello/_stcore/health", headers=accounts.headers(role))
        assert health.status_code == 401


def test_one_host_per_app_with_apps_domain(client, workbench, hello) -> None:  # type: ignore[no-untyped-def]
    workbench.settings.server.apps_domain = "apps.localhost:8701"
    portal_session(client, workbench, "scientist1")
    location = handoff_location(client.get("/apps/hello/").text)
    assert location.startswith("http://hello.apps.localhost:8701/apps/hello/-/enter?ticket=")
    ticket = parse_qs(urlsplit(location).query)["ticket"][0]
    with TestClient(create_apps_app(workbench), base_url="http://hello.apps.localhost:8701") as own:
        entered = own.get(f"/apps/hello/-/enter?ticket={ticket}", follow_redirects=False)
        assert entered.status_code == 303
        assert own.get("/apps/hello/_stcore/health").status_code == 200
    with TestClient(
        create_apps_app(workbench), base_url="http://other.apps.localhost:8701"
    ) as other:
        wrong = other.get(f"/apps/hello/-/enter?ticket={ticket}", follow_redirects=False)
        assert wrong.status_code == 404 and "hello.apps.localhost:8701" in wrong.text


def test_what_a_hosted_app_receives_is_limited(workbench) -> None:  # type: ignore[no-untyped-def]
    workbench.settings.server.max_upload_size = "1KB"
    with TestClient(create_apps_app(workbench), base_url=APPS) as limited:
        refused = limited.post("/apps/hello/upload", content=b"x" * 4096)
        assert refused.status_code == 413 and "server.max_upload_size" in refused.text
        assert limited.post("/apps/hello/upload", content=b"x").status_code == 401


async def _app(name: str, scope, receive, send) -> None:  # type: ignore[no-untyped-def]
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": name.encode()})


def test_by_port_sends_the_apps_port_to_the_apps_origin_only() -> None:
    async def portal(scope, receive, send) -> None:  # type: ignore[no-untyped-def]
        await _app("portal", scope, receive, send)

    async def apps(scope, receive, send) -> None:  # type: ignore[no-untyped-def]
        await _app("apps", scope, receive, send)

    app = by_port(portal, apps, 8701)
    # The test client reports its base URL's port as the server's (no lifespan: not entered).
    assert TestClient(app, base_url="http://127.0.0.1:8701").get("/").text == "apps"
    assert TestClient(app, base_url="http://127.0.0.1:8700").get("/").text == "portal"
