"""Every main portal page passes axe-core (vendored in ``tests/browser/vendor``, for the tests
only) with no serious or critical violation, as a scientist and, for the admin pages, as an
admin; forms and tables are reachable with the keyboard; the home page shows the person's own
runs, logged through the ``/mlflow`` gateway, at 1400 and 800 px."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from atelier.services.auth import Principal
from atelier.services.workbench import Workbench
from tests.conftest import PASSWORD, RunningServer, start_server
from tests.services.serving.helpers import workspace_with_model

pytestmark = pytest.mark.browser

AXE = Path(__file__).parent / "vendor" / "axe.min.js"
#: Set ATELIER_SCREENSHOTS=/some/dir to keep screenshots of the pages at 1400 and 800 px.
SHOTS = os.environ.get("ATELIER_SCREENSHOTS")

#: The pages a scientist works in (the table, its profile and the model card included).
SCIENTIST_PAGES = [
    "/",
    "/data",
    "/data/tables/bank.customers",
    "/data/tables/bank.customers/profile",
    "/data/sql",
    "/data/upload",
    "/data/sources",
    "/features",
    "/experiments",
    "/models",
    "/models/churn",
    "/jobs",
    "/apps",
    "/projects",
    "/notebooks/lab",
    "/admin/tokens",
]
ADMIN_PAGES = ["/admin/users", "/admin/audit", "/admin/audit/raw-reads", "/admin/server"]

RUN_AXE = """async () => {
  const result = await axe.run(document, {resultTypes: ["violations"]});
  return result.violations
    .filter(v => v.impact === "serious" || v.impact === "critical")
    .map(v => ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 5)
      .map(n => n.target.join(" ") + " :: " + n.failureSummary)}));
}"""


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningServer, Workbench]]:
    import pyarrow as pa

    workspace = workspace_with_model(tmp_path_factory.mktemp("a11y") / "ws")
    workbench = Workbench(workspace)
    sam = workbench.users.create("sam", "scientist", PASSWORD)
    workbench.users.create("ada", "admin", PASSWORD)
    customers = pa.table(
        {
            "id": list(range(1, 41)),
            "segment": ["gold", "silver", "bronze", "gold"] * 10,
            "balance": [1000.0 * (i % 7) + i for i in range(40)],
        }
    )
    workbench.ingest.upload(
        customers, "bank.customers", principal=Principal(sam.id, "sam", "scientist", "token")
    )
    server = start_server(workspace)
    yield server, workbench
    server.stop()
    workbench.close()


def log_in(page: Any, url: str, name: str) -> None:
    page.goto(f"{url}/login")
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{url}/")


def violations(page: Any) -> list[dict[str, Any]]:
    # Evaluated through the browser's debugging protocol: the portal's CSP (no inline
    # scripts) stays on for the page, and axe is never served by it.
    page.evaluate(AXE.read_text() + "\n;true")
    found: list[dict[str, Any]] = page.evaluate(RUN_AXE)
    return found


def shoot(page: Any, name: str) -> None:
    if SHOTS:
        page.screenshot(path=str(Path(SHOTS) / f"{name}.png"), full_page=True)


def test_every_main_page_passes_axe(site, page) -> None:  # type: ignore[no-untyped-def]
    server, _ = site
    page.set_default_timeout(60_000)
    page.set_viewport_size({"width": 1400, "height": 900})
    page.goto(f"{server.url}/login")
    failures: dict[str, Any] = {}
    if found := violations(page):
        failures["/login"] = found
    log_in(page, server.url, "sam")
    for path in SCIENTIST_PAGES:
        response = page.goto(f"{server.url}{path}")
        # JupyterLab may still be starting: its waiting page is checked as it is.
        assert (response is not None and response.status < 500) or path == "/notebooks/lab", path
        if path == "/data/sql":  # the schema browser fills in after the page: check it too
            page.locator("#sql-schema-tree details").first.wait_for(state="attached")
        if found := violations(page):
            failures[path] = found
    # The upload page with a file previewed: the read options and the type of each column.
    page.goto(f"{server.url}/data/upload")
    page.set_input_files(
        "#file-input",
        files=[{"name": "sales.csv", "mimeType": "text/csv", "buffer": b"id,amount\n1,2.5\n"}],
    )
    page.get_by_test_id("preview").wait_for(state="visible")
    if found := violations(page):
        failures["/data/upload (preview)"] = found
    page.context.clear_cookies()
    log_in(page, server.url, "ada")
    for path in ADMIN_PAGES:
        response = page.goto(f"{server.url}{path}")
        assert response is not None and response.status == 200, path
        if found := violations(page):
            failures[path] = found
    assert not failures, json.dumps(failures, indent=1)


def test_keyboard_reaches_forms_and_tables(site, page) -> None:  # type: ignore[no-untyped-def]
    server, _ = site
    log_in(page, server.url, "sam")
    # The skip link comes first and moves the focus to the main content.
    page.goto(f"{server.url}/data/upload")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent.trim()") == "Skip to content"
    page.keyboard.press("Enter")
    assert page.evaluate("location.hash") == "#content"
    # A form is filled and sent with the keyboard alone: the token form.
    page.goto(f"{server.url}/admin/tokens")
    reached = []
    for _ in range(40):
        page.keyboard.press("Tab")
        reached.append(
            page.evaluate("document.activeElement.name || document.activeElement.tagName")
        )
        if reached[-1] == "name":
            break
    assert reached[-1] == "name", reached
    # A wide table scrolls with the keyboard: its scrolling box takes the focus.
    page.goto(f"{server.url}/data/tables/bank.customers")
    box = page.locator(".sample")
    assert box.get_attribute("tabindex") == "0"
    assert box.get_attribute("role") == "region" and box.get_attribute("aria-label")


def test_home_shows_the_persons_runs(site, page, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    server, workbench = site
    token = workbench.tokens.create("sam", "a11y", 1)[1]
    with httpx.Client(
        base_url=f"{server.url}/mlflow/api/2.0/mlflow",
        headers={"Authorization": f"Bearer {token}"},
        timeout=120,
    ) as mlflow:
        made = mlflow.post("/experiments/create", json={"name": "sam-churn"})
        assert made.status_code == 200, made.text
        experiment = made.json()["experiment_id"]
        run = mlflow.post(
            "/runs/create", json={"experiment_id": experiment, "run_name": "sam-first-run"}
        )
        assert run.status_code == 200, run.text
    log_in(page, server.url, "sam")
    for width in (1400, 800):
        page.set_viewport_size({"width": width, "height": 900})
        page.goto(f"{server.url}/")
        runs = page.get_by_test_id("home-runs")
        assert "sam-first-run" in runs.inner_text() and "sam-churn" in runs.inner_text()
        assert "bank.customers" in page.get_by_test_id("home-tables").inner_text()
        fits = page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
        assert fits, f"the home page is wider than {width} px"
        shoot(page, f"home-{width}")


def test_upload_into_ones_schema_and_pages_fit_narrow_windows(site, page) -> None:  # type: ignore[no-untyped-def]
    server, workbench = site
    log_in(page, server.url, "sam")
    for width in (1400, 800):
        page.set_viewport_size({"width": width, "height": 900})
        page.goto(f"{server.url}/data/upload?schema=user_sam")
        page.set_input_files(
            "#file-input",
            files=[{"name": f"mine {width}.csv", "mimeType": "text/csv", "buffer": b"id\n1\n"}],
        )
        page.get_by_test_id("preview").wait_for(state="visible")
        offered = page.locator("select[name=schema] option").all_inner_texts()
        assert offered == ["main (shared)", "user_sam (yours)"]
        assert page.locator("select[name=schema]").input_value() == "user_sam"
        shoot(page, f"upload-{width}")
        page.click("#create-button")
        result = page.get_by_test_id("upload-result")
        result.wait_for(state="visible")
        assert f"user_sam.mine_{width}" in result.inner_text()
        assert "version 1 (lake snapshot" in result.inner_text()
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
        page.goto(f"{server.url}/data/tables/user_sam.mine_{width}")
        assert page.get_by_test_id("table-version").inner_text().startswith("1 (lake snapshot")
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
        shoot(page, f"table-{width}")
    assert workbench.warehouse.table("mine_800", schema="user_sam").row_count == 1
