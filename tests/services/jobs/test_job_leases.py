"""A job of another machine whose lease ran out is reported failed, once, and the supervisor
that lost the lease stops the job: a job never goes on unseen, nor runs twice."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from atelier.backends.compute import proctree
from atelier.services.jobs.queue import job_lease
from atelier.services.leases import Leases
from atelier.services.workbench import Workbench
from tests.services.jobs.helpers import jobs_workspace, open_jobs_workbench, script


@pytest.fixture
def wb(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Workbench]:
    # The supervisors read it from the environment they inherit: they renew every 1/3 s.
    monkeypatch.setenv("ATELIER_SERVER_LEASE_SECONDS", "1")
    workspace = jobs_workspace(tmp_path / "ws")
    with open_jobs_workbench(workspace) as workbench:
        yield workbench


def _until(condition: object, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "not in time"
        time.sleep(0.1)


def test_a_lost_lease_fails_the_job_once_and_stops_it(wb: Workbench, tmp_path: Path) -> None:
    owner = wb.owner()
    script(wb.workspace.root, "wait.py", "import time\ntime.sleep(120)\n")
    job = wb.jobs.submit(["wait.py"], principal=owner)
    records = wb.jobs.records
    _until(lambda: records.get(job.id).external_id is not None)
    pid = int(records.get(job.id).external_id or 0)
    started = records.get(job.id).process_started
    leases = Leases(wb.db, seconds=1)
    _until(lambda: (found := leases.get(job_lease(job.id))) is not None and found.live)
    wb.jobs.queue.reconcile()
    assert records.get(job.id).state == "running"  # its supervisor renews the lease
    # Seen from another machine: the job is "gone-node"'s, whose lease has run out.
    records.update(job.id, host="gone-node")
    leases.acquire(job_lease(job.id), "gone-node:1:0", steal=True, seconds=0.05)
    time.sleep(0.1)
    wb.jobs.queue.reconcile()
    ended = records.get(job.id)
    assert ended.state == "failed"
    assert "gone-node" in ended.reason and "never runs twice" in ended.reason
    # The supervisor here learns it lost the lease at its next renewal and stops the job.
    _until(lambda: not proctree.alive(pid, started), 30)
    wb.jobs.queue.reconcile()
    again = records.get(job.id)
    assert (again.state, again.reason, again.finished_at) == (
        "failed",
        ended.reason,
        ended.finished_at,
    )
