"""The portal in a real browser: log in, see home, manage tokens, log out, wrong password."""

import re

import pytest

from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser


def test_password_login_home_logout_and_wrong_password(portal, page) -> None:  # type: ignore[no-untyped-def]
    server, workbench = portal
    workbench.users.create("ada", "scientist", PASSWORD)

    page.goto(f"{server.url}/data")
    assert page.url.startswith(f"{server.url}/login?next=")
    page.fill("input[name=name]", "ada")
    page.fill("input[name=password]", "not the password")
    page.click("button[type=submit]")
    assert page.locator("[role=alert]").inner_text() == "Wrong user name or password."

    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{server.url}/data")
    page.click("text=Atelier >> nth=0")
    assert page.locator("h1").inner_text() == "Welcome, ada"
    assert page.get_by_test_id("current-user").inner_text() == "ada"
    nav = page.locator("header nav a").all_inner_texts()
    assert nav == ["Data", "Projects", "Experiments", "Jobs", "Features", "Models", "Apps"]

    page.click("text=Log out")
    page.wait_for_url(f"{server.url}/login")
    page.goto(f"{server.url}/")
    assert "/login" in page.url
    logins = [(e.actor, e.success) for e in workbench.audit.entries(action="login")]
    assert logins == [("ada", True), ("ada", False)]


def test_link_login_and_tokens_with_htmx(portal, page) -> None:  # type: ignore[no-untyped-def]
    server, workbench = portal
    page.goto(server.login_link)
    assert page.locator("h1").inner_text().startswith("Welcome,")
    assert "Admin" in page.locator("header nav").inner_text()

    page.click("header >> text=Tokens")
    page.fill("input[name=name]", "notebook")
    page.click("text=Create token")
    token = page.get_by_test_id("new-token").inner_text()
    assert re.fullmatch(r"atl_[0-9a-f]{12}_\S+", token)
    assert workbench.tokens.authenticate(token) is not None

    page.once("dialog", lambda dialog: dialog.accept())
    page.click("text=Revoke")
    page.wait_for_selector("text=revoked")
    assert page.get_by_test_id("new-token").count() == 0
    assert workbench.tokens.authenticate(token) is None

    page.click("text=Audit log")
    assert "token.revoke" in page.get_by_test_id("audit-log").inner_text()
