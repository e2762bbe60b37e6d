"""A user's Jupyter server in-process: started on demand, found idle, stopped clean."""

from __future__ import annotations

import asyncio
import stat
import time
from datetime import timedelta
from pathlib import Path

from atelier.config import Workspace, init_workspace
from atelier.services.notebooks import NotebookServerFailed
from atelier.services.workbench import Workbench


async def until_ready(wb: Workbench, user: str) -> None:
    server = wb.notebooks.get(user)
    assert server is not None
    deadline = time.monotonic() + 180
    while not await wb.notebooks.probe(server):
        assert time.monotonic() < deadline, server.log_tail()
        await asyncio.sleep(0.3)


def test_start_idle_stop(tmp_path: Path) -> None:
    root, _ = init_workspace(tmp_path / "ws")
    wb = Workbench(Workspace.open(root, environ={}))
    try:
        owner = wb.owner()
        server = wb.notebooks.start(owner)
        assert wb.notebooks.start(owner) is server  # one process per user
        asyncio.run(until_ready(wb, owner.name))
        config = server.folder / "jupyter_server_config.json"
        assert stat.S_IMODE(config.stat().st_mode) == 0o600  # holds the server's secret
        assert server.secret not in " ".join(map(str, server.process.args))

        assert asyncio.run(wb.notebooks.idle_users()) == []  # idle_minutes is 120
        wb.notebooks.idle = timedelta(seconds=1)
        time.sleep(1.5)
        assert asyncio.run(wb.notebooks.idle_users()) == [owner.name]

        assert wb.notebooks.stop(owner.name)
        assert server.process.poll() is not None
        assert not server.socket.exists()
        assert wb.notebooks.get(owner.name) is None
        token = next(t for t in wb.tokens.list(owner.name) if t.key == server.token_key)
        assert not token.active
    finally:
        wb.close()


def test_a_server_that_dies_is_reported(tmp_path: Path) -> None:
    root, _ = init_workspace(tmp_path / "ws")
    wb = Workbench(Workspace.open(root, environ={}))
    try:
        wb.notebooks.python = str(tmp_path / "no-such-python")
        try:
            wb.notebooks.start(wb.owner())
        except NotebookServerFailed as exc:
            assert "cannot start JupyterLab" in str(exc)
        else:
            raise AssertionError("expected a failure")
        assert not [t for t in wb.tokens.list(wb.owner().name) if t.active]
    finally:
        wb.close()
