"""Logging in and out through the portal, in-process."""

import re

from tests.conftest import PASSWORD, Accounts


def login_form(client) -> str:  # type: ignore[no-untyped-def]
    page = client.get("/login")
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match
    return match.group(1)


def test_password_login_home_and_logout(client, accounts: Accounts, workbench) -> None:  # type: ignore[no-untyped-def]
    csrf = login_form(client)
    response = client.post(
        "/login",
        data={"name": "scientist1", "password": PASSWORD, "csrf_token": csrf, "next": "/data"},
        follow_redirects=False,
    )
    assert response.status_code == 303 and response.headers["location"] == "/data"
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie
    home = client.get("/")
    assert "Welcome, scientist1" in home.text
    assert 'href="/admin/users"' not in home.text  # no Admin for scientists
    token = re.search(r'name="csrf_token" value="([^"]+)"', home.text)
    assert token
    out = client.post("/logout", data={"csrf_token": token.group(1)}, follow_redirects=False)
    assert out.status_code == 303
    assert client.get("/api/v1/me").status_code == 401
    actions = [(e.action, e.actor) for e in workbench.audit.entries(limit=2)]
    assert actions == [("logout", "scientist1"), ("login", "scientist1")]


def test_wrong_password_is_refused_and_audited(client, accounts: Accounts, workbench) -> None:  # type: ignore[no-untyped-def]
    csrf = login_form(client)
    response = client.post(
        "/login", data={"name": "admin1", "password": "wrong password!", "csrf_token": csrf}
    )
    assert response.status_code == 401
    assert "Wrong user name or password." in response.text
    entry = workbench.audit.entries(limit=1)[0]
    assert (entry.action, entry.actor, entry.success) == ("login", "admin1", False)


def test_login_form_needs_its_csrf_cookie(client, accounts: Accounts) -> None:  # type: ignore[no-untyped-def]
    response = client.post(
        "/login", data={"name": "admin1", "password": PASSWORD, "csrf_token": "forged"}
    )
    assert response.status_code == 403


def test_next_cannot_leave_the_site(client, accounts: Accounts) -> None:  # type: ignore[no-untyped-def]
    csrf = login_form(client)
    response = client.post(
        "/login",
        data={"name": "admin1", "password": PASSWORD, "csrf_token": csrf, "next": "//evil.example"},
        follow_redirects=False,
    )
    assert response.headers["location"] == "/"


def test_viewer_sees_only_apps(client, accounts: Accounts) -> None:  # type: ignore[no-untyped-def]
    csrf = login_form(client)
    client.post("/login", data={"name": "viewer1", "password": PASSWORD, "csrf_token": csrf})
    home = client.get("/").text
    assert 'href="/apps"' in home and 'href="/data"' not in home
    assert client.get("/data").status_code == 403


def test_used_login_link_is_refused(client, workbench) -> None:  # type: ignore[no-untyped-def]
    code = workbench.sessions.create_link(workbench.owner().name)
    assert client.get(f"/login/link?code={code}", follow_redirects=False).status_code == 303
    client.cookies.clear()
    again = client.get(f"/login/link?code={code}")
    assert again.status_code == 401 and "already used or expired" in again.text


def test_admin_pages_create_user_and_token(client, workbench) -> None:  # type: ignore[no-untyped-def]
    code = workbench.sessions.create_link(workbench.owner().name)
    client.get(f"/login/link?code={code}")
    page = client.get("/admin/users").text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert csrf
    made = client.post(
        "/admin/users",
        data={"name": "lin", "role": "viewer", "password": "short", "csrf_token": csrf.group(1)},
    )
    assert made.status_code == 422 and "at least 12 characters" in made.text
    made = client.post(
        "/admin/users",
        data={"name": "lin", "role": "viewer", "password": PASSWORD, "csrf_token": csrf.group(1)},
    )
    assert "User lin created." in made.text
    demoted = client.post(
        f"/admin/users/{workbench.owner().name}",
        data={"role": "viewer", "csrf_token": csrf.group(1)},
    )
    assert "cannot demote or disable your own account" in demoted.text
    audit = client.get("/admin/audit").text
    assert "user.create" in audit
