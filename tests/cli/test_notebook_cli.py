"""`atelier notebook`: a one-time link that logs in and lands in JupyterLab."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from atelier.config import Workspace, init_workspace
from tests.cli.helpers import atelier
from tests.conftest import free_port, start_server


def follow(link: str) -> httpx.Response:
    response = httpx.get(link, follow_redirects=False)
    assert response.status_code == 303, response.text
    assert "atelier_session" in response.cookies
    return response


def test_reuses_a_running_server(tmp_path: Path) -> None:
    root, _ = init_workspace(tmp_path / "ws")
    server = start_server(Workspace.open(root, environ={}))
    try:
        port = server.url.rsplit(":", 1)[1]
        result = atelier("notebook", "--no-browser", "--port", port, "-w", str(root))
        assert result.returncode == 0, result.stderr
        link = result.stdout.strip().splitlines()[-1].strip()
        assert link.startswith(f"{server.url}/login/link?code=")
        assert follow(link).headers["location"] == "/notebooks/lab"
        assert httpx.get(link, follow_redirects=False).status_code == 401  # used up
    finally:
        server.stop()


def test_starts_the_server_when_none_runs(tmp_path: Path) -> None:
    root, _ = init_workspace(tmp_path / "ws")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ATELIER_")}
    # Its own apps port too: the default, the portal's port + 1, may be another test's.
    env["ATELIER_SERVER_APPS_PORT"] = str(free_port())
    process = subprocess.Popen(
        [sys.executable, "-m", "atelier", "notebook", "--no-browser", "--port", str(port)],
        cwd=root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        link = None
        seen: list[str] = []
        deadline = time.monotonic() + 90
        while link is None and time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:  # the output ended: the command is ending
                break
            seen.append(line)
            if "/login/link?code=" in line:
                link = line.strip()
        assert link is not None, "no login link printed:\n" + "".join(seen[-20:])
        assert follow(link).headers["location"] == "/notebooks/lab"
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()
