"""Run pages and job pages in Chromium, wide and narrow: a run's metric chart drawn from its
history and its model registered from the page; a job watched while it runs (CPU and memory
charts drawn, updated by HTMX) and after it ended (the metrics it logged, its run's page)."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from atelier.config import Workspace
from atelier.services.workbench import Workbench
from tests.browser.test_model_card_browser import fits, log_in
from tests.conftest import PASSWORD, RunningServer, new_workspace, start_server
from tests.server.pages.test_run_page import log_training_run

pytestmark = pytest.mark.browser

SHOTS = Path("/tmp")
#: A job that holds memory, keeps a core busy and logs a metric over steps to its MLflow run
#: (the job gets MLFLOW_RUN_ID and the tracking URI from Atelier).
JOB = """\
import time
block = bytearray(60 * 2**20)
for i in range(0, len(block), 4096):
    block[i] = 1
import mlflow
with mlflow.start_run():
    for step in range(6):
        end = time.monotonic() + 1
        while time.monotonic() < end:
            pass
        mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
print("trained", flush=True)
"""


@pytest.fixture(scope="module")
def portal(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[RunningServer, Workbench, str, str]]:
    from atelier.services.tracking import TrackingStore

    root = new_workspace(tmp_path_factory.mktemp("runs-jobs-browser") / "ws")
    workspace = Workspace.open(root, environ={})
    workbench = Workbench(workspace)
    workbench.users.create("ada", "scientist", PASSWORD)
    server = start_server(workspace)
    # MLflow's server makes its store (and the Default experiment jobs log to) first, as in
    # a real workspace; the training run is then logged into that store.
    token = workbench.tokens.create("ada", "setup", 1)[1]
    made = httpx.post(
        f"{server.url}/mlflow/api/2.0/mlflow/experiments/search",
        json={"max_results": 10},
        headers={"Authorization": f"Bearer {token}"},
        timeout=180,
    )
    assert made.status_code == 200, made.text
    store = TrackingStore.for_workspace(workspace)
    run_id = log_training_run(store.backend_uri, store.artifacts_dir / "churn", user="ada")
    experiment_id = workbench.models.client.get_experiment_by_name("churn").experiment_id
    yield server, workbench, experiment_id, run_id
    server.stop()
    workbench.close()


def test_a_run_page_draws_its_metrics_and_registers_its_model(portal, page) -> None:  # type: ignore[no-untyped-def]
    server, workbench, experiment_id, run_id = portal
    page.set_default_timeout(90_000)
    page.set_viewport_size({"width": 1400, "height": 1000})
    target = f"/experiments/{experiment_id}/runs/{run_id}"
    log_in(page, server.url, target)
    chart = page.locator("[data-testid=metric-chart]").first
    chart.locator("svg").wait_for()
    assert "loss" in page.locator("[data-testid=metric-charts]").inner_text()
    assert "ml.churn_train at version 4" in page.get_by_test_id("run-lineage").inner_text()
    assert "email (email)" in page.get_by_test_id("run-personal-data").inner_text()
    assert fits(page)
    shoot(page, "run-1400")

    page.set_viewport_size({"width": 800, "height": 1000})
    page.reload()
    page.locator("[data-testid=metric-chart] svg").first.wait_for()
    assert fits(page), "the run page is wider than 800 px"
    shoot(page, "run-800")

    form = page.get_by_test_id("register-model")
    form.locator("input[name=name]").fill("churn-browser")
    form.locator("button[type=submit]").click()
    page.wait_for_url(f"{server.url}/models/churn-browser?version=1")
    assert "Model card: version 1" in page.inner_text("body")
    assert workbench.models.client.get_model_version("churn-browser", "1").run_id == run_id


def assert_rows_line_up(page) -> None:  # type: ignore[no-untyped-def]
    """Every label of the job's details (the live panel's too) starts at one x, every value
    at another."""
    edges = page.evaluate(
        "() => ['dl.job > dt', 'dl.job > dd'].map((s) => [...document.querySelectorAll(s)]"
        ".map((n) => Math.round(n.getBoundingClientRect().left)))"
    )
    labels, values = edges
    assert len(labels) >= 6 and len(set(labels)) == 1 and len(set(values)) == 1, edges


def test_a_job_page_shows_resources_while_it_runs_and_its_metrics_after(  # type: ignore[no-untyped-def]
    portal, page, tmp_path: Path
) -> None:
    server, workbench, _, _ = portal
    token = workbench.tokens.create("ada", "browser", 1)[1]
    job_file = workbench.workspace.root / "train_job.py"
    job_file.write_text(JOB)
    submitted = httpx.post(
        f"{server.url}/api/v1/jobs",
        json={"target": [sys.executable, str(job_file)]},
        headers={"Authorization": f"Bearer {token}"},
        timeout=180,
    )
    assert submitted.status_code == 201, submitted.text
    job = submitted.json()
    assert job["mlflow_run_id"], job["notes"]

    page.set_default_timeout(120_000)
    page.set_viewport_size({"width": 1400, "height": 1000})
    log_in(page, server.url, f"/jobs/{job['id']}")
    # Drawn while it runs (on the page, or in a panel HTMX swapped in).
    page.locator("#job-memory svg").wait_for()
    shoot(page, "job-running-1400")
    # The page reloads itself when the job ends.
    page.locator("#job-state.state-succeeded").wait_for(timeout=180_000)
    page.locator("#job-memory svg").wait_for()
    summary = page.get_by_test_id("job-resources-summary").inner_text()
    assert "peak memory" in summary
    metrics = page.get_by_test_id("job-metrics").inner_text()
    assert "loss" in metrics
    page.locator("[data-target^=job-metric-]").first.wait_for(state="attached")
    assert fits(page)
    assert_rows_line_up(page)
    assert page.locator("h1").inner_text().startswith(f"Job {job['id']}: train_job.py")
    shoot(page, "job-done-1400")

    page.set_viewport_size({"width": 800, "height": 1000})
    page.reload()
    page.locator("#job-cpu svg").wait_for()
    assert fits(page), "the job page is wider than 800 px"
    assert_rows_line_up(page)
    shoot(page, "job-done-800")

    page.get_by_test_id("job-run").locator("a").click()
    page.wait_for_url(f"{server.url}/experiments/*/runs/{job['mlflow_run_id']}")
    page.locator("[data-testid=metric-chart] svg").first.wait_for()
    assert "job" in page.get_by_test_id("run-environment").inner_text().lower()


def shoot(page, name: str) -> None:  # type: ignore[no-untyped-def]
    """A picture to look at, when the machine allows: never the reason a test fails."""
    with contextlib.suppress(Exception):
        page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True, timeout=10_000)
