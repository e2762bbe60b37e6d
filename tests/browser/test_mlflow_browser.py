"""MLflow's UI through Atelier in headless Chromium: it renders after login, refuses without,
and shows neither its telemetry notice nor its assistant."""

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
    _assert_no_telemetry_notice_nor_assistant(page)

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

    # Without Atelier's settings files, MLflow's own defaults show both: what the checks
    # above would catch if the page stopped carrying them.
    page.route("**/static/mlflow-settings.*", lambda route: route.abort())
    page.evaluate("() => window.localStorage.clear()")
    page.goto(f"{server.url}/mlflow/")
    page.get_by_text(TELEMETRY_NOTICE).first.wait_for(timeout=120_000)
    page.locator("[data-assistant-ui]:visible").first.wait_for(timeout=60_000)


TELEMETRY_NOTICE = "Information about UI telemetry"


def _assert_no_telemetry_notice_nor_assistant(page) -> None:  # type: ignore[no-untyped-def]
    # Served from 127.0.0.1, MLflow renders its assistant button (for a local server): hidden.
    page.locator("[data-assistant-ui]").first.wait_for(state="attached", timeout=60_000)
    assert page.locator("[data-assistant-ui]:visible").count() == 0
    assert page.get_by_text(TELEMETRY_NOTICE).count() == 0
    stored = page.evaluate(
        """() => [
            window.localStorage.getItem("mlflow.settings.telemetry.enabled_v1"),
            window.localStorage.getItem("mlflow.telemetry.info.alert.dismissed_v1"),
        ]"""
    )
    assert stored == ["false", "true"]
