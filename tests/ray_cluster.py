"""A real local Ray head for the whole test session, started once, stopped at the end.

Ray is heavy on a small machine: one head (one CPU) serves every Ray test.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port

#: `ray start` gives the raylet a fixed 30 s to register; on a busy machine it may miss that.
ATTEMPTS = 3


def _stop(head: subprocess.Popen[bytes]) -> None:
    for sig, wait in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(head.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            head.wait(timeout=wait)


def _start(temp: Path) -> tuple[subprocess.Popen[bytes], str]:
    """A head that answers, or AssertionError with the end of `ray start`'s output."""
    ray = Path(sys.executable).parent / "ray"
    dashboard = free_port()
    command = [
        str(ray), "start", "--head", "--block", "--temp-dir", str(temp), "--num-cpus", "1",
        "--include-dashboard=true", "--dashboard-port", str(dashboard),
        "--port", str(free_port()), "--ray-client-server-port", str(free_port()),
        "--dashboard-agent-listen-port", str(free_port()), "--disable-usage-stats",
    ]  # fmt: skip
    log = temp / "start.log"
    # --block keeps `ray start` in the foreground as the leader of a process group that
    # holds every Ray process of this head: the group is what is stopped afterwards.
    with log.open("wb") as output:
        head = subprocess.Popen(
            command,
            stdout=output,
            stderr=subprocess.STDOUT,
            env={**os.environ, "RAY_USAGE_STATS_ENABLED": "0"},
            start_new_session=True,
        )
    address = f"http://127.0.0.1:{dashboard}"
    deadline = time.monotonic() + 300
    while True:
        if head.poll() is not None or time.monotonic() > deadline:
            _stop(head)
            raise AssertionError(f"ray start failed: {log.read_text()[-3000:]}")
        try:
            nodes = httpx.get(f"{address}/api/v0/nodes", timeout=30).json()
            if nodes["data"]["result"]["result"]:
                return head, address
        except (httpx.HTTPError, KeyError, ValueError, TypeError):
            pass
        time.sleep(0.5)


@pytest.fixture(scope="session")
def ray_head() -> Iterator[str]:
    """The dashboard address (``http://127.0.0.1:PORT``) of a one-CPU Ray head."""
    # Ray's socket paths must stay short: a temp dir of its own under /tmp.
    temp = Path(tempfile.mkdtemp(prefix="rt", dir="/tmp"))
    try:
        for attempt in range(ATTEMPTS):
            try:
                head, address = _start(temp)
                break
            except AssertionError:
                if attempt == ATTEMPTS - 1:
                    raise
        try:
            yield address
        finally:
            _stop(head)
    finally:
        shutil.rmtree(temp, ignore_errors=True)
