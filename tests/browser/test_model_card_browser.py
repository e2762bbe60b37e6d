"""The model card in Chromium, wide and narrow: the signature, the project's commit, lineage,
evaluation plots that load, and "Publish as app" serving the alias the user came from."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from atelier.services.workbench import Workbench
from tests.conftest import PASSWORD, RunningServer, start_server
from tests.server.pages.test_model_card import register_plain_model
from tests.services.serving.helpers import register_churn_model, workspace_with_model

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def card_portal(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[RunningServer, Workbench]]:
    from atelier.services.tracking import TrackingStore

    workspace = workspace_with_model(tmp_path_factory.mktemp("card-browser") / "ws")
    store = TrackingStore.for_workspace(workspace)
    register_churn_model(store.backend_uri, store.artifacts_dir / "churn", alias="challenger")
    register_plain_model(store.backend_uri, store.artifacts_dir / "plain")
    workbench = Workbench(workspace)
    workbench.users.create("ada", "scientist", PASSWORD)
    server = start_server(workspace)
    yield server, workbench
    server.stop()
    workbench.close()


def log_in(page, url: str, target: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{url}{target}")
    page.fill("input[name=name]", "ada")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{url}{target}")


def fits(page) -> bool:  # type: ignore[no-untyped-def]
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"))


def assert_dates_unbroken(page) -> None:  # type: ignore[no-untyped-def]
    """At 1400 and 800 px the run's start is one line of text, and the model URI stays in
    its column."""
    for width in (1400, 800):
        page.set_viewport_size({"width": width, "height": 1000})
        started = page.get_by_test_id("card-run-started")
        assert started.evaluate("(n) => n.getClientRects().length") == 1, width
        source = page.get_by_test_id("card-source")
        right = source.evaluate("(n) => n.closest('.card').getBoundingClientRect().right")
        box = source.bounding_box()
        assert box and box["x"] + box["width"] <= right, width
        page.screenshot(path=f"/tmp/model-card-{width}.png", full_page=True)
    page.set_viewport_size({"width": 1400, "height": 1000})


def test_the_card_says_true_things_wide_and_narrow(card_portal, page, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    server, _ = card_portal
    page.set_default_timeout(60_000)
    page.set_viewport_size({"width": 1400, "height": 1000})
    log_in(page, server.url, "/models/churn")
    card = page.get_by_test_id("model-card")
    assert "logged without a signature" not in card.inner_text()
    signature = page.get_by_test_id("signature").inner_text()
    assert "monthly_fees" in signature and "double" in signature
    form = page.get_by_test_id("publish-app")
    assert form.locator("select[name=target]").input_value() == "alias:champion"
    assert "Serves @champion, today version 1" in form.inner_text()
    page.screenshot(path=str(tmp_path / "churn-1400.png"), full_page=True)
    assert_dates_unbroken(page)

    page.click("[data-testid=alias] >> text=challenger")
    page.wait_for_url(f"{server.url}/models/churn?alias=challenger")
    assert "Model card: version 2" in page.inner_text("h2 >> nth=1")
    form = page.get_by_test_id("publish-app")
    assert form.locator("select[name=target]").input_value() == "alias:challenger"
    assert "Serves @challenger, today version 2" in form.inner_text()

    page.goto(f"{server.url}/models/plain")
    assert "This model was logged without a signature." in page.inner_text("body")
    assert "not a git repository" in page.get_by_test_id("card-git").inner_text()
    lineage = page.get_by_test_id("card-lineage")
    assert "ml.churn_train at lake snapshot 4" in lineage.inner_text()  # no such table here
    assert lineage.locator("a[href='/features/customer_stats']").count() == 1
    plots = page.get_by_test_id("card-plots").locator("img")
    assert plots.count() >= 4
    page.wait_for_load_state("networkidle")
    for i in range(plots.count()):  # each one loaded, through the portal's session
        assert plots.nth(i).evaluate("img => img.complete && img.naturalWidth > 0")
    page.screenshot(path=str(tmp_path / "plain-1400.png"), full_page=True)

    page.set_viewport_size({"width": 800, "height": 1000})
    for target in ("/models/plain", "/models/churn"):
        page.goto(f"{server.url}{target}")
        page.wait_for_load_state("networkidle")
        assert fits(page), f"{target} is wider than 800 px"
        name = target.rpartition("/")[2]
        page.screenshot(path=str(tmp_path / f"{name}-800.png"), full_page=True)
