"""Jobs over HTTP: the API in-process, the portal page, and the remote SDK."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from atelier.server.app import create_app
from atelier.services.workbench import Workbench
from tests.conftest import PASSWORD
from tests.services.jobs.helpers import jobs_workspace, open_jobs_workbench, script


@pytest.fixture(scope="module")
def setup(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[TestClient, Workbench, dict[str, Any]]]:
    workspace = jobs_workspace(tmp_path_factory.mktemp("jobs-api") / "ws")
    script(workspace.root, "hello.py", "import sys\nprint('hello', sys.argv[1:])\n")
    script(
        workspace.root, "wait.py", "import time\nprint('waiting', flush=True)\ntime.sleep(600)\n"
    )
    with open_jobs_workbench(workspace) as wb:
        headers = {}
        for role in ("scientist", "viewer"):
            wb.users.create(f"{role}1", role, PASSWORD)
            headers[role] = {"Authorization": f"Bearer {wb.tokens.create(f'{role}1', 't', 1)[1]}"}
        with TestClient(create_app(wb), base_url="http://127.0.0.1") as client:
            yield client, wb, headers


def test_submit_follow_and_read_a_job(setup: tuple[TestClient, Workbench, dict[str, Any]]) -> None:
    client, _, headers = setup
    scientist = headers["scientist"]
    created = client.post(
        "/api/v1/jobs", json={"target": ["hello.py"], "params": {"n": 3}}, headers=scientist
    )
    assert created.status_code == 201, created.text
    job = created.json()
    assert job["submitted_by"] == "scientist1" and job["profile"] == "small"
    text, offset, deadline = "", 0, time.monotonic() + 120
    while True:
        chunk = client.get(f"/api/v1/jobs/{job['id']}/logs?offset={offset}", headers=scientist)
        body = chunk.json()
        text, offset = text + body["text"], body["offset"]
        if body["final"] and not body["text"]:
            break
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert "hello ['--n=3']" in text
    done = client.get(f"/api/v1/jobs/{job['id']}", headers=scientist).json()
    assert (done["state"], done["exit_code"]) == ("succeeded", 0)
    listed = client.get("/api/v1/jobs?mine=true", headers=scientist).json()
    assert [j["id"] for j in listed][:1] == [job["id"]]
    page = client.get(f"/jobs/{job['id']}", headers=scientist)
    assert page.status_code == 200 and "hello" in page.text and "succeeded" in page.text
    assert "hello.py" in client.get("/jobs", headers=scientist).text


def test_errors_roles_and_cancel(setup: tuple[TestClient, Workbench, dict[str, Any]]) -> None:
    client, _, headers = setup
    scientist = headers["scientist"]
    bad = client.post(
        "/api/v1/jobs", json={"target": ["x.py"], "profile": "nope"}, headers=scientist
    )
    assert bad.status_code == 422 and "unknown profile 'nope'" in bad.json()["detail"]
    huge = client.post(
        "/api/v1/jobs", json={"target": ["x.py"], "profile": "huge"}, headers=scientist
    )
    assert huge.status_code == 422 and "asks for 100000 CPUs" in huge.json()["detail"]
    missing = client.post("/api/v1/jobs", json={"target": ["missing.py"]}, headers=scientist)
    assert missing.status_code == 422 and "missing.py: no such file" in missing.json()["detail"]
    viewer = client.post("/api/v1/jobs", json={"target": ["hello.py"]}, headers=headers["viewer"])
    assert viewer.status_code == 403
    assert client.get("/api/v1/jobs/99999", headers=scientist).status_code == 404
    profiles = {p["name"]: p for p in client.get("/api/v1/profiles", headers=scientist).json()}
    assert profiles["small"]["available"] and not profiles["huge"]["available"]

    job = client.post("/api/v1/jobs", json={"target": ["wait.py"]}, headers=scientist).json()
    cancelled = client.post(f"/api/v1/jobs/{job['id']}/cancel", headers=scientist).json()
    deadline = time.monotonic() + 60
    while cancelled["state"] != "cancelled":
        assert time.monotonic() < deadline
        time.sleep(0.2)
        cancelled = client.get(f"/api/v1/jobs/{job['id']}", headers=scientist).json()


TRAIN = """\
import mlflow

with mlflow.start_run() as run:
    mlflow.log_metric("accuracy", 0.9)
    print("mlflow run", run.info.run_id, flush=True)
"""


# A Ray head and an MLflow server on a small, busy machine take minutes to start.
@pytest.mark.timeout(1200)
def test_the_same_script_locally_and_on_ray_both_in_mlflow(ray_head: str, tmp_path: Path) -> None:
    from tests.conftest import start_server

    workspace = jobs_workspace(
        tmp_path / "ws",
        compute=f'ray_address = "{ray_head}"',
        extra='\n[profiles.small-ray]\nbackend = "ray"\nmemory = "500MB"\n',
    )
    script(workspace.root, "train.py", TRAIN)
    with open_jobs_workbench(workspace) as wb:
        wb.users.create("ada", "scientist", PASSWORD)
        token = wb.tokens.create("ada", "t", 1)[1]
        server = start_server(workspace)
        with contextlib.ExitStack() as stack:
            stack.callback(server.stop)
            api = httpx.Client(
                base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=120
            )
            stack.callback(api.close)
            runs = {}
            for profile in ("small", "small-ray"):
                created = api.post(
                    "/api/v1/jobs", json={"target": ["train.py"], "profile": profile}
                )
                assert created.status_code == 201, created.text
                runs[profile] = created.json()
            for profile, job in runs.items():
                done = wb.jobs.wait(job["id"], 300)
                log = wb.jobs.read_log(job["id"])[0]
                assert done.state == "succeeded", log
                assert done.mlflow_run_id and f"mlflow run {done.mlflow_run_id}" in log
                run = api.get(
                    "/mlflow/api/2.0/mlflow/runs/get", params={"run_id": done.mlflow_run_id}
                ).json()["run"]
                tags = {t["key"]: t["value"] for t in run["data"]["tags"]}
                assert tags["atelier.profile"] == profile
                assert tags["atelier.job_id"] == str(job["id"])
                assert {m["key"]: m["value"] for m in run["data"]["metrics"]} == {"accuracy": 0.9}
                assert run["info"]["status"] == "FINISHED"
            assert runs["small-ray"]["backend"] == "ray" and runs["small"]["backend"] == "local"
            # The job's token ended with the job.
            assert all(not t.active for t in wb.tokens.list("ada") if t.name.startswith("job "))
