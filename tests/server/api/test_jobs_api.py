"""Jobs over HTTP: the API in-process, the portal page, working trees sent along and the
attacks on them, and the remote SDK."""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import tarfile
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from atelier.server.app import create_app
from atelier.services.auth.scopes import APP
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


def tar_gz(entries: dict[str, bytes], *, link: tuple[str, str] | None = None) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in entries.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        if link is not None:
            info = tarfile.TarInfo(link[0])
            info.type, info.linkname = tarfile.SYMTYPE, link[1]
            tar.addfile(info)
    return buffer.getvalue()


def send_tree(
    client: TestClient, headers: dict[str, str], job: dict[str, Any], tree: bytes
) -> httpx.Response:
    return client.post(
        "/api/v1/jobs/tree",
        data={"job": json.dumps(job)},
        files={"tree": ("tree.tar.gz", tree, "application/gzip")},
        headers=headers,
    )


def test_a_tree_travels_and_attacks_on_it_fail(
    setup: tuple[TestClient, Workbench, dict[str, Any]],
) -> None:
    client, wb, headers = setup
    scientist = headers["scientist"]
    incoming = wb.workspace.root / ".atelier" / "jobs" / "incoming"
    tree = tar_gz({"sub/run.py": b"import os\nprint('in', os.getcwd())\n", "data.txt": b"x"})
    sent = send_tree(client, scientist, {"target": ["run.py"], "cwd": "sub"}, tree)
    assert sent.status_code == 201, sent.text
    job = sent.json()
    assert job["tree"] and job["workdir"].endswith(f"artifacts/jobs/{job['id']}/tree")
    done = wb.jobs.wait(job["id"], 120)
    assert done.state == "succeeded" and f"in {done.workdir}" in wb.jobs.read_log(done.id)[0]
    entry = wb.audit.entries(action="job.submit", limit=1)[0]
    assert (entry.target, entry.client, entry.detail) == (
        str(job["id"]),
        "api",
        {"name": "run.py", "profile": "small", "project": None, "tree": True},
    )

    hostile = {
        "dot-dot": tar_gz({"../../escape.py": b"x"}),
        "absolute": tar_gz({"/tmp/escape.py": b"x"}),
        "link": tar_gz({"run.py": b"x"}, link=("etc", "/etc")),
        "not a tar": b"plain bytes",
    }
    for case, body in hostile.items():
        refused = send_tree(client, scientist, {"target": ["run.py"]}, body)
        assert refused.status_code == 422, (case, refused.text)
    escaped = send_tree(client, scientist, {"target": ["run.py"], "cwd": "../.."}, tree)
    assert escaped.status_code == 422 and "inside the working tree" in escaped.text
    # The tree comes after the job, which is checked first; one tree per job.
    backwards = client.post(
        "/api/v1/jobs/tree",
        files=[
            ("tree", ("t.tar.gz", tree, "application/gzip")),
            ("job", (None, json.dumps({"target": ["run.py"]}))),
        ],
        headers=scientist,
    )
    assert backwards.status_code == 422 and "must come before" in backwards.text
    # A body cut short is refused, not taken for a whole tree.
    whole = client.build_request(
        "POST",
        "/api/v1/jobs/tree",
        data={"job": json.dumps({"target": ["run.py"]})},
        files={"tree": ("t.tar.gz", tree, "application/gzip")},
    )
    body = whole.read()
    cut = client.post(
        "/api/v1/jobs/tree",
        content=body[: body.rindex(b"\r\n--")],
        headers={**scientist, "Content-Type": whole.headers["Content-Type"]},
    )
    assert cut.status_code == 422 and "ends before its closing boundary" in cut.text
    assert list(incoming.iterdir()) == []

    # Refused before a byte of the tree is kept: a viewer, a code token without the jobs
    # scope, someone else's project.
    assert send_tree(client, headers["viewer"], {"target": ["run.py"]}, tree).status_code == 403
    _, app_token = wb.tokens.create_for("scientist1", "app x", APP, timedelta(days=1))
    coded = send_tree(client, {"Authorization": f"Bearer {app_token}"}, {"target": ["x"]}, tree)
    assert coded.status_code == 403
    owner = wb.owner()
    if "private" not in {p.name for p in wb.projects.list()}:
        wb.projects.create("private", owner)
    other = send_tree(client, scientist, {"target": ["run.py"], "project": "private"}, tree)
    assert other.status_code == 403 and "not a member of project 'private'" in other.text
    entry = wb.audit.entries(action="job.submit", limit=1)[0]
    assert (entry.actor, entry.success, entry.target) == ("scientist1", False, "private")
    assert list(incoming.iterdir()) == []

    # Over compute.max_tree_size: refused while it arrives, and what arrived is dropped.
    wb.settings.compute.max_tree_size = "10KB"
    try:
        big = tar_gz({"noise.bin": os.urandom(50_000)})
        over = send_tree(client, scientist, {"target": ["noise.bin"]}, big)
        assert over.status_code == 413 and "compute.max_tree_size" in over.text
        small_bomb = tar_gz({"zeros.bin": bytes(200_000)})
        assert len(small_bomb) < 10_000
        over = send_tree(client, scientist, {"target": ["zeros.bin"]}, small_bomb)
        assert over.status_code == 413 and "larger than 10.0 KB" in over.text
    finally:
        wb.settings.compute.max_tree_size = "512MiB"
    assert list(incoming.iterdir()) == []


def test_a_browser_form_sends_a_tree_with_its_csrf_token_as_a_field(
    setup: tuple[TestClient, Workbench, dict[str, Any]],
) -> None:
    client, wb, _ = setup
    browser = TestClient(client.app, base_url="http://127.0.0.1")
    page = browser.get("/login")
    login_csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert login_csrf
    browser.post(
        "/login",
        data={"name": "scientist1", "password": PASSWORD, "csrf_token": login_csrf.group(1)},
        follow_redirects=False,
    )
    token = re.search(r'"X-CSRF-Token": "([^"]+)"', browser.get("/").text)
    assert token
    tree = tar_gz({"run.py": b"print('from the browser')\n"})
    files = {"tree": ("tree.tar.gz", tree, "application/gzip")}
    job = json.dumps({"target": ["run.py"]})
    refused = browser.post("/api/v1/jobs/tree", data={"job": job}, files=files)
    assert refused.status_code == 403 and "CSRF" in refused.text
    # The CSRF check reads the form first; the same rules apply to what it read.
    sent = browser.post(
        "/api/v1/jobs/tree", data={"csrf_token": token.group(1), "job": job}, files=files
    )
    assert sent.status_code == 201, sent.text
    assert wb.jobs.wait(sent.json()["id"], 120).state == "succeeded"
