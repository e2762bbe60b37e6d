"""Attacks on the isolation of user-authored web content (issue 12, point 3).

In-process: every way into the apps origin without a genuine, fresh, unused ticket for this
app and a visitor who may use it is refused, and neither origin accepts the other's cookie.
In Chromium: a hostile hosted app, opened by a logged-in admin, tries to act as its visitor
(read cookies, call the API and the admin pages on both origins, steal the CSRF token, frame
the portal, open the portal's WebSockets); nothing gets through and no admin is created.
MLflow artifacts are served sandboxed.
"""

from __future__ import annotations

import html
import json
import re
import textwrap
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from starlette.websockets import WebSocketDisconnect

from atelier.config import Workspace, init_workspace
from atelier.server.apps_origin import create_apps_app
from atelier.server.gateway.handoff import TICKET_SALT, Tickets
from atelier.server.gateway.proxy import downstream_headers
from atelier.server.security import app_routes
from atelier.services.auth import Principal
from atelier.services.workbench import Workbench
from tests.browser.conftest import ARGS, CHROMIUM
from tests.conftest import PASSWORD, Accounts, RunningServer, start_server

APPS = "http://127.0.0.1:8701"
SCRIPT = "import streamlit as st\nst.title('{}')\n"


@pytest.fixture
def metadata_url(tmp_path: Path) -> str:
    """SQLite only: the hand-off does not depend on the metadata database."""
    return f"sqlite:///{tmp_path / 'meta.db'}"


def person(workbench: Workbench, name: str) -> Principal:
    user = workbench.users.get(name)
    return Principal(user.id, user.name, user.role, "local")


@pytest.fixture
def team(workbench: Workbench, accounts: Accounts) -> Workbench:
    """Two hosted apps of scientist1: ``alpha`` (shared with viewer1) and ``beta`` (not)."""
    owner = person(workbench, "scientist1")
    for name in ("alpha", "beta"):
        workbench.apps.deploy(name, SCRIPT.format(name), owner)
    workbench.apps.registry.share("alpha", owner, users=["viewer1"])
    return workbench


@pytest.fixture
def apps(workbench: Workbench) -> Iterator[TestClient]:
    with TestClient(create_apps_app(workbench), base_url=APPS) as client:
        yield client


def ticket(workbench: Workbench, user: str, app: str, target: str | None = None) -> str:
    found = workbench.users.get(user)
    tickets = Tickets(workbench.workspace.secret_key())
    return tickets.ticket(found.id, found.name, app, target or f"/apps/{app}/")


def enter(apps: TestClient, app: str, value: str) -> httpx.Response:
    return apps.get(f"/apps/{app}/-/enter", params={"ticket": value}, follow_redirects=False)


def refused(response: httpx.Response, says: str) -> None:
    assert response.status_code in (403, 404), (response.status_code, response.text)
    assert says in html.unescape(response.text), response.text
    assert "set-cookie" not in response.headers


def portal_cookie(client, workbench: Workbench, user: str) -> str:  # type: ignore[no-untyped-def]
    secret = workbench.sessions.start(workbench.users.get(user).id)
    value: str = client.app.state.signer.sign(secret).decode()
    return value


# -- tickets -------------------------------------------------------------------------------


def test_a_replayed_ticket_is_refused(apps, team) -> None:  # type: ignore[no-untyped-def]
    value = ticket(team, "admin1", "alpha")
    assert enter(apps, "alpha", value).status_code == 303
    apps.cookies.clear()
    refused(enter(apps, "alpha", value), "used already")
    assert apps.get("/apps/alpha/_stcore/health").status_code == 401


def test_a_ticket_for_another_app_is_refused(apps, team) -> None:  # type: ignore[no-untyped-def]
    refused(enter(apps, "beta", ticket(team, "admin1", "alpha")), "not for app 'beta'")


def test_an_expired_ticket_is_refused(apps, team) -> None:  # type: ignore[no-untyped-def]
    class TwoMinutesAgo(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time()) - 120

    user = team.users.get("admin1")
    signed = URLSafeTimedSerializer(
        team.workspace.secret_key(), salt=TICKET_SALT, signer=TwoMinutesAgo
    )
    old = signed.dumps({"u": user.id, "n": user.name, "a": "alpha", "t": "/apps/alpha/", "x": "n1"})
    refused(enter(apps, "alpha", old), "expired or not genuine")


@pytest.mark.parametrize(
    "forge",
    [
        lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"),  # signature changed
        lambda t: "",
        lambda t: "not-a-ticket",
        # A genuine ticket's content under another signature: the other workspace's key.
        lambda t: URLSafeTimedSerializer("another workspace", salt=TICKET_SALT).dumps(
            {"u": 1, "n": "admin1", "a": "alpha", "t": "/apps/alpha/", "x": "n2"}
        ),
        # The cookie's signer is not the ticket's.
        lambda t: URLSafeTimedSerializer("k", salt="atelier.apps.session").dumps({"a": "alpha"}),
    ],
)
def test_forged_tickets_are_refused(apps, team, forge) -> None:  # type: ignore[no-untyped-def]
    refused(enter(apps, "alpha", forge(ticket(team, "admin1", "alpha"))), "not genuine")


def test_a_ticket_for_a_user_who_may_not_use_the_app_is_refused(apps, team) -> None:  # type: ignore[no-untyped-def]
    # The portal would not mint it; a ticket made anyway still opens nothing.
    refused(enter(apps, "beta", ticket(team, "viewer1", "beta")), "shared with you")
    team.users.set_disabled("scientist1", True)
    refused(enter(apps, "alpha", ticket(team, "scientist1", "alpha")), "disabled")


def test_a_ticket_cannot_land_outside_its_app(team) -> None:  # type: ignore[no-untyped-def]
    for target in ("//evil.example/", "https://evil.example/apps/alpha/", "/apps/beta/"):
        with pytest.raises(Exception, match="not a page of app"):
            ticket(team, "admin1", "alpha", target)


def test_the_portal_mints_no_ticket_for_an_app_not_shared(client, team) -> None:  # type: ignore[no-untyped-def]
    client.cookies.set("atelier_session", portal_cookie(client, team, "viewer1"))
    page = client.get("/apps/beta/", follow_redirects=False)
    assert page.status_code == 404 and "ticket" not in page.text
    assert "ticket=" in client.get("/apps/alpha/").text


# -- cookies: neither origin accepts the other's -----------------------------------------


def test_the_portals_session_cookie_opens_nothing_on_the_apps_origin(client, apps, team) -> None:  # type: ignore[no-untyped-def]
    session = portal_cookie(client, team, "admin1")
    apps.cookies.set("atelier_session", session)
    assert apps.get("/apps/alpha/_stcore/health").status_code == 401
    page = apps.get("/apps/alpha/", headers={"Accept": "text/html"}, follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"].startswith("http://127.0.0.1:8700")
    # Nor the same value under the apps origin's cookie name (another salt signs it).
    apps.cookies.clear()
    apps.cookies.set("atelier_app", session)
    assert apps.get("/apps/alpha/_stcore/health").status_code == 401
    # The portal's own paths do not exist here, with the cookie or without.
    apps.cookies.set("atelier_session", session)
    for path in ("/api/v1/me", "/api/v1/users", "/admin/users", "/", "/login", "/notebooks/"):
        assert apps.get(path).status_code == 404, path
        assert apps.post(path, json={"name": "mallory", "role": "admin"}).status_code in (404, 405)
    with pytest.raises(WebSocketDisconnect), apps.websocket_connect("/notebooks/api/events"):
        pass


def test_no_portal_route_answers_on_the_apps_origin(client, apps, team) -> None:  # type: ignore[no-untyped-def]
    """Every route of the portal, with an admin's portal cookie: nothing but a 404 (or 405),
    except /apps/NAME/… (which needs the apps origin's own cookie)."""
    apps.cookies.set("atelier_session", portal_cookie(client, team, "admin1"))
    checked = 0
    for route in app_routes(client.app):
        path = re.sub(r"\{[^}]+\}", "alpha", route.path)
        for method in sorted(route.methods - {"HEAD"}) or ["GET"]:
            response = apps.request(method, path, follow_redirects=False)
            status = response.status_code
            if path == "/apps/alpha" and method == "GET":
                # To the portal, which decides whether it is a generated or a hosted app.
                assert response.headers["location"] == "http://127.0.0.1:8700/apps/alpha"
                continue
            expected = (401,) if path.startswith("/apps/alpha/") else (404, 405)
            assert status in expected, f"{method} {path} answered {status} on the apps origin"
            checked += 1
    assert checked > 50


def test_the_apps_cookie_opens_nothing_in_the_portal(client, apps, team) -> None:  # type: ignore[no-untyped-def]
    assert enter(apps, "alpha", ticket(team, "admin1", "alpha")).status_code == 303
    app_cookie = apps.cookies["atelier_app"]
    for name in ("atelier_app", "atelier_session"):
        client.cookies.clear()
        client.cookies.set(name, app_cookie)
        assert client.get("/api/v1/me").status_code == 401
        assert client.get("/admin/users", follow_redirects=False).status_code in (303, 401)


def test_one_apps_cookie_does_not_open_another_app(apps, team) -> None:  # type: ignore[no-untyped-def]
    assert enter(apps, "alpha", ticket(team, "admin1", "alpha")).status_code == 303
    cookie = {"Cookie": f"atelier_app={apps.cookies['atelier_app']}"}
    apps.cookies.clear()
    assert apps.get("/apps/alpha/_stcore/health", headers=cookie).status_code == 200
    assert apps.get("/apps/beta/_stcore/health", headers=cookie).status_code == 401
    with (
        pytest.raises(WebSocketDisconnect) as closed,
        apps.websocket_connect(
            "/apps/beta/_stcore/stream", headers={**cookie, "Origin": APPS}
        ) as ws,
    ):
        ws.receive_text()
    assert closed.value.code == 4401


def test_rights_are_checked_again_on_every_request(apps, team) -> None:  # type: ignore[no-untyped-def]
    assert enter(apps, "alpha", ticket(team, "viewer1", "alpha")).status_code == 303
    assert apps.get("/apps/alpha/_stcore/health").status_code == 200
    team.apps.registry.share("alpha", person(team, "scientist1"), remove=["viewer1"])
    assert apps.get("/apps/alpha/_stcore/health").status_code == 404
    team.apps.registry.share("alpha", person(team, "scientist1"), users=["viewer1"])
    team.users.set_disabled("viewer1", True)
    assert apps.get("/apps/alpha/_stcore/health").status_code == 401


def test_a_cross_origin_state_change_on_an_app_is_refused(apps, team) -> None:  # type: ignore[no-untyped-def]
    assert enter(apps, "alpha", ticket(team, "admin1", "alpha")).status_code == 303
    for origin in ("http://127.0.0.1:8700", "https://evil.example", "null"):
        response = apps.post("/apps/alpha/anything", headers={"Origin": origin}, content=b"x")
        assert response.status_code == 403, origin
    response = apps.post("/apps/alpha/anything", content=b"x")  # no Origin, no Referer
    assert response.status_code == 403


def test_tokens_do_not_open_hosted_apps(apps, team, accounts) -> None:  # type: ignore[no-untyped-def]
    from atelier.services.auth.scopes import APP

    _, code_token = team.tokens.create_for("admin1", "app other", APP, timedelta(hours=1))
    for token in (code_token, accounts.tokens["admin"]):
        headers = {"Authorization": f"Bearer {token}"}
        assert apps.get("/apps/alpha/_stcore/health", headers=headers).status_code == 401


def test_the_portal_no_longer_proxies_hosted_apps(client, team) -> None:  # type: ignore[no-untyped-def]
    client.cookies.set("atelier_session", portal_cookie(client, team, "admin1"))
    page = client.get("/apps/alpha/_stcore/health")
    assert page.status_code == 200 and page.text != "ok" and "/-/enter?ticket=" in page.text
    assert client.post("/apps/alpha/_stcore/health").status_code in (403, 405)
    with (
        pytest.raises(WebSocketDisconnect),
        client.websocket_connect(
            "/apps/alpha/_stcore/stream", headers={"Origin": "http://127.0.0.1"}
        ),
    ):
        pass


@pytest.mark.parametrize("name", ["atelier_app", "atelier_session", "atelier_login_csrf"])
def test_an_app_cannot_set_atelier_cookies(name: str) -> None:
    upstream = httpx.Response(
        200, headers=[("set-cookie", f"{name}=planted; Path=/"), ("set-cookie", "own=1")]
    )
    kept = [value for key, value in downstream_headers(upstream) if key == "set-cookie"]
    assert kept == ["own=1"]


# -- a hostile app in Chromium -------------------------------------------------------------

HOSTILE = textwrap.dedent(
    """
    import streamlit as st
    import streamlit.components.v1 as components

    st.title("Totally harmless app")
    components.html('''
    <pre id="report">running</pre>
    <script>
    const PORTAL = "%(portal)s";
    const WS_PORTAL = PORTAL.replace("http", "ws");
    const admin = {name: "mallory", role: "admin", password: "mallory-password-123"};
    const results = {};
    async function attempt(name, attack) {
      try { results[name] = String(await attack()); }
      catch (error) { results[name] = "blocked: " + error.name; }
    }
    function sleep(ms) { return new Promise(resolve => setTimeout(resolve, ms)); }
    function socket(url) {
      return new Promise(resolve => {
        const ws = new WebSocket(url);
        ws.onopen = () => { ws.close(); resolve("open"); };
        ws.onerror = () => resolve("refused");
        setTimeout(() => resolve("refused"), 5000);
      });
    }
    function form(fields) {
      const body = new URLSearchParams();
      for (const [k, v] of Object.entries(fields)) body.append(k, v);
      return body;
    }
    (async () => {
      await attempt("cookie", () => document.cookie
          + " | parent: " + window.parent.document.cookie);
      await attempt("own_api", async () => (await fetch("/api/v1/users", {
          method: "POST", credentials: "include",
          headers: {"Content-Type": "application/json"}, body: JSON.stringify(admin)})).status);
      await attempt("own_admin", async () => (await fetch("/admin/users",
          {credentials: "include"})).status);
      await attempt("portal_api_cors", async () => (await fetch(PORTAL + "/api/v1/users", {
          method: "POST", credentials: "include",
          headers: {"Content-Type": "application/json"}, body: JSON.stringify(admin)})).status);
      await attempt("portal_api_simple", async () => (await fetch(PORTAL + "/api/v1/users", {
          method: "POST", credentials: "include", mode: "no-cors",
          headers: {"Content-Type": "text/plain"}, body: JSON.stringify(admin)})).type);
      await attempt("portal_admin_form", async () => (await fetch(PORTAL + "/admin/users", {
          method: "POST", credentials: "include", mode: "no-cors",
          body: form({...admin, csrf_token: "guessed"})})).type);
      await attempt("read_portal_admin", async () => {
          const text = await (await fetch(PORTAL + "/admin/users",
              {credentials: "include"})).text();
          return /csrf_token/.test(text) ? "stole csrf" : "read, no token";
      });
      await attempt("read_portal_ticket", async () => {
          const text = await (await fetch(PORTAL + "/apps/evil/",
              {credentials: "include"})).text();
          return /ticket=/.test(text) ? "stole ticket" : "read, no ticket";
      });
      await attempt("frame_portal", () => new Promise(resolve => {
          const frame = document.createElement("iframe");
          frame.src = PORTAL + "/admin/users";
          frame.onload = () => {
            try {
              const doc = frame.contentDocument;
              resolve(doc && /csrf_token/.test(doc.body.innerHTML) ? "stole csrf" : "no access");
            } catch (error) { resolve("blocked: " + error.name); }
          };
          document.body.appendChild(frame);
          setTimeout(() => resolve("no load"), 5000);
      }));
      await attempt("popup_portal", async () => {
          const popup = window.open(PORTAL + "/admin/users");
          await sleep(1500);
          if (!popup) return "no popup";
          try { return /csrf_token/.test(popup.document.body.innerHTML) ? "stole csrf" : "no"; }
          finally { popup.close(); }
      });
      await attempt("ws_portal_notebooks", () => socket(
          WS_PORTAL + "/notebooks/api/events/subscribe"));
      await attempt("ws_portal_apps", () => socket(WS_PORTAL + "/apps/evil/_stcore/stream"));
      await attempt("ws_own_notebooks", () => socket(
          location.origin.replace("http", "ws") + "/notebooks/api/events/subscribe"));
      await attempt("own_mlflow", async () => (await fetch(
          "/mlflow/ajax-api/2.0/mlflow/experiments/search", {credentials: "include"})).status);
      const report = document.getElementById("report");
      report.textContent = JSON.stringify(results);
      report.dataset.done = "yes";
    })();
    </script>
    ''', height=400)
    """
)

#: What each attack may come to: its request failed, was answered 404, or was opaque.
EXPECTED = {
    "own_api": {"404"},
    "own_admin": {"404"},
    "portal_api_cors": {"blocked: TypeError"},
    "portal_api_simple": {"opaque"},
    "portal_admin_form": {"opaque"},
    "read_portal_admin": {"blocked: TypeError"},
    "read_portal_ticket": {"blocked: TypeError"},
    "frame_portal": {"no access", "no load", "blocked: SecurityError"},
    "popup_portal": {"no popup", "blocked: SecurityError", "blocked: TypeError"},
    "ws_portal_notebooks": {"refused"},
    "ws_portal_apps": {"refused"},
    "ws_own_notebooks": {"refused"},
    "own_mlflow": {"404"},
}


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningServer, Workbench]]:
    root, _ = init_workspace(tmp_path_factory.mktemp("hostile") / "ws")
    workbench = Workbench(Workspace.open(root, environ={}))
    workbench.users.create("root", "admin", PASSWORD)
    workbench.users.create("eve", "scientist", PASSWORD)
    server = start_server(workbench.workspace)
    eve = person(workbench, "eve")
    workbench.apps.deploy("evil", HOSTILE % {"portal": server.url}, eve)
    yield server, workbench
    server.stop()
    workbench.close()


@pytest.mark.browser
def test_a_hostile_app_opened_by_an_admin_cannot_act_as_the_admin(hostile) -> None:  # type: ignore[no-untyped-def]
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (see .ci/run)")
    from playwright.sync_api import sync_playwright

    server, workbench = hostile
    users_before = {u.name for u in workbench.users.list()}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_context().new_page()
        page.set_default_timeout(90_000)
        page.goto(f"{server.url}/apps/evil/")
        page.fill("input[name=name]", "root")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{server.apps_url}/apps/evil/")
        report = page.frame_locator("iframe").first.locator("#report[data-done]")
        results = json.loads(report.inner_text(timeout=90_000))

        # The control: the same reads succeed from a page of the portal itself, so what
        # stops them above is the origin the app runs in.
        page.goto(f"{server.url}/apps")
        control = page.evaluate(
            """async () => /csrf_token/.test(await (await fetch("/admin/users")).text())"""
        )
        browser.close()

    assert control is True
    cookies = results.pop("cookie")
    assert "atelier_session" not in cookies and "atelier_app" not in cookies, cookies
    for attack, allowed in EXPECTED.items():
        assert results[attack] in allowed, (attack, results[attack])
    assert {u.name for u in workbench.users.list()} == users_before
    assert "mallory" not in {u.name for u in workbench.users.list()}
    created = [e for e in workbench.audit.entries(limit=200) if e.action == "user.create"]
    assert [e.target for e in created if e.target == "mallory"] == []


def test_mlflow_artifacts_are_served_sandboxed(hostile) -> None:  # type: ignore[no-untyped-def]
    server, workbench = hostile
    _, token = workbench.tokens.create("eve", "test", 1)
    headers = {"Authorization": f"Bearer {token}"}
    api = f"{server.url}/mlflow/api/2.0/mlflow"
    run = httpx.post(
        f"{api}/runs/create", json={"experiment_id": "0"}, headers=headers, timeout=120
    )
    assert run.status_code == 200, run.text
    run_id = run.json()["run"]["info"]["run_id"]
    page = b"<html><script>fetch('/api/v1/users', {method: 'POST'})</script></html>"
    artifacts = f"{server.url}/mlflow/api/2.0/mlflow-artifacts/artifacts/0/{run_id}/artifacts"
    uploaded = httpx.put(f"{artifacts}/evil.html", content=page, headers=headers, timeout=60)
    assert uploaded.status_code == 200, uploaded.text
    for url in (
        f"{artifacts}/evil.html",
        f"{server.url}/mlflow/get-artifact?path=evil.html&run_uuid={run_id}",
        f"{server.url}/mlflow/ajax-api/2.0/mlflow-artifacts/artifacts/0/{run_id}/artifacts/evil.html",
    ):
        served = httpx.get(url, headers=headers, timeout=60)
        assert served.status_code == 200 and served.content == page, url
        # Any other policy (the portal's frame-ancestors) is enforced as well; none loosens it.
        assert "sandbox" in served.headers.get_list("content-security-policy"), url
        assert served.headers["x-content-type-options"] == "nosniff", url
    # MLflow's own UI still runs its scripts in the portal's origin.
    ui = httpx.get(f"{server.url}/mlflow/", headers=headers, timeout=60)
    assert ui.status_code == 200
    assert "sandbox" not in ui.headers.get("content-security-policy", "")
