"""Page markup that layout depends on: the login box is centred, the home page's Python example
wraps, and the Users list says which account is the local owner (the OS user's passwordless
admin). Browser checks of the same pages are in tests/browser/test_layout_browser.py."""

from atelier.services.auth.owner import owner_name
from tests.conftest import Accounts

HTML = {"Accept": "text/html,application/xhtml+xml"}


def test_login_box_is_centred(client) -> None:  # type: ignore[no-untyped-def]
    page = client.get("/login", headers=HTML).text
    assert '<section class="card narrow centred" data-testid="login-box">' in page


def test_home_python_example_wraps(client, accounts: Accounts) -> None:  # type: ignore[no-untyped-def]
    page = client.get("/", headers={**accounts.headers("scientist"), **HTML}).text
    assert '<pre class="wrap"' in page and "ATELIER_URL and ATELIER_TOKEN say where and who" in page


def test_users_list_labels_the_local_owner(client, accounts: Accounts, workbench) -> None:  # type: ignore[no-untyped-def]
    owner = workbench.owner().name
    assert owner == owner_name()
    workbench.users.create("linky", "scientist")  # passwordless, but not the owner
    page = client.get("/admin/users", headers={**accounts.headers("admin"), **HTML}).text

    def row(name: str) -> str:
        start = page.index(f'<tr data-user="{name}">')
        return page[start : page.index("</tr>", start)]

    assert 'data-testid="local-owner"' in row(owner)
    assert "local owner, signs in by link" in row(owner)
    assert "link only" in row("linky") and "local owner" not in row("linky")
    assert "<td>set</td>" in row("admin1") and "local owner" not in row("admin1")
