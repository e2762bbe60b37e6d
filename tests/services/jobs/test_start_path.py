"""What stands between ``atelier run`` and a job's first line: kept light, pinned here.

A local job's supervisor launches the job before it loads pydantic, SQLAlchemy or an HTTP
client; a workspace without a running server is known without loading the HTTP client; the
CLI's embedded path does not load the remote client; the output is asked for often at first.
"""

from __future__ import annotations

import itertools
import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from atelier.sdk.jobs import FIRST_POLL, Jobs, Listing
from atelier.services.jobs import links
from atelier.services.jobs.supervisor import Supervisor

HEAVY = ("pydantic", "sqlalchemy", "httpx", "pandas", "duckdb")


def loaded_after(code: str) -> set[str]:
    """The heavy modules a fresh interpreter has loaded after running ``code``."""
    probe = f"{code}\nimport sys, json\nprint(json.dumps(sorted(sys.modules)))\n"
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120
    )
    modules = set(json.loads(done.stdout.strip().splitlines()[-1]))
    return {name for name in HEAVY if name in modules}


def test_the_supervisor_module_loads_nothing_heavy() -> None:
    code = "import atelier.services.jobs.supervisor, atelier.backends.compute.local"
    assert loaded_after(code) == set()


def test_a_local_job_is_launched_before_the_settings_are_loaded(tmp_path: Path) -> None:
    log = tmp_path / "job.log"
    spec = {
        "argv": [sys.executable, "-c", "print('hello', flush=True)"],
        "env": {},
        "cwd": str(tmp_path),
        "log": str(log),
        "resources": {"cpus": 1, "memory": 1 << 30, "gpus": 0},
        "backend": "local",
        "compute": {"backend": "local", "local_cpus": 0, "local_gpus": 0},
    }
    code = (
        "import json, sys\n"
        "from pathlib import Path\n"
        "from atelier.services.jobs.supervisor import Supervisor\n"
        f"spec = json.loads({json.dumps(json.dumps(spec))})\n"
        f"supervisor = Supervisor(Path({str(tmp_path)!r}), 7, spec)\n"
        "execution = supervisor.backend.launch(supervisor.launch_spec)\n"
        "execution._child.wait()\n"
    )
    assert loaded_after(code) == set()
    assert log.read_text() == "hello\n"


def test_the_supervisor_checks_the_settings_once_the_job_runs(tmp_path: Path) -> None:
    spec: dict[str, Any] = {
        "argv": ["true"],
        "env": {},
        "cwd": str(tmp_path),
        "log": str(tmp_path / "job.log"),
        "resources": {"cpus": 1, "memory": 1 << 30, "gpus": 0},
        "backend": "local",
        "compute": {"backend": "local", "local_cpus": "many"},
    }
    supervisor = Supervisor(tmp_path, 1, spec)
    with pytest.raises(Exception, match="local_cpus"):
        supervisor.compute_settings()
    spec["compute"] = {"backend": "local", "local_cpus": 2}
    settings = Supervisor(tmp_path, 1, spec).compute_settings()
    assert settings.local_cpus == 2


def test_no_server_is_known_without_the_http_client() -> None:
    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    code = (
        "from atelier.services.jobs.links import server_up\n"
        f"assert server_up('http://127.0.0.1:{port}') is False\n"
    )
    assert loaded_after(code) == set()


def test_something_listening_that_is_not_atelier_is_no_server() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        # It accepts, then never answers HTTP: the probe's timeout decides, not the socket.
        original = links.PROBE_SECONDS
        links.PROBE_SECONDS = 0.5
        try:
            assert links.server_up(f"http://127.0.0.1:{port}") is False
        finally:
            links.PROBE_SECONDS = original


def test_a_url_without_a_host_goes_to_the_http_probe() -> None:
    assert links._listening("not a url") is True


def test_the_cli_on_a_workspace_loads_no_remote_client() -> None:
    code = "import atelier.cli.main, atelier.cli.options, atelier.cli.jobs"
    assert "httpx" not in loaded_after(code)


class Scripted(Jobs):
    """Jobs whose log grows as scripted: each read returns the next piece."""

    def __init__(self, pieces: list[tuple[str, bool]]) -> None:
        self.pieces = pieces

    def read_log(self, job_id: int, offset: int = 0) -> tuple[str, int, bool]:
        text, final = self.pieces.pop(0)
        return text, offset + len(text), final

    def _submit(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        raise NotImplementedError

    def list(self, **kwargs: Any) -> Listing:
        raise NotImplementedError

    def project_for(self, folder: Path) -> str | None:
        raise NotImplementedError

    def get(self, job_id: int) -> dict[str, Any]:
        raise NotImplementedError

    def cancel(self, job_id: int) -> dict[str, Any]:
        raise NotImplementedError

    def profiles(self) -> Listing:
        raise NotImplementedError


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[float]]:
    """The waits of this test's own thread, not taken. ``time.sleep`` is one function for the
    whole process: a thread an earlier test left running (a process waited for) sleeps as
    before and is not counted."""
    waited: list[float] = []
    own, sleep = threading.get_ident(), time.sleep

    def wait(seconds: float) -> None:
        if threading.get_ident() == own:
            waited.append(seconds)
        else:
            sleep(seconds)

    monkeypatch.setattr("atelier.sdk.jobs.time.sleep", wait)
    yield waited


def test_follow_asks_often_at_first_then_every_poll(sleeps: list[float]) -> None:
    pieces = [("", False)] * 12 + [("first\n", False), ("", False), ("last\n", True), ("", True)]
    assert list(Scripted(pieces).follow(1, poll=0.25)) == ["first\n", "last\n"]
    assert sleeps[0] == FIRST_POLL
    assert sleeps == sorted(sleeps) and max(sleeps) == 0.25
    assert all(b <= a * 1.5 + 1e-9 for a, b in itertools.pairwise(sleeps))


def test_follow_never_polls_faster_than_asked_for(sleeps: list[float]) -> None:
    pieces = [("", False)] * 3 + [("", True)]
    assert list(Scripted(pieces).follow(1, poll=0.01)) == []
    assert sleeps == [0.01, 0.01, 0.01]


def test_opening_a_workspace_loads_no_catalog_service(tmp_path: Path) -> None:
    """Every CLI command opens the workspace (credentials are sealed then): the catalog and
    the sources, with the warehouse under them, load only when used."""
    from atelier.config import init_workspace

    root, _ = init_workspace(tmp_path / "ws")
    probe = (
        "import sys, json\n"
        "from pathlib import Path\n"
        "from atelier.config import Workspace\n"
        "from atelier.services.workbench import Workbench\n"
        f"Workbench(Workspace.open(Path({str(root)!r}), environ={{}})).close()\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120
    )
    modules = set(json.loads(done.stdout.strip().splitlines()[-1]))
    assert "atelier.services.catalog.credentials" in modules  # it did seal what was stored
    for name in ("catalog", "sources"):
        assert f"atelier.services.catalog.{name}" not in modules
    assert "atelier.backends.warehouse" not in modules
