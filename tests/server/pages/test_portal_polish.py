"""Portal pages for people: HTML error pages, the icon, the home page per role, the server
page for administrators and a login text that matches the form."""

from tests.conftest import Accounts

HTML = {"Accept": "text/html,application/xhtml+xml"}


def test_viewer_refused_a_portal_page_gets_an_html_page_with_a_way_back(
    client, accounts: Accounts
) -> None:  # type: ignore[no-untyped-def]
    headers = {**accounts.headers("viewer"), **HTML, "Referer": "http://127.0.0.1/apps"}
    response = client.get("/data", headers=headers)
    assert response.status_code == 403
    assert response.headers["content-type"].startswith("text/html")
    assert 'data-testid="error-page"' in response.text
    assert "You may not open <code>/data</code>" in response.text
    assert "role &#39;viewer&#39; may not do this" in response.text
    assert 'href="/apps" data-testid="error-back"' in response.text


def test_way_back_never_leaves_the_site(client, accounts: Accounts) -> None:  # type: ignore[no-untyped-def]
    for referer in ("https://evil.example/phish", "//evil.example/x", "javascript:alert(1)"):
        headers = {**accounts.headers("viewer"), **HTML, "Referer": referer}
        response = client.get("/data", headers=headers)
        assert response.status_code == 403
        assert 'href="/" data-testid="error-back"' in response.text
        assert "evil.example" not in response.text and "javascript:" not in response.text


def test_api_and_scripts_keep_json_errors(client, accounts: Accounts) -> None:  # type: ignore[no-untyped-def]
    # An API route keeps JSON even for a browser-like Accept header.
    api = client.get("/api/v1/users", headers={**accounts.headers("viewer"), **HTML})
    assert api.status_code == 403 and api.headers["content-type"] == "application/json"
    assert "viewer" in api.json()["detail"]
    # A page fetched by a script (no text/html) and an htmx fragment get JSON as well.
    script = client.get("/data", headers=accounts.headers("viewer"))
    assert script.status_code == 403 and "detail" in script.json()
    fragment = client.get(
        "/data", headers={**accounts.headers("viewer"), **HTML, "HX-Request": "true"}
    )
    assert fragment.status_code == 403 and "detail" in fragment.json()


def test_unknown_page_gets_an_html_404(client, accounts: Accounts) -> None:  # type: ignore[no-untyped-def]
    response = client.get("/no-such-page", headers={**accounts.headers("scientist"), **HTML})
    assert response.status_code == 404
    assert "Not found" in response.text and "<code>/no-such-page</code>" in response.text


def test_favicon_is_served_and_linked(client, accounts: Accounts) -> None:  # type: ignore[no-untyped-def]
    icon = client.get("/static/favicon.svg")
    assert icon.status_code == 200 and icon.headers["content-type"].startswith("image/svg+xml")
    assert "<svg" in icon.text and len(icon.content) < 4096
    assert client.get("/favicon.ico").status_code == 200
    for path in ("/login", "/"):
        page = client.get(path, headers={**accounts.headers("scientist"), **HTML})
        assert '<link rel="icon" href="/static/favicon.svg"' in page.text


def test_home_keeps_server_internals_from_scientists_and_viewers(
    client, accounts: Accounts, workbench
) -> None:  # type: ignore[no-untyped-def]
    root = str(workbench.workspace.root)
    dialect = workbench.db.engine.dialect.name
    for role in ("scientist", "viewer"):
        home = client.get("/", headers={**accounts.headers(role), **HTML})
        assert home.status_code == 200 and f"Welcome, {role}1" in home.text
        assert root not in home.text
        assert f"<dd>{dialect}</dd>" not in home.text and "Metadata" not in home.text
        assert "/admin/server" not in home.text
        refused = client.get("/admin/server", headers={**accounts.headers(role), **HTML})
        assert refused.status_code == 403 and root not in refused.text


def test_admin_server_page_shows_them_to_admins(client, accounts: Accounts, workbench) -> None:  # type: ignore[no-untyped-def]
    home = client.get("/", headers={**accounts.headers("admin"), **HTML})
    assert str(workbench.workspace.root) not in home.text and 'href="/admin/server"' in home.text
    page = client.get("/admin/server", headers={**accounts.headers("admin"), **HTML})
    assert page.status_code == 200
    assert str(workbench.workspace.root) in page.text
    assert f"<dd>{workbench.db.engine.dialect.name}</dd>" in page.text
    assert "<dt>Users</dt><dd>3</dd>" in page.text


def test_login_text_matches_the_password_form(client) -> None:  # type: ignore[no-untyped-def]
    page = client.get("/login").text
    assert 'type="password"' in page
    assert "one-time link that" not in page
    assert "Log in with" in page and "password" in page.split('data-testid="login-hint"')[1]


def test_projects_nav_opens_the_projects_page(client, accounts: Accounts) -> None:  # type: ignore[no-untyped-def]
    home = client.get("/", headers={**accounts.headers("scientist"), **HTML}).text
    assert '<a href="/projects">Projects</a>' in home and ">Notebooks</a>" not in home
    page = client.get("/projects", headers={**accounts.headers("scientist"), **HTML}).text
    assert "<title>Projects · Atelier</title>" in page
