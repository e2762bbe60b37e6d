"""MLflow's UI through Atelier in headless Chromium: it renders after login, refuses without."""

import pytest

from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser


def test_mlflow_ui_renders_behind_the_login(portal, page) -> None:  # type: ignore[no-untyped-def]
    server, workbench = portal
    workbench.users.create("ada", "scientist", PASSWORD)
    # The first /mlflow page waits for MLflow's server, which `atelier up` is still starting.
    page.set_default_navigation_timeout(120_000)

    # Without a session: the UI sends to the login page, the API refuses.
    page.goto(f"{server.url}/mlflow/")
    assert page.url.startswith(f"{server.url}/login?next=/mlflow/")
    refused = page.request.get(f"{server.url}/mlflow/ajax-api/2.0/mlflow/experiments/search")
    assert refused.status == 401

    page.fill("input[name=name]", "ada")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{server.url}/mlflow/**", timeout=60_000)

    # MLflow's React app loads its assets and data through the proxy and lists experiments.
    page.get_by_text("Default", exact=True).first.wait_for(timeout=120_000)
    assert page.locator("text=Default").count() >= 1

    # A state change from MLflow's own UI code (same-origin fetch, no Atelier CSRF token).
    created = page.evaluate(
        """async () => {
            const response = await fetch("/mlflow/ajax-api/2.0/mlflow/experiments/create", {
                method: "POST",
                headers: {"Content-Type": "application/json"},
                body: JSON.stringify({name: "from-the-browser"}),
            });
            return response.status;
        }"""
    )
    assert created == 200
    page.goto(f"{server.url}/experiments")
    assert page.get_by_text("from-the-browser").count() == 1
