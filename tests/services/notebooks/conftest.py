"""A running Atelier with the demo bank, one project and its JupyterLab, shared per module."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from atelier.config import Workspace, init_workspace
from atelier.services.auth import Principal
from atelier.services.demo.load import load_demo
from atelier.services.workbench import Workbench
from tests.conftest import RunningServer, start_server

PROJECT = "demo"
SCALE = 0.05  # 500 customers, 50k transactions: enough churn to train on, quick to load


@dataclass
class Lab:
    server: RunningServer
    workbench: Workbench
    owner: Principal
    tokens: dict[str, str]

    def headers(self, who: str = "owner") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    def wait_for_jupyter(self, who: str = "owner", timeout: float = 180) -> None:
        """Ask until the user's JupyterLab answers (the first request starts it)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            response = httpx.get(
                f"{self.server.url}/notebooks/api/status", headers=self.headers(who), timeout=90
            )
            if response.status_code == 200:
                return
            assert response.status_code == 503, response.text
            assert response.headers["retry-after"]
            time.sleep(0.5)
        raise AssertionError(f"JupyterLab did not start in {timeout} s")


def demo_workbench(folder: Path) -> tuple[Workbench, Principal]:
    root, _ = init_workspace(folder / "ws")
    workbench = Workbench(Workspace.open(root, environ={}))
    owner = workbench.owner()
    load_demo(workbench.warehouse, scale=SCALE, author=owner.name)
    workbench.projects.create(PROJECT, owner, "the starter project")
    return workbench, owner


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    workbench, owner = demo_workbench(tmp_path_factory.mktemp("nb"))
    workbench.users.create("viewer1", "viewer", "correct horse battery")
    workbench.users.create("sam", "scientist", "correct horse battery")
    revoked, revoked_secret = workbench.tokens.create(owner.name, "revoked", 1)
    workbench.tokens.revoke(revoked.key)
    tokens = {
        "owner": workbench.tokens.create(owner.name, "test", 1)[1],
        "viewer": workbench.tokens.create("viewer1", "test", 1)[1],
        "sam": workbench.tokens.create("sam", "test", 1)[1],
        "revoked": revoked_secret,
    }
    server = start_server(workbench.workspace)
    try:
        yield Lab(server, workbench, owner, tokens)
    finally:
        server.stop()
        workbench.close()
