"""Jobs on a real local Ray head: the same script as locally, logs mirrored, a job the
cluster cannot place yet is flagged and can be cancelled."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from atelier.backends.compute import ImpossibleRequest
from atelier.services.jobs.paths import JobPaths
from tests.services.jobs.helpers import jobs_workspace, open_jobs_workbench, script

TRAIN = (
    "import os\n"
    "print('trained on', os.environ['ATELIER_PROFILE'], 'job', os.environ['ATELIER_JOB_ID'])\n"
)


@pytest.mark.timeout(900)  # a Ray head takes minutes to start on a busy machine
def test_jobs_on_ray(ray_head: str, tmp_path: Path) -> None:
    workspace = jobs_workspace(
        tmp_path / "ws",
        backend="ray",
        compute=f'ray_address = "{ray_head}"\nray_pending_seconds = 1',
        extra='\n[profiles.small]\nmemory = "100MB"\n',
    )
    script(tmp_path, "train.py", TRAIN)
    script(tmp_path, "hold.py", "import time\nprint('holding', flush=True)\ntime.sleep(600)\n")
    with open_jobs_workbench(workspace) as wb:
        owner = wb.owner()
        with pytest.raises(ImpossibleRequest, match="no node of the Ray cluster"):
            wb.jobs.submit(["train.py"], principal=owner, profile="huge", cwd=tmp_path)

        caller = {**os.environ, "NOT_FOR_RAY": "the caller's"}
        job = wb.jobs.submit(
            ["train.py"], principal=owner, profile="small", cwd=tmp_path, environ=caller
        )
        assert job.backend == "ray"
        # Only a local job keeps its submitter's environment: a Ray job gets its own variables.
        spec = json.loads(JobPaths(workspace.root, job.id).spec.read_text())
        assert spec["inherit"] is None
        done = wb.jobs.wait(job.id, 240)
        log = wb.jobs.read_log(job.id)[0]
        assert (done.state, done.exit_code) == ("succeeded", 0), log
        assert f"trained on small job {job.id}" in log
        assert (done.external_id or "").startswith(f"atelier-{job.id}-")

        # The head has one CPU: while one job holds it, the next one waits, and says so.
        holder = wb.jobs.submit(["hold.py"], principal=owner, profile="small", cwd=tmp_path)
        deadline = time.monotonic() + 240
        while "holding" not in wb.jobs.read_log(holder.id)[0]:
            assert time.monotonic() < deadline, "the holding job never started"
            time.sleep(0.5)
        waiting = wb.jobs.submit(["train.py"], principal=owner, profile="small", cwd=tmp_path)
        while "waiting for resources" not in wb.jobs.get(waiting.id).reason:
            assert time.monotonic() < deadline, "no note about the pending job"
            time.sleep(0.5)
        assert wb.jobs.get(waiting.id).state == "queued"
        assert wb.jobs.cancel(waiting.id, principal=owner, wait=120).state == "cancelled"
        stopped = wb.jobs.cancel(holder.id, principal=owner, wait=120)
        assert stopped.state == "cancelled"
