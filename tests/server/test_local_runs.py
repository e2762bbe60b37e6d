"""`atelier run` on the machine of a running `atelier up`: the job is handed to the server over
the workspace's socket (no second cold start), with the caller's environment and the same
rules as the command; what a hostile caller sends is refused before any job exists."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from atelier.config import Workspace
from atelier.contract.local_runs import REQUEST_KEYS, address, socket_path
from atelier.services.workbench import Workbench
from tests.cli.helpers import atelier
from tests.conftest import RunningServer, new_workspace, start_server

SCRIPT = """\
import os, sys
print("job says", os.environ.get("MY_SETTING"), os.environ.get("MLFLOW_RUN_ID"), flush=True)
sys.exit(int(os.environ.get("EXIT_WITH", "0")))
"""


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningServer, Path]]:
    root = new_workspace(tmp_path_factory.mktemp("local-runs") / "ws")
    (root / "say.py").write_text(SCRIPT)
    workbench = Workbench(Workspace.open(root, environ={}))
    workbench.users.create("vera", "viewer", "correct horse battery")
    workbench.users.create("sam", "scientist", "correct horse battery")
    workbench.close()
    server = start_server(Workspace.open(root, environ={}))
    try:
        yield server, root
    finally:
        server.stop()


def server_environment(server: RunningServer) -> dict[str, str]:
    """The server's own environment: a command run with it has the server's settings."""
    raw = Path(f"/proc/{server.process.pid}/environ").read_bytes()
    pairs = (item.split(b"=", 1) for item in raw.split(b"\0") if b"=" in item)
    return {key.decode(): value.decode() for key, value in pairs}


def command(
    server: RunningServer, root: Path, *args: str, **extra: str
) -> subprocess.CompletedProcess[str]:
    """``atelier ARGS`` in a fresh process with the server's settings (the workspace found
    from the folder, as a user's would be) and ``extra`` variables."""
    env = {k: v for k, v in server_environment(server).items() if k != "ATELIER_WORKSPACE"}
    return atelier(*args, cwd=root, env=env | extra, subprocess=True)


def handed_over(server: RunningServer, job_id: str) -> bool:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if any(f"job {job_id} for " in line for line in list(server.output)):
            return True
        time.sleep(0.1)
    return False


def job_id(stderr: str) -> str:
    return stderr.split("job ", 1)[1].split(":", 1)[0]


def test_run_is_handed_to_the_server_with_the_callers_environment(served: Any) -> None:
    server, root = served
    path = socket_path(root)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # its owner's only
    done = command(server, root, "run", "say.py", MY_SETTING="from-the-caller", EXIT_WITH="3")
    assert done.returncode == 3, done.stderr  # the job's own exit code
    assert "job says from-the-caller" in done.stdout
    assert "acting as local admin 'root'" in done.stderr
    assert "failed" in done.stderr and "exit code 3" in done.stderr
    assert handed_over(server, job_id(done.stderr))
    # A command is looked up on the caller's PATH, as the job will run it.
    tools = root / "tools"
    tools.mkdir(exist_ok=True)
    (tools / "greet").write_text("#!/bin/sh\necho greeted $MY_SETTING\n")
    (tools / "greet").chmod(0o755)
    path = f"{tools}:{server_environment(server)['PATH']}"
    done = command(server, root, "run", "--", "greet", MY_SETTING="by-path", PATH=path)
    assert done.returncode == 0, done.stderr
    assert "greeted by-path" in done.stdout
    assert handed_over(server, job_id(done.stderr))


def test_a_token_acts_as_its_user(served: Any, tmp_path: Path) -> None:
    server, root = served
    workbench = Workbench(Workspace.open(root, environ={}))
    viewer = workbench.tokens.create("vera", "t", 1)[1]
    scientist = workbench.tokens.create("sam", "t", 1)[1]
    before = len(workbench.jobs.list(limit=1000))
    refused = command(server, root, "run", "say.py", ATELIER_TOKEN=viewer)
    assert refused.returncode == 1
    assert "vera (viewer) may not run jobs" in refused.stderr
    wrong = command(server, root, "run", "say.py", ATELIER_TOKEN=scientist[:-2] + "xx")
    assert wrong.returncode == 1 and "ATELIER_TOKEN is not accepted" in wrong.stderr
    done = command(server, root, "run", "say.py", ATELIER_TOKEN=scientist, MY_SETTING="x")
    assert done.returncode == 0, done.stderr
    assert "acting as local admin" not in done.stderr
    assert handed_over(server, job_id(done.stderr))
    try:
        jobs = workbench.jobs.list(limit=1000)
        assert len(jobs) == before + 1  # nothing was recorded for the refused ones
        assert jobs[0].submitted_by == "sam"
    finally:
        workbench.close()


def ask(root: Path, request: bytes) -> list[dict[str, Any]]:
    """Send ``request`` on the socket as it is; the server's answers."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
        with address(socket_path(root)) as where:
            connection.connect(where)
        connection.sendall(request)
        connection.shutdown(socket.SHUT_WR)
        return [json.loads(line) for line in connection.makefile("rb")]


def request(**changes: Any) -> bytes:
    body = {
        "token": None,
        "cwd": "/",
        "environ": {},
        "target": ["say.py"],
        "project": None,
        "profile": None,
        "params": {},
        "detach": True,
    }
    assert set(body) == REQUEST_KEYS
    return json.dumps({**body, **changes}).encode() + b"\n"


def settings_of(server: RunningServer) -> dict[str, str]:
    return {k: v for k, v in server_environment(server).items() if k.startswith("ATELIER_")}


def test_other_settings_are_declined_and_the_command_opens_the_workspace(served: Any) -> None:
    server, root = served
    other = settings_of(server) | {"ATELIER_COMPUTE_RAY_PENDING_SECONDS": "30"}
    answers = ask(root, request(cwd=str(root), environ=other))
    assert answers == [{"decline": "the command's ATELIER_ variables differ"}]
    done = command(server, root, "run", "say.py", ATELIER_COMPUTE_RAY_PENDING_SECONDS="30")
    assert done.returncode == 0 and "job says" in done.stdout, done.stderr


@pytest.mark.parametrize(
    ("sent", "said"),
    [
        (b"not json\n", "not JSON"),
        (b"[]\n", "must hold exactly"),
        (request(extra=1), "must hold exactly"),
        (request(target=[]), "target"),
        (request(target="say.py"), "target"),
        (request(cwd="relative"), "cwd"),
        (request(environ={"A": 1}), "environ"),
        (request(token=5), "token"),
        (request(detach="yes"), "detach"),
        (b"{" + b" " * (1 << 20) + b"}\n", "over"),
    ],
)
def test_malformed_requests_are_refused(served: Any, sent: bytes, said: str) -> None:
    _, root = served
    answers = ask(root, sent)
    assert len(answers) == 1 and said in answers[0]["error"], answers


def test_a_job_keeps_none_of_the_callers_client_settings(served: Any) -> None:
    """A caller's environment travels, but not who acts or which run the job logs to: those
    are the job's own."""
    server, root = served
    env = settings_of(server) | {
        "MY_SETTING": "kept",
        "MLFLOW_RUN_ID": "forged",
        "MLFLOW_TRACKING_TOKEN": "stolen",
    }
    answers = ask(root, request(cwd=str(root), environ=env, detach=False))
    assert "error" not in answers[-1], answers
    output = "".join(answer.get("out", "") for answer in answers)
    assert "job says kept" in output
    assert "forged" not in output
    assert answers[-1]["end"]["state"] == "succeeded"


def test_only_the_owner_may_hand_jobs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Another system user on the machine (a different peer user id) is refused."""
    from atelier.server import local_runs

    served = local_runs.LocalRuns.__new__(local_runs.LocalRuns)
    monkeypatch.setattr(local_runs, "peer_uid", lambda _connection: os.getuid() + 1)
    ours, theirs = socket.socketpair()
    with theirs:
        theirs.sendall(request())
        served._serve(ours)  # the workbench is never reached
        answer = json.loads(theirs.makefile("rb").readline())
    assert answer == {"error": "only the workspace's owner may hand it jobs"}


def test_a_caller_that_never_asks_is_let_go(monkeypatch: pytest.MonkeyPatch) -> None:
    from atelier.server import local_runs

    served = local_runs.LocalRuns.__new__(local_runs.LocalRuns)
    monkeypatch.setattr(local_runs, "REQUEST_SECONDS", 0.2)
    ours, theirs = socket.socketpair()
    with theirs:
        theirs.sendall(b'{"token": null')  # and nothing more, the connection left open
        served._serve(ours)  # returns after REQUEST_SECONDS: the thread serving it ends
        assert theirs.recv(100) == b""  # closed without an answer


def test_a_refused_job_starts_no_supervisor(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The service's own checks (here the profile) refuse before a supervisor is started for
    the job or a waiting one replaced."""
    from atelier.server import local_runs

    started: list[bool] = []
    monkeypatch.setattr(local_runs, "_new_spare", lambda: started.append(True))
    workbench = Workbench(Workspace.open(new_workspace(tmp_path / "ws"), environ={}))
    try:
        served = local_runs.LocalRuns(workbench)
        environ = {k: v for k, v in os.environ.items() if k.startswith("ATELIER_")}
        ours, theirs = socket.socketpair()
        with theirs:
            theirs.sendall(request(cwd=str(tmp_path), environ=environ, profile="nope"))
            served._serve(ours)
            answers = [json.loads(line) for line in theirs.makefile("rb")]
    finally:
        workbench.close()
    assert "unknown profile 'nope'" in answers[-1]["error"], answers
    assert started == []
