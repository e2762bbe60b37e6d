"""Local jobs end to end: real supervisor processes, real limits, real process trees."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from atelier.backends.compute import ImpossibleRequest, proctree
from atelier.errors import InvalidInput, NotFound
from atelier.services.workbench import Workbench
from tests.services.jobs.helpers import jobs_workspace, open_jobs_workbench, script


@pytest.fixture(scope="module")
def wb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workbench]:
    workspace = jobs_workspace(tmp_path_factory.mktemp("jobs") / "ws")
    with open_jobs_workbench(workspace) as workbench:
        yield workbench


def wait_for(path: Path, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().endswith("\n"):
            return path.read_text()
        time.sleep(0.05)
    raise AssertionError(f"{path} was not written")


def test_lifecycle_on_every_metadata_database(tmp_path: Path, metadata_url: str) -> None:
    workspace = jobs_workspace(tmp_path / "ws", metadata_url=metadata_url)
    script(
        tmp_path,
        "train.py",
        "import os, sys\n"
        "print('args', sys.argv[1:])\n"
        "env = os.environ\n"
        "print('threads', env['OMP_NUM_THREADS'], env['CUDA_VISIBLE_DEVICES'] == '')\n"
        "print('job', os.environ['ATELIER_JOB_ID'], os.environ['ATELIER_PROFILE'])\n"
        "print('params', os.environ['ATELIER_PARAMS'])\n"
        "print('affinity', len(os.sched_getaffinity(0)))\n"
        "sys.exit(3 if os.environ.get('FAIL') else 0)\n",
    )
    with open_jobs_workbench(workspace) as wb:
        owner = wb.owner()
        job = wb.jobs.submit(
            ["train.py", "--epochs", "2"],
            principal=owner,
            params=["lr=0.5", "name=first run"],
            cwd=tmp_path,
        )
        assert job.state in ("queued", "running")
        assert job.profile == "small" and job.kind == "script"
        assert any("no Atelier server answers" in note for note in job.notes)
        output = "".join(wb.jobs.follow(job.id))
        done = wb.jobs.get(job.id)
        assert done.state == "succeeded", output
        assert done.exit_code == 0
        assert done.duration is not None and done.started_at is not None
        assert "args ['--epochs', '2', '--lr=0.5', '--name=first run']" in output
        assert "threads 1 True" in output
        assert f"job {job.id} small" in output
        assert json.loads(output.split("params ", 1)[1].splitlines()[0]) == {
            "lr": 0.5,
            "name": "first run",
        }
        assert "affinity 1" in output
        assert wb.jobs.list()[0].id == job.id


def test_a_failing_job_keeps_its_exit_code(wb: Workbench, tmp_path: Path) -> None:
    script(tmp_path, "fail.py", "import sys\nprint('about to fail')\nsys.exit(3)\n")
    job = wb.jobs.submit(["fail.py"], principal=wb.owner(), cwd=tmp_path)
    done = wb.jobs.wait(job.id, 120)
    assert (done.state, done.exit_code, done.reason) == ("failed", 3, "exit code 3")
    assert "about to fail" in wb.jobs.read_log(job.id)[0]


def test_a_job_past_its_memory_is_killed_and_reported_out_of_memory(
    wb: Workbench, tmp_path: Path
) -> None:
    script(
        tmp_path,
        "hog.py",
        "import subprocess, sys, time\n"
        # The memory is in a child: the whole tree counts, not just the job's first process.
        "child = subprocess.Popen([sys.executable, '-c', "
        "'import time\\nblocks = []\\nwhile True:\\n"
        "    blocks.append(bytearray(20 * 2**20)); time.sleep(0.02)'])\n"
        "child.wait()\n"
        "print('the limit did not hold')\n",
    )
    job = wb.jobs.submit(["hog.py"], principal=wb.owner(), profile="tiny", cwd=tmp_path)
    done = wb.jobs.wait(job.id, 120)
    assert done.state == "failed"
    assert done.reason.startswith("out of memory: the job used ")
    assert "limit of 200.0 MB" in done.reason
    log = wb.jobs.read_log(job.id)[0]
    assert "the limit did not hold" not in log
    assert "out of memory" in log  # the log says why it ended


def test_a_job_past_its_max_runtime_is_timed_out(wb: Workbench, tmp_path: Path) -> None:
    script(tmp_path, "slow.py", "import time\nprint('working', flush=True)\ntime.sleep(300)\n")
    job = wb.jobs.submit(["slow.py"], principal=wb.owner(), profile="tiny", cwd=tmp_path)
    done = wb.jobs.wait(job.id, 120)
    assert done.state == "timed_out"
    assert "max_runtime" in done.reason
    assert proctree.alive(int(done.external_id or 0)) is False


def test_cancel_ends_the_whole_process_tree(wb: Workbench, tmp_path: Path) -> None:
    pids = tmp_path / "pids.txt"
    script(
        tmp_path,
        "tree.py",
        "import os, subprocess, sys, time\n"
        "sleeper = [sys.executable, '-c', 'import time; time.sleep(600)']\n"
        "child = subprocess.Popen(sleeper)\n"
        # A grandchild in a session of its own, orphaned: it must not escape the cancel.
        "middle = subprocess.Popen([sys.executable, '-c', "
        "'import subprocess as s, sys; p = s.Popen(sys.argv[1:], start_new_session=True, "
        "stdout=s.DEVNULL); print(p.pid)'] + sleeper, stdout=subprocess.PIPE, text=True)\n"
        "orphan = int(middle.communicate()[0])\n"
        f"open({str(pids)!r}, 'w').write(f'{{os.getpid()}} {{child.pid}} {{orphan}}\\n')\n"
        "time.sleep(600)\n",
    )
    job = wb.jobs.submit(["tree.py"], principal=wb.owner(), cwd=tmp_path)
    members = [int(p) for p in wait_for(pids).split()]
    assert all(proctree.alive(p) for p in members)
    done = wb.jobs.cancel(job.id, principal=wb.owner(), wait=60)
    assert done.state == "cancelled"
    deadline = time.monotonic() + 10
    while any(proctree.alive(p) for p in members) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [p for p in members if proctree.alive(p)] == []


def test_a_job_whose_supervisor_died_is_found_again(wb: Workbench, tmp_path: Path) -> None:
    flag = tmp_path / "go"
    started = tmp_path / "started"
    script(
        tmp_path,
        "patient.py",
        "import os, time\n"
        f"open({str(started)!r}, 'w').write('yes\\n')\n"
        f"while not os.path.exists({str(flag)!r}): time.sleep(0.05)\n"
        "print('finished after all')\n",
    )
    job = wb.jobs.submit(["patient.py"], principal=wb.owner(), cwd=tmp_path)
    wait_for(started)
    record = wb.jobs.records.get(job.id)
    assert record.supervisor_pid is not None
    os.kill(record.supervisor_pid, signal.SIGKILL)
    while proctree.alive(record.supervisor_pid, record.supervisor_started):
        time.sleep(0.05)
    wb.jobs.queue.tick()  # what the server or the next CLI command does
    adopted = wb.jobs.records.get(job.id)
    assert adopted.supervisor_pid != record.supervisor_pid
    assert wb.jobs.get(job.id).state == "running"
    flag.write_text("")
    done = wb.jobs.wait(job.id, 120)
    assert (done.state, done.exit_code) == ("succeeded", 0)
    assert "finished after all" in wb.jobs.read_log(job.id)[0]


def test_a_job_lost_with_its_supervisor_is_marked_failed(wb: Workbench, tmp_path: Path) -> None:
    started = tmp_path / "started"
    script(
        tmp_path,
        "lost.py",
        "import os, time\n"
        f"open({str(started)!r}, 'w').write(f'{{os.getpgid(0)}}\\n')\n"
        "time.sleep(600)\n",
    )
    job = wb.jobs.submit(["lost.py"], principal=wb.owner(), cwd=tmp_path)
    group = int(wait_for(started))
    record = wb.jobs.records.get(job.id)
    assert record.supervisor_pid is not None
    os.kill(record.supervisor_pid, signal.SIGKILL)
    os.killpg(group, signal.SIGKILL)  # as if the machine had restarted
    while proctree.alive(record.supervisor_pid, record.supervisor_started):
        time.sleep(0.05)
    while proctree.alive(group):
        time.sleep(0.05)
    wb.jobs.queue.tick()
    done = wb.jobs.get(job.id)
    assert done.state == "failed"
    assert "stopped without a result" in done.reason


def test_notebook_job_gets_parameters_and_keeps_the_executed_notebook(
    wb: Workbench, tmp_path: Path
) -> None:
    import nbformat

    notebook = nbformat.v4.new_notebook()
    defaults = nbformat.v4.new_code_cell("alpha = 1\nlabel = 'default'")
    defaults.metadata["tags"] = ["parameters"]
    notebook.cells = [
        nbformat.v4.new_markdown_cell("# Report"),
        defaults,
        nbformat.v4.new_code_cell("print('alpha times two is', alpha * 2, label)"),
    ]
    nbformat.write(notebook, tmp_path / "report.ipynb")
    job = wb.jobs.submit(["report.ipynb"], principal=wb.owner(), params=["alpha=21"], cwd=tmp_path)
    assert job.kind == "notebook"
    done = wb.jobs.wait(job.id, 240)
    log = wb.jobs.read_log(job.id)[0]
    assert done.state == "succeeded", log
    assert "alpha times two is 42 default" in log
    assert done.output is not None
    executed = nbformat.read(done.output, as_version=4)
    tags = [cell.metadata.get("tags", []) for cell in executed.cells]
    assert tags[1] == ["parameters"] and tags[2] == ["injected-parameters"]
    assert "alpha = 21" in executed.cells[2].source
    assert "alpha times two is 42" in executed.cells[3].outputs[0]["text"]


def test_clear_errors_before_anything_runs(wb: Workbench, tmp_path: Path) -> None:
    owner = wb.owner()
    before = len(wb.jobs.list())
    with pytest.raises(InvalidInput, match=r"unknown profile 'nope' \(have gpu, huge, large"):
        wb.jobs.submit(["x.py"], principal=owner, profile="nope", cwd=tmp_path)
    with pytest.raises(ImpossibleRequest, match=r"profile 'huge' asks for 100000 CPUs.*this"):
        wb.jobs.submit(["x.py"], principal=owner, profile="huge", cwd=tmp_path)
    with pytest.raises(InvalidInput, match=r"missing\.py: no such file \(looked in "):
        wb.jobs.submit(["missing.py"], principal=owner, cwd=tmp_path)
    with pytest.raises(InvalidInput, match=r"no-such-program: command not found"):
        wb.jobs.submit(["no-such-program", "--x"], principal=owner, cwd=tmp_path)
    with pytest.raises(InvalidInput, match=r"parameter 'lr': write NAME=VALUE"):
        script(tmp_path, "ok.py", "")
        wb.jobs.submit(["ok.py"], principal=owner, params=["lr"], cwd=tmp_path)
    with pytest.raises(NotFound, match="job 999999 not found"):
        wb.jobs.get(999999)
    assert len(wb.jobs.list()) == before  # nothing was queued


def test_the_queue_never_runs_more_than_the_machine_holds(tmp_path: Path) -> None:
    workspace = jobs_workspace(tmp_path / "ws", compute="local_cpus = 1")
    gate = tmp_path / "gate"
    started = tmp_path / "first-started"
    script(
        tmp_path,
        "first.py",
        "import os, time\n"
        f"open({str(started)!r}, 'w').write('yes\\n')\n"
        f"while not os.path.exists({str(gate)!r}): time.sleep(0.05)\n",
    )
    script(tmp_path, "second.py", "print('second ran')\n")
    with open_jobs_workbench(workspace) as wb:
        owner = wb.owner()
        first = wb.jobs.submit(["first.py"], principal=owner, cwd=tmp_path)
        second = wb.jobs.submit(["second.py"], principal=owner, cwd=tmp_path)
        wait_for(started)
        wb.jobs.queue.tick()
        assert wb.jobs.get(second.id).state == "queued"  # one core, taken by the first
        gate.write_text("")
        assert wb.jobs.wait(first.id, 120).state == "succeeded"
        done = wb.jobs.wait(second.id, 120)
        assert done.state == "succeeded"
        assert done.started_at is not None
        assert done.started_at >= (wb.jobs.get(first.id).finished_at or done.started_at)


def test_cancel_a_queued_job_before_it_starts(tmp_path: Path) -> None:
    workspace = jobs_workspace(tmp_path / "ws", compute="local_cpus = 1")
    script(tmp_path, "wait.py", "import time\ntime.sleep(600)\n")
    with open_jobs_workbench(workspace) as wb:
        owner = wb.owner()
        wb.jobs.submit(["wait.py"], principal=owner, cwd=tmp_path)
        queued = wb.jobs.submit(["wait.py"], principal=owner, cwd=tmp_path)
        assert wb.jobs.get(queued.id).state == "queued"
        done = wb.jobs.cancel(queued.id, principal=owner)
        assert (done.state, done.started_at) == ("cancelled", None)
