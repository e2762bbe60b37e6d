"""Jobs people can watch: CPU and memory samples of a job's process tree, read back by the
service; project jobs run with the project's experiment as MLflow's default."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from atelier.services.jobs import samples
from atelier.services.workbench import Workbench
from tests.services.jobs.helpers import jobs_workspace, open_jobs_workbench, script

#: Holds 80 MB in a child process (the whole tree counts) and keeps one core busy a while.
BUSY = (
    "import subprocess, sys\n"
    "child = subprocess.Popen([sys.executable, '-c', "
    "'import time\\nblock = bytearray(80 * 2**20)\\nfor i in range(0, len(block), 4096): "
    "block[i] = 1\\ntime.sleep(4)'])\n"
    "n = 0\n"
    "import time\n"
    "end = time.monotonic() + 4\n"
    "while time.monotonic() < end:\n"
    "    n += 1\n"
    "child.wait()\n"
    "print('done', flush=True)\n"
)


@pytest.fixture(scope="module")
def wb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workbench]:
    workspace = jobs_workspace(tmp_path_factory.mktemp("samples") / "ws")
    with open_jobs_workbench(workspace) as workbench:
        yield workbench


def test_a_running_job_is_sampled_and_the_service_reads_the_samples(
    wb: Workbench, tmp_path: Path
) -> None:
    script(tmp_path, "busy.py", BUSY)
    job = wb.jobs.submit(["busy.py"], principal=wb.owner(), cwd=tmp_path)
    done = wb.jobs.wait(job.id, 120)
    assert done.state == "succeeded", wb.jobs.read_log(job.id)[0]
    found = wb.jobs.samples(job.id)
    assert found["sampled"] and found["backend"] == "local" and found["state"] == "succeeded"
    points = found["samples"]
    assert len(points) >= 2, points
    assert [p["t"] for p in points] == sorted(p["t"] for p in points)
    # The child's 80 MB count (the job's whole tree), and the busy loop used CPU (how much
    # depends on what else the machine runs).
    assert max(p["memory"] for p in points) > 80 * 2**20
    assert max(p["cpu"] for p in points) > 0
    assert max(p["processes"] for p in points) >= 2
    # The samples are a JSON lines file in the job's folder.
    stored = (
        wb.workspace.root / "artifacts" / "jobs" / str(job.id) / "resources.jsonl"
    ).read_text()
    assert len(stored.splitlines()) == len(points)


def test_an_unknown_job_has_no_samples(wb: Workbench) -> None:
    from atelier.errors import NotFound

    with pytest.raises(NotFound, match="job 424242 not found"):
        wb.jobs.samples(424242)


def test_the_sampler_counts_cpu_between_samples_and_memory_of_each_process(
    tmp_path: Path,
) -> None:
    worker = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import time\nb = bytearray(50 * 2**20)\nfor i in range(0, len(b), 4096): b[i] = 1\n"
            "end = time.monotonic() + 30\nwhile time.monotonic() < end: pass\n",
        ]
    )
    try:
        path = tmp_path / "resources.jsonl"
        sampler = samples.Sampler(path)
        first = sampler.sample([worker.pid])
        assert first["cpu"] == 0.0  # nothing to compare with yet
        import time

        time.sleep(1.0)
        second = sampler.sample([worker.pid])
        assert second["cpu"] > 0 and second["memory"] > 50 * 2**20
        assert second["t"] > first["t"]
        assert samples.read(path) == [first, second]
    finally:
        worker.kill()
        worker.wait()
    # A process that is gone counts nothing (no error: the job's tree changes all the time).
    gone = sampler.sample([worker.pid])
    assert (gone["cpu"], gone["memory"]) == (0.0, 0)


def test_reading_skips_torn_lines_and_thins_long_histories(tmp_path: Path) -> None:
    path = tmp_path / "resources.jsonl"
    assert samples.read(path) == []
    lines = [json.dumps({"t": i, "cpu": 1.0, "memory": i, "processes": 1}) for i in range(100)]
    path.write_text("\n".join(lines) + '\n{"t": 100, "cpu"')
    found = samples.read(path, limit=10)
    assert len(found) == 10
    assert found[0]["t"] == 0 and found[-1]["t"] == 99


def test_project_jobs_default_to_the_project_experiment(wb: Workbench, tmp_path: Path) -> None:
    owner = wb.owner()
    wb.projects.create("churn", owner)
    script(
        tmp_path,
        "which.py",
        "import os\nprint('experiment', os.environ.get('MLFLOW_EXPERIMENT_NAME'), flush=True)\n",
    )
    in_project = wb.jobs.submit(["which.py"], principal=owner, project="churn", cwd=tmp_path)
    outside = wb.jobs.submit(["which.py"], principal=owner, cwd=tmp_path)
    for job, expected in ((in_project, "experiment churn"), (outside, "experiment None")):
        done = wb.jobs.wait(job.id, 120)
        log = wb.jobs.read_log(job.id)[0]
        assert done.state == "succeeded", log
        assert expected in log


def test_samples_count_from_the_job_start_across_supervisors(tmp_path: Path) -> None:
    """A supervisor that adopts a running job samples on from the job's start, not from 0."""
    import os
    import time

    started = time.time() - 100  # the job started 100 s ago
    path = tmp_path / "resources.jsonl"
    first = samples.Sampler(path, started).sample([os.getpid()])
    adopted = samples.Sampler(path, started).sample([os.getpid()])
    assert 100 <= first["t"] <= adopted["t"]
    assert [s["t"] for s in samples.read(path)] == [first["t"], adopted["t"]]
