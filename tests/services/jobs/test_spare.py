"""Spare supervisors (started before their job exists) and following a job's log as it grows:
what puts a job's first line on the screen sooner, without losing its supervision."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from atelier.backends.compute import proctree
from atelier.errors import InvalidInput
from atelier.services.jobs import spare
from atelier.services.jobs.paths import JobPaths
from atelier.services.workbench import Workbench
from tests.services.jobs.helpers import jobs_workspace, open_jobs_workbench, script
from tests.services.jobs.test_start_path import loaded_after


@pytest.fixture(scope="module")
def wb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workbench]:
    workspace = jobs_workspace(tmp_path_factory.mktemp("spare") / "ws")
    with open_jobs_workbench(workspace) as workbench:
        yield workbench


@pytest.fixture(autouse=True)
def no_early_spare() -> Iterator[None]:
    spare.discard_early()
    yield
    spare.discard_early()


def ended(pid: int, started: float | None = None, timeout: float = 60) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not proctree.alive(pid, started):
            return True
        time.sleep(0.05)
    return False


def test_a_spare_handed_a_job_supervises_it(wb: Workbench, tmp_path: Path) -> None:
    script(tmp_path, "hello.py", "import os\nprint('job', os.environ['ATELIER_JOB_ID'])\n")
    early = spare.start_early()
    assert early is not None and early.pid is not None
    job = wb.jobs.submit(["hello.py"], principal=wb.owner(), cwd=tmp_path)
    assert spare.take_early() is None  # taken by the jobs service
    output = "".join(wb.jobs.follow(job.id))
    done = wb.jobs.get(job.id)
    assert done.state == "succeeded", output
    assert f"job {job.id}" in output
    record = wb.jobs.records.get(job.id)
    assert record.supervisor_pid == early.pid
    assert early.started is not None and record.supervisor_started == early.started
    assert record.external_id is not None
    # The spare writes to the job's supervisor log once it knows the job (nothing went wrong).
    assert JobPaths(wb.workspace.root, job.id).supervisor_log.exists()
    assert ended(early.pid)


def test_a_spare_that_stopped_is_replaced(wb: Workbench, tmp_path: Path) -> None:
    script(tmp_path, "ok.py", "print('still runs')\n")
    early = spare.start_early()
    assert early is not None and early.pid is not None
    os.kill(early.pid, signal.SIGKILL)
    assert ended(early.pid)
    job = wb.jobs.submit(["ok.py"], principal=wb.owner(), cwd=tmp_path)
    output = "".join(wb.jobs.follow(job.id))
    assert wb.jobs.get(job.id).state == "succeeded", output
    assert "still runs" in output
    record = wb.jobs.records.get(job.id)
    assert record.supervisor_pid is not None and record.supervisor_pid != early.pid


def test_a_refused_job_leaves_no_spare_behind(wb: Workbench, tmp_path: Path) -> None:
    early = spare.start_early()
    assert early is not None and early.pid is not None
    pid = early.pid
    before = len(wb.jobs.list())
    with pytest.raises(InvalidInput, match="no such file"):
        wb.jobs.submit(["missing.py"], principal=wb.owner(), cwd=tmp_path)
    assert spare.take_early() is early  # refused before the service took it
    early.close()  # as `atelier run` does once the submission is over (discard_early)
    assert ended(pid)
    assert len(wb.jobs.list()) == before


def test_a_spare_nobody_hands_a_job_ends_having_done_nothing(tmp_path: Path) -> None:
    waiting = spare.Spare()
    pid = waiting.pid
    assert pid is not None and proctree.alive(pid)
    waiting.close()
    assert ended(pid)
    assert not waiting.hand(str(tmp_path), 1, "holder")  # too late: it is not told anything
    assert not (tmp_path / "logs").exists()


def test_a_spare_handed_a_job_that_does_not_exist_reports_it(tmp_path: Path) -> None:
    waiting = spare.Spare()
    assert waiting.hand(str(tmp_path), 41, "holder")
    assert waiting.pid is not None and ended(waiting.pid)
    log = JobPaths(tmp_path, 41).supervisor_log.read_text()
    assert "No such file or directory" in log and "41.json" in log


@pytest.mark.parametrize(
    "line",
    [
        b"",
        b"\n",
        b"7 holder\n",
        b'{"root": "/ws", "job": "7", "holder": "h"}\n',
        b'{"root": "/ws", "job": 7}\n',
        b"[1, 2, 3]\n",
        b'{"root": 7, "job": 7, "holder": "h"}\n',
    ],
)
def test_a_spare_reads_only_a_whole_job(line: bytes) -> None:
    assert spare.read_job(line) is None


def test_a_spare_reads_its_job() -> None:
    line = b'{"root": "/w s", "job": 7, "holder": "host:supervisor-7:ab"}\n'
    assert spare.read_job(line) == ("/w s", 7, "host:supervisor-7:ab")


ENV_SCRIPT = (
    "import os\nlong = sum(len(v) for k, v in os.environ.items() if k.startswith('LONG_'))\n"
    "print('sees', os.environ.get('FOR_THE_JOB'), os.environ.get('MLFLOW_RUN_ID'), long)\n"
)


def test_a_job_inherits_the_environment_it_was_submitted_with(
    wb: Workbench, tmp_path: Path
) -> None:
    """A server submitting for a command: the job has the command's environment, not that of
    the process that starts its supervisor, and none of the command's client settings."""
    script(tmp_path, "env.py", ENV_SCRIPT)
    given: list[spare.Spare] = []

    def source() -> spare.Spare | None:
        given.append(spare.Spare())
        return given[-1]

    spare.early(source)
    caller = {**os.environ, "FOR_THE_JOB": "the caller's", "MLFLOW_RUN_ID": "forged"}
    caller |= {f"LONG_{n}": "x" * 50_000 for n in range(4)}
    job = wb.jobs.submit(["env.py"], principal=wb.owner(), cwd=tmp_path, environ=caller)
    output = "".join(wb.jobs.follow(job.id))
    assert "sees the caller's None 200000" in output, output[-500:]
    assert wb.jobs.records.get(job.id).supervisor_pid == given[0].pid


def test_a_queued_job_keeps_its_submitters_environment(tmp_path: Path) -> None:
    """Started later, by whichever process ticks the queue, a waiting job still has the
    environment it was submitted with."""
    workspace = jobs_workspace(tmp_path / "ws", compute="local_cpus = 1")
    script(tmp_path, "wait.py", "import time\ntime.sleep(600)\n")
    script(tmp_path, "env.py", ENV_SCRIPT)
    with open_jobs_workbench(workspace) as wb:
        owner = wb.owner()
        first = wb.jobs.submit(["wait.py"], principal=owner, cwd=tmp_path)
        caller = {**os.environ, "FOR_THE_JOB": "queued"}
        waiting = wb.jobs.submit(["env.py"], principal=owner, cwd=tmp_path, environ=caller)
        assert wb.jobs.get(waiting.id).state == "queued"
        wb.jobs.cancel(first.id, principal=owner, wait=30)  # the queue starts it from here
        output = "".join(wb.jobs.follow(waiting.id))
        assert "sees queued None 0" in output, output[-500:]


def test_a_source_of_spares_is_asked_only_for_a_job_that_is_recorded(
    wb: Workbench, tmp_path: Path
) -> None:
    """A submission refused by the service's own checks starts no supervisor."""
    asked: list[bool] = []
    spare.early(lambda: asked.append(True) or None)
    with pytest.raises(InvalidInput, match="unknown profile"):
        wb.jobs.submit(["env.py"], principal=wb.owner(), cwd=tmp_path, profile="nope")
    assert asked == []
    spare.discard_early()  # a source nobody asked: nothing to end


def test_a_waiting_spare_has_loaded_nothing_heavy() -> None:
    code = (
        "import io, sys\n"
        "sys.stdin = io.TextIOWrapper(io.BytesIO(b''))\n"
        "from atelier.services.jobs.supervisor import main\n"
        "main(['--spare'])\n"
    )
    assert loaded_after(code) == set()
    ran = subprocess.run(
        [sys.executable, "-m", "atelier.services.jobs.supervisor", "--spare"],
        input=b"",
        capture_output=True,
        timeout=120,
    )
    assert ran.returncode == 0 and ran.stdout == b"" and ran.stderr == b""


def test_follow_shows_a_line_while_the_job_still_runs(wb: Workbench, tmp_path: Path) -> None:
    script(
        tmp_path,
        "slow.py",
        "import time\nprint('first', flush=True)\ntime.sleep(60)\nprint('last')\n",
    )
    job = wb.jobs.submit(["slow.py"], principal=wb.owner(), cwd=tmp_path)
    lines = wb.jobs.follow(job.id)
    assert next(lines) == "first\n"
    assert not wb.jobs.get(job.id).final  # shown as it came, not at the end
    wb.jobs.cancel(job.id, principal=wb.owner())
    rest = "".join(lines)
    assert "last" not in rest and "cancelled" in rest


def test_follow_reads_what_was_written_as_the_job_ended(wb: Workbench, tmp_path: Path) -> None:
    text = "".join(f"line {i}\n" for i in range(2000))
    script(tmp_path, "many.py", f"import sys\nsys.stdout.write({text!r})\nsys.exit(2)\n")
    job = wb.jobs.submit(["many.py"], principal=wb.owner(), cwd=tmp_path)
    output = "".join(wb.jobs.follow(job.id, poll=5.0, look=1.0))
    assert output.startswith(text)
    assert output.splitlines()[-1] == f"[atelier] job {job.id} failed: exit code 2"
