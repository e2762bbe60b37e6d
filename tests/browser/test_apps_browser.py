"""Apps in a real browser: a viewer uses a generated app and gives feedback that the
scientist finds in the portal and in SQL; a hosted Streamlit app through the gateway."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import expect

from atelier.errors import InvalidInput
from atelier.services.workbench import Workbench
from tests.conftest import PASSWORD, RunningServer, start_server
from tests.services.serving.helpers import workspace_with_model

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def apps_portal(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[RunningServer, Workbench]]:
    workspace = workspace_with_model(tmp_path_factory.mktemp("apps-browser") / "ws")
    workbench = Workbench(workspace)
    workbench.users.create("ada", "scientist", PASSWORD)
    workbench.users.create("vic", "viewer", PASSWORD)
    ada = workbench.users.get("ada")
    from atelier.services.auth import Principal

    scientist = Principal(ada.id, "ada", "scientist", "local")
    workbench.apps.create("churn-demo", "churn@champion", scientist, title="Will they churn?")
    workbench.apps.registry.share("churn-demo", scientist, users=["vic"])
    hello = "import streamlit as st\nst.title('Hello from Streamlit')\nst.write('rows:', 42)\n"
    workbench.apps.deploy("hello", hello, scientist)
    server = start_server(workspace)
    yield server, workbench
    server.stop()
    workbench.close()


def log_in(page, url: str, name: str, target: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{url}{target}")
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{url}{target}")


def assert_form_layout(page) -> None:  # type: ignore[no-untyped-def]
    """Radio buttons and check boxes sit on one line with their label text, just before it;
    the comment box is as wide as the feedback form."""
    for width in (1400, 800):
        page.set_viewport_size({"width": width, "height": 900})
        for selector in (
            "input[name=verdict][value=right]",
            "input[name=verdict][value=wrong]",
            "input[data-widget=boolean]",
        ):
            box = page.locator(selector).first.bounding_box()
            label = page.locator(f"label:has({selector})").first.bounding_box()
            assert box and label
            assert box["x"] - label["x"] < 8, (width, selector, box, label)
            assert label["height"] < 2 * box["height"] + 16, (width, selector, label)
        form = page.locator("#feedback-form").bounding_box()
        comment = page.locator("textarea[name=comment]").bounding_box()
        assert form and comment and comment["width"] > 0.9 * form["width"], (form, comment)
        assert comment["height"] > 50
        page.screenshot(path=f"/tmp/app-form-{width}.png", full_page=True)
    page.set_viewport_size({"width": 1400, "height": 900})


def test_a_viewer_predicts_and_gives_feedback_the_scientist_sees(apps_portal, page) -> None:  # type: ignore[no-untyped-def]
    server, workbench = apps_portal
    page.set_default_timeout(90_000)  # the server loads MLflow and the model on first use
    log_in(page, server.url, "vic", "/apps")
    assert page.locator("header nav a").all_inner_texts() == ["Apps"]
    page.click("text=Will they churn?")
    page.wait_for_url(f"{server.url}/apps/churn-demo")
    widgets = page.locator("[data-widget]")
    kinds = {widgets.nth(i).get_attribute("data-widget") for i in range(widgets.count())}
    assert kinds == {"integer", "number", "category", "boolean", "date", "text"}
    assert page.locator("select[name=segment] option").count() == 4
    assert page.locator("input[name=age]").input_value() != ""
    assert "churn" in page.get_by_test_id("model-card").inner_text()

    page.click("text=Predict")
    value = page.get_by_test_id("prediction-value").inner_text()
    assert value in ("churn", "stay")
    assert page.get_by_test_id("prediction-probability").inner_text().endswith("%")
    assert_form_layout(page)
    page.check("input[name=verdict][value=wrong]")
    page.fill("input[name=correct_value]", "stay" if value == "churn" else "churn")
    page.fill("textarea[name=comment]", "She renewed her mortgage last week")
    page.click("text=Send feedback")
    assert "wrong" in page.get_by_test_id("feedback-thanks").inner_text()

    # The viewer reaches nothing else of the workspace.
    response = page.goto(f"{server.url}/data")
    assert response is not None and response.status == 403

    page.goto(f"{server.url}/apps")
    page.click("text=Log out")
    log_in(page, server.url, "ada", "/apps/churn-demo/-/feedback")
    assert "She renewed her mortgage last week" in page.get_by_test_id("comments").inner_text()
    assert page.get_by_test_id("agreement").inner_text() == "0%"
    assert "vic" in page.get_by_test_id("feedback-table").inner_text()

    deadline = time.monotonic() + 30
    rows: list[dict[str, object]] = []
    while time.monotonic() < deadline and not rows:
        try:
            with workbench.query.run("SELECT * FROM feedback.churn_demo", user="ada") as result:
                rows = result.to_arrow().to_pylist()
        except InvalidInput as exc:  # shipped in the background: the table may not exist yet
            assert "does not exist" in str(exc), exc
        if not rows:
            time.sleep(0.5)
    assert [(r["verdict"], r["comment"], r["given_by"]) for r in rows] == [
        ("wrong", "She renewed her mortgage last week", "vic")
    ]


def test_a_hosted_streamlit_app_renders_on_the_apps_origin(apps_portal, page) -> None:  # type: ignore[no-untyped-def]
    server, _ = apps_portal
    page.set_default_timeout(90_000)
    anonymous = httpx.get(f"{server.url}/apps/hello/", headers={"Accept": "text/html"})
    assert anonymous.status_code == 303 and "/login" in anonymous.headers["location"]
    assert httpx.get(f"{server.apps_url}/apps/hello/_stcore/health").status_code == 401

    # The portal's link logs in, then hands the visitor over to the apps origin.
    page.goto(f"{server.url}/apps/hello/")
    page.fill("input[name=name]", "ada")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{server.apps_url}/apps/hello/")
    page.get_by_text("Hello from Streamlit").wait_for(timeout=60_000)
    # Streamlit draws its elements one by one: the second may come a moment after the title.
    expect(page.locator("body")).to_contain_text("42", timeout=30_000)

    page.goto(f"{server.url}/apps/hello/-/logs")
    assert "starting hello" in page.get_by_test_id("app-logs").inner_text()


def test_one_origin_per_app_under_a_wildcard_name(tmp_path, page) -> None:  # type: ignore[no-untyped-def]
    """``server.apps_domain``: app NAME at NAME.apps.localhost (Chromium resolves every
    ``*.localhost`` name to this machine, as a wildcard DNS record would)."""
    from atelier.config import Workspace, init_workspace
    from atelier.services.auth import Principal

    root, _ = init_workspace(tmp_path / "ws")
    workbench = Workbench(Workspace.open(root, environ={}))
    ada = workbench.users.create("ada", "scientist", PASSWORD)
    workbench.apps.deploy(
        "hello", "import streamlit as st\nst.title('Hello from my own origin')\n",
        Principal(ada.id, "ada", "scientist", "local"),
    )  # fmt: skip
    server = start_server(workbench.workspace, apps_domain="apps.localhost")
    try:
        page.set_default_timeout(90_000)
        page.goto(f"{server.url}/apps/hello/")
        page.fill("input[name=name]", "ada")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        own = server.apps_url.format(name="hello")
        page.wait_for_url(f"{own}/apps/hello/")
        page.get_by_text("Hello from my own origin").wait_for(timeout=60_000)  # its WebSocket
        cookies = {c["name"]: c for c in page.context.cookies() if c["name"] == "atelier_app"}
        assert cookies["atelier_app"]["domain"] == "hello.apps.localhost"
        # The same app at another app's host name is not served.
        other = page.goto(f"{server.apps_url.format(name='other')}/apps/hello/")
        assert other is not None and other.status == 404
    finally:
        server.stop()
        workbench.close()
