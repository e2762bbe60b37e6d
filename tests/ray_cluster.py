"""A real local Ray head for the whole test session, started once, stopped at the end; and,
for the tests that ask for one, a worker node of its own joining that head.

Ray is heavy on a small machine: one head (one CPU) serves every Ray test. A worker node is a
second ``ray start`` process (its own raylet, its own CPU and the custom resource
:data:`WORKER_RESOURCE`), so a job can place work off the head; it leaves the cluster when its
test ends, so the other tests still see a one-node, one-CPU cluster.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import free_port

#: `ray start` gives the raylet a fixed 30 s to register; on a busy machine it may miss that.
ATTEMPTS = 3
#: The custom resource only the worker node has: a task asking for it runs there.
WORKER_RESOURCE = "atelier_worker"
#: The head's GCS address (``ip:port``, what ``ray start --address`` takes), by dashboard.
_GCS: dict[str, str] = {}


def _stop(node: subprocess.Popen[bytes]) -> None:
    """Stop a ``ray start --block`` node: told alone, it stops its own Ray processes (in about
    3 s; told together with them, it takes about a minute), then what is left of its process
    group is killed."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(node.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        node.wait(timeout=30)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(node.pid, signal.SIGKILL)
    node.wait(timeout=10)


def _alive_nodes(address: str) -> list[dict[str, Any]]:
    """The cluster's alive nodes, from the head's state API (empty while it does not answer)."""
    try:
        body = httpx.get(f"{address}/api/v0/nodes", params={"detail": "true"}, timeout=30).json()
        nodes = body["data"]["result"]["result"]
    except (httpx.HTTPError, KeyError, ValueError, TypeError):
        return []
    return [n for n in nodes if n.get("state") == "ALIVE"]


def _start(temp: Path) -> tuple[subprocess.Popen[bytes], str]:
    """A head that answers, or AssertionError with the end of `ray start`'s output."""
    ray = Path(sys.executable).parent / "ray"
    dashboard = free_port()
    gcs = free_port()
    command = [
        str(ray), "start", "--head", "--block", "--temp-dir", str(temp), "--num-cpus", "1",
        "--include-dashboard=true", "--dashboard-port", str(dashboard),
        "--port", str(gcs), "--ray-client-server-port", str(free_port()),
        "--dashboard-agent-listen-port", str(free_port()), "--disable-usage-stats",
    ]  # fmt: skip
    log = temp / "start.log"
    # --block keeps `ray start` in the foreground as the leader of a process group that
    # holds every Ray process of this head: what is left of it is killed at the end.
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
        nodes = _alive_nodes(address)
        if nodes:
            _GCS[address] = f"{nodes[0]['node_ip']}:{gcs}"
            return head, address
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


def _join(head: str, temp: Path) -> tuple[subprocess.Popen[bytes], str]:
    """A one-CPU worker node joined to ``head``, and its node id; or AssertionError with the
    end of `ray start`'s output."""
    ray = Path(sys.executable).parent / "ray"
    before = {str(n["node_id"]) for n in _alive_nodes(head)}
    command = [
        str(ray), "start", "--block", "--address", _GCS[head], "--num-cpus", "1",
        "--resources", json.dumps({WORKER_RESOURCE: 1}),
        # The smallest object store Ray accepts: the head's already takes its share of /dev/shm.
        "--object-store-memory", str(80 * 2**20),
        "--dashboard-agent-listen-port", str(free_port()), "--disable-usage-stats",
    ]  # fmt: skip
    log = temp / "worker.log"
    with log.open("wb") as output:
        worker = subprocess.Popen(
            command,
            stdout=output,
            stderr=subprocess.STDOUT,
            env={**os.environ, "RAY_USAGE_STATS_ENABLED": "0"},
            start_new_session=True,
        )
    deadline = time.monotonic() + 300
    while True:
        if worker.poll() is not None or time.monotonic() > deadline:
            _stop(worker)
            raise AssertionError(f"ray start (worker) failed: {log.read_text()[-3000:]}")
        for node in _alive_nodes(head):
            total = node.get("resources_total") or {}
            if str(node["node_id"]) not in before and WORKER_RESOURCE in total:
                return worker, str(node["node_id"])
        time.sleep(0.5)


def _leave(head: str, worker: subprocess.Popen[bytes], node_id: str) -> None:
    """Stop the worker node and wait until the head no longer counts it as alive."""
    _stop(worker)
    deadline = time.monotonic() + 180
    while any(str(n["node_id"]) == node_id for n in _alive_nodes(head)):
        assert time.monotonic() < deadline, f"Ray worker node {node_id} is still alive"
        time.sleep(1)


@pytest.fixture
def ray_worker(ray_head: str) -> Iterator[str]:
    """A worker node (one CPU and the resource :data:`WORKER_RESOURCE`) joined to the session's
    head for one test; yields its Ray node id. It leaves the cluster when the test ends."""
    temp = Path(tempfile.mkdtemp(prefix="rw", dir="/tmp"))
    try:
        for attempt in range(ATTEMPTS):
            try:
                worker, node_id = _join(ray_head, temp)
                break
            except AssertionError:
                if attempt == ATTEMPTS - 1:
                    raise
        try:
            yield node_id
        finally:
            _leave(ray_head, worker, node_id)
    finally:
        shutil.rmtree(temp, ignore_errors=True)
