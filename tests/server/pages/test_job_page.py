"""A job's page people can watch: duration, CPU and memory over time (``/jobs/{id}/live``,
``/api/v1/jobs/{id}/samples``), the metrics of its MLflow run and a link to the run's page.

Real local jobs with real supervisors; the MLflow run is logged with MLflow's own client into
the workspace's store (what a job does through the server when one answers)."""

from __future__ import annotations

import json
import sys
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from atelier.backends.metadata import JobRecord
from atelier.backends.metadata.models import utcnow
from atelier.server.app import create_app
from atelier.services.auth import scopes
from atelier.services.workbench import Workbench
from tests.conftest import PASSWORD
from tests.services.jobs.helpers import jobs_workspace, open_jobs_workbench, script
from tests.services.tracking.mlflow_env import MLFLOW_WARNINGS

pytestmark = [pytest.mark.filterwarnings(w) for w in MLFLOW_WARNINGS]

HOLD = (
    "import time\nblock = bytearray(30 * 2**20)\n"
    "for i in range(0, len(block), 4096): block[i] = 1\n"
    "print('holding', flush=True)\ntime.sleep(float(__import__('sys').argv[1]))\n"
)


@dataclass
class Portal:
    client: TestClient
    workbench: Workbench
    folder: Path

    def as_(self, name: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.workbench.tokens.create(name, 'test', 1)[1]}"}


@pytest.fixture(scope="module")
def portal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Portal]:
    folder = tmp_path_factory.mktemp("job-page")
    with open_jobs_workbench(jobs_workspace(folder / "ws")) as workbench:
        workbench.users.create("ada", "scientist", PASSWORD)
        workbench.users.create("vic", "viewer", PASSWORD)
        script(folder, "hold.py", HOLD)
        with TestClient(create_app(workbench), base_url="http://127.0.0.1") as client:
            yield Portal(client, workbench, folder)


def submit(portal: Portal, seconds: float) -> int:
    ada = portal.workbench.acting(portal.workbench.tokens.create("ada", "s", 1)[1])
    job = portal.workbench.jobs.submit(
        [sys.executable, "hold.py", str(seconds)], principal=ada, cwd=portal.folder
    )
    return job.id


def test_a_finished_job_shows_its_resources_and_stops_polling(portal: Portal) -> None:
    job_id = submit(portal, 3.5)
    done = portal.workbench.jobs.wait(job_id, 120)
    assert done.state == "succeeded", portal.workbench.jobs.read_log(job_id)[0]
    ada = portal.as_("ada")

    samples = portal.client.get(f"/api/v1/jobs/{job_id}/samples", headers=ada)
    assert samples.status_code == 200, samples.text
    body = samples.json()
    assert body["sampled"] and body["state"] == "succeeded"
    assert max(s["memory"] for s in body["samples"]) > 30 * 2**20

    page = portal.client.get(f"/jobs/{job_id}", headers=ada).text
    # `python hold.py` is named after its script, and the title holds nothing but text.
    assert f"<title>Job {job_id}: hold.py · Atelier</title>" in page
    assert f"<h1>Job {job_id}: hold.py " in page
    live = page[page.index('data-testid="job-live"') :]
    assert "hx-trigger" not in live[: live.index(">")]  # ended: no more polling
    assert 'data-testid="job-duration">' in live and " so far" not in live
    resources = live[live.index('data-testid="job-resources"') :]
    spec = resources[resources.index('data-target="job-memory">') :]
    spec = spec[spec.index(">") + 1 : spec.index("</script>")]
    values = json.loads(spec)["data"]["values"]
    assert len(values) == len(body["samples"]) and max(v["memory"] for v in values) > 30
    assert "The job has no MLflow run" in live


def test_a_running_job_polls_its_live_panel(portal: Portal) -> None:
    job_id = submit(portal, 60)
    ada = portal.as_("ada")
    try:
        path = portal.workbench.workspace.root / "artifacts" / "jobs" / str(job_id)
        samples = path / "resources.jsonl"
        for _ in range(600):  # two samples (a chart's line) of a job the page sees running
            if (
                samples.exists()
                and samples.read_text().count("\n") >= 2
                and portal.workbench.jobs.get(job_id).state == "running"
            ):
                break
            time.sleep(0.1)
        live = portal.client.get(f"/jobs/{job_id}/live", headers=ada)
        assert live.status_code == 200
        text = live.text
        assert text.startswith('<section id="job-live"') or '<section id="job-live"' in text[:200]
        assert f'hx-get="/jobs/{job_id}/live" hx-trigger="every 2s"' in text
        assert " so far</dd>" in text
        assert 'data-testid="job-resources"' in text
        # The heading's state badge follows, swapped out of band.
        assert '<span id="job-state" hx-swap-oob="true" class="state state-running">' in text
    finally:
        portal.workbench.jobs.cancel(
            job_id,
            principal=portal.workbench.acting(portal.workbench.tokens.create("ada", "c", 1)[1]),
            wait=30,
        )


def test_who_may_read_samples(portal: Portal) -> None:
    job_id = submit(portal, 0)
    portal.workbench.jobs.wait(job_id, 120)
    url = f"/api/v1/jobs/{job_id}/samples"
    assert portal.client.get(url, headers=portal.as_("vic")).status_code == 403
    assert portal.client.get(f"/jobs/{job_id}/live", headers=portal.as_("vic")).status_code == 403
    assert portal.client.get(url).status_code == 401
    _, app_token = portal.workbench.tokens.create_for(
        "ada", "app demo", scopes.APP, timedelta(hours=1)
    )
    assert (
        portal.client.get(url, headers={"Authorization": f"Bearer {app_token}"}).status_code == 403
    )
    missing = portal.client.get("/api/v1/jobs/424242/samples", headers=portal.as_("ada"))
    assert missing.status_code == 404 and "job 424242 not found" in missing.text


def test_a_cluster_job_says_it_is_not_sampled_and_links_its_run(portal: Portal) -> None:
    """A Ray job's processes are not on this machine: no chart, a sentence instead; its
    MLflow run's metrics are on the page, with the run's page one click away."""
    import mlflow

    from atelier.services.tracking import TrackingStore
    from tests.services.tracking.mlflow_env import kept_mlflow_uris

    store = TrackingStore.for_workspace(portal.workbench.workspace)
    store.prepare()
    with kept_mlflow_uris(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mlflow.set_tracking_uri(store.backend_uri)
        experiment = mlflow.create_experiment(
            "Default-jobs", artifact_location=str(store.artifacts_dir)
        )
        with mlflow.start_run(experiment_id=experiment, run_name="job-run") as run:
            for step in range(4):
                mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
    with portal.workbench.db.session() as session:
        record = JobRecord(
            name="train.py",
            kind="script",
            project=None,
            profile="small",
            backend="ray",
            command=["python", "train.py"],
            params={},
            resources={"cpus": 1, "memory": 10**9, "gpus": 0},
            state="succeeded",
            reason="",
            notes=[],
            workdir=str(portal.folder),
            submitted_by="ada",
            started_at=utcnow() - timedelta(seconds=75),
            finished_at=utcnow(),
            devices={},
            cancel_requested=False,
            mlflow_run_id=run.info.run_id,
        )
        session.add(record)
        session.flush()
        job_id = record.id
    ada = portal.as_("ada")
    body = portal.client.get(f"/api/v1/jobs/{job_id}/samples", headers=ada).json()
    assert (body["sampled"], body["samples"], body["backend"]) == (False, [], "ray")
    page = portal.client.get(f"/jobs/{job_id}", headers=ada).text
    assert "Not sampled: the job's processes run on the ray cluster" in page.replace("&#39;", "'")
    assert 'data-testid="job-duration">1 min 15 s</dd>' in page
    run_link = f'href="/experiments/{experiment}/runs/{run.info.run_id}">job-run</a>'
    assert run_link in page
    metrics = page[page.index('data-testid="job-metrics"') :]
    assert '<th scope="row">loss</th><td class="num">0.25</td>' in metrics
    assert 'data-target="job-metric-1"' in page
