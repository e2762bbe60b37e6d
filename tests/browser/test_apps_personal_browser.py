"""A generated app in Chromium marks its personal fields, and what its users type there or
in a comment is masked before it is kept; the owner marks one more field from the portal."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from atelier.services.auth import Principal
from atelier.services.workbench import Workbench
from tests.browser.test_apps_browser import log_in
from tests.conftest import PASSWORD, RunningServer, start_server
from tests.services.serving.personal_model import EMAIL, NAME, workspace_with_contacts

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def contacts_portal(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[RunningServer, Workbench]]:
    workspace = workspace_with_contacts(tmp_path_factory.mktemp("apps-personal") / "ws")
    workbench = Workbench(workspace)
    workbench.users.create("ada", "scientist", PASSWORD)
    workbench.users.create("vic", "viewer", PASSWORD)
    ada = workbench.users.get("ada")
    owner = Principal(ada.id, "ada", "scientist", "local")
    workbench.apps.create("contacts-app", "contacts@champion", owner, title="Will they answer?")
    workbench.apps.registry.share("contacts-app", owner, users=["vic"])
    server = start_server(workspace)
    yield server, workbench
    server.stop()
    workbench.close()


def test_the_form_marks_personal_fields_and_feedback_is_masked(contacts_portal, page) -> None:  # type: ignore[no-untyped-def]
    server, _ = contacts_portal
    page.set_default_timeout(90_000)  # the server loads MLflow and the model on first use
    log_in(page, server.url, "vic", "/apps/contacts-app")

    badges = page.get_by_test_id("personal-badge")
    assert sorted(badges.all_inner_texts()) == [
        "personal data: email",
        "personal data: iban",
        "personal data: person name",
    ]
    email = page.locator("input[name=email]")
    assert email.get_attribute("aria-describedby") == "pii-email"
    assert email.get_attribute("data-personal") == "email"
    assert page.locator("#pii-email").inner_text() == "personal data: email"
    assert email.input_value() == ""  # never the example's address
    assert page.locator("input[name=full_name]").input_value() == ""
    assert page.locator("select[name=city]").get_attribute("aria-describedby") is None
    assert page.get_by_test_id("personal-note").is_visible()

    email.fill(EMAIL)
    page.fill("input[name=full_name]", NAME)
    page.fill("input[name=account]", "GB82WEST12345698765432")
    page.click("button[type=submit]:has-text('Predict')")
    assert page.get_by_test_id("prediction-value").inner_text() in ("respond", "ignore")
    page.check("input[name=verdict][value=right]")
    page.fill("textarea[name=comment]", f"She wrote from {EMAIL}")
    page.click("text=Send feedback")
    assert "right" in page.get_by_test_id("feedback-thanks").inner_text()

    page.goto(f"{server.url}/apps")
    page.click("text=Log out")
    log_in(page, server.url, "ada", "/apps/contacts-app/-/feedback")
    comments = page.get_by_test_id("comments").inner_text()
    assert "[redacted]" in comments and EMAIL not in comments
    assert "personal data: iban" in page.get_by_test_id("personal-fields").inner_text()

    form = page.get_by_test_id("mark-personal")
    form.locator("select[name=field]").select_option("city")
    form.locator("select[name=kind]").select_option("postal_address")
    form.locator("button[type=submit]").click()
    page.wait_for_url(f"{server.url}/apps/contacts-app/-/feedback")
    assert "personal data: postal address" in page.get_by_test_id("personal-fields").inner_text()
    page.goto(f"{server.url}/apps/contacts-app")
    assert page.locator("input[name=city]").get_attribute("data-personal") == "postal_address"
