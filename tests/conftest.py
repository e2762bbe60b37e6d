"""Shared fixtures: workspaces on SQLite and PostgreSQL, the app in-process, a real server.

Tests that touch metadata take ``metadata_url``, which runs them once on SQLite and once on the
PostgreSQL named by ``ATELIER_TEST_POSTGRES_URL`` (skipped with a reason when unset locally,
an error in CI).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from atelier.config import Workspace, init_workspace
from atelier.services.workbench import Workbench

POSTGRES_ENV = "ATELIER_TEST_POSTGRES_URL"


def postgres_admin_url() -> str:
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        if os.environ.get("CI"):
            pytest.fail(f"{POSTGRES_ENV} must be set in CI (PostgreSQL tests may not be skipped)")
        pytest.skip(f"{POSTGRES_ENV} is not set: PostgreSQL tests skipped")
    return url


@pytest.fixture
def postgres_database() -> Iterator[str]:
    """A fresh, empty PostgreSQL database; its URL. Dropped afterwards."""
    import psycopg

    admin = postgres_admin_url()
    name = f"atelier_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield _with_db(admin, name)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _with_db(url: str, name: str) -> str:
    base, _, query = url.partition("?")
    scheme, _, rest = base.partition("://")
    host = rest.split("/", 1)[0]
    return f"{scheme}://{host}/{name}" + (f"?{query}" if query else "")


@pytest.fixture(params=["sqlite", "postgres"])
def metadata_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'meta.db'}"
    url: str = request.getfixturevalue("postgres_database")
    return url


@pytest.fixture
def workspace(tmp_path: Path, metadata_url: str) -> Workspace:
    root, _ = init_workspace(tmp_path / "ws")
    config = root / "atelier.toml"
    config.write_text(config.read_text().replace('\nurl = ""\n', f'\nurl = "{metadata_url}"\n', 1))
    return Workspace.open(root, environ={})


@pytest.fixture
def workbench(workspace: Workspace) -> Iterator[Workbench]:
    wb = Workbench(workspace)
    yield wb
    wb.close()


PASSWORD = "correct horse battery"


@dataclass
class Accounts:
    """One user per role, each with an API token."""

    tokens: dict[str, str]

    def headers(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}


@pytest.fixture
def accounts(workbench: Workbench) -> Accounts:
    tokens = {}
    for role in ("admin", "scientist", "viewer"):
        workbench.users.create(f"{role}1", role, PASSWORD)
        tokens[role] = workbench.tokens.create(f"{role}1", "test", 1)[1]
    return Accounts(tokens)


@pytest.fixture
def client(workbench: Workbench) -> Iterator[object]:
    from fastapi.testclient import TestClient

    from atelier.server.app import create_app

    with TestClient(create_app(workbench), base_url="http://127.0.0.1") as test_client:
        yield test_client


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class RunningServer:
    url: str
    process: subprocess.Popen[str]
    workspace: Workspace
    login_link: str | None
    reader: threading.Thread | None = None
    output: list[str] = field(default_factory=list)

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.reader is not None:
            self.reader.join(timeout=10)
        elif self.process.stdout is not None:
            self.process.stdout.close()
        return self.process.returncode


def start_server(workspace: Workspace, *extra: str) -> RunningServer:
    """``atelier up`` in a subprocess on a free port; returns once /health answers."""
    port = free_port()
    env = {**os.environ, "ATELIER_WORKSPACE": str(workspace.root)}
    env.pop("ATELIER_URL", None)
    env.pop("ATELIER_TOKEN", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "atelier", "up", "--port", str(port), *extra],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    link = None
    deadline = time.monotonic() + 60
    assert process.stdout is not None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line and process.poll() is not None:
            raise RuntimeError(f"atelier up exited with {process.returncode}")
        if "/login/link?code=" in line:
            link = line.strip()
        if "Uvicorn running" in line or "Application startup complete" in line:
            break
    server = RunningServer(url, process, workspace, link)
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                server.reader = _drain(process, server.output)
                return server
        except httpx.TransportError:
            time.sleep(0.1)
    server.stop()
    raise RuntimeError("atelier up did not become healthy in 60 s")


def _drain(process: subprocess.Popen[str], lines: list[str]) -> threading.Thread:
    """Keep reading the server's output so a full pipe never blocks it; close it at the end."""

    def pump() -> None:
        assert process.stdout is not None
        with process.stdout:
            lines.extend(process.stdout)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    return reader


@pytest.fixture
def server(workspace: Workspace, workbench: Workbench) -> Iterator[RunningServer]:
    running = start_server(workspace)
    yield running
    running.stop()
