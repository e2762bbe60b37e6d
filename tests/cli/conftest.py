"""The CLI both ways: the ``cli`` fixture runs each test once on the workspace (embedded) and
once against a real server with a token from a folder outside any workspace (remote, as on a
laptop), so the two paths cannot drift apart."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest

from atelier.config import Workspace
from atelier.services.workbench import Workbench
from tests.cli.helpers import atelier
from tests.conftest import PASSWORD, RunningServer, new_workspace, start_server

#: The people every ``cli`` workspace has: an admin, a scientist and a viewer.
PEOPLE = {"ada": "admin", "sam": "scientist", "vic": "viewer"}


@dataclass
class Cli:
    """``atelier`` as one person sees it, embedded or remote."""

    mode: str
    root: Path
    tokens: dict[str, str]
    cwd: Path
    user: str = "ada"
    server: RunningServer | None = None
    env: dict[str, str] = field(default_factory=dict)

    @property
    def remote(self) -> bool:
        return self.mode == "remote"

    def as_(self, user: str) -> Cli:
        """The same CLI acting as another of :data:`PEOPLE`."""
        return replace(self, user=user)

    def workbench(self) -> Workbench:
        """The workspace's services, to arrange a test or check what a command did (close it)."""
        return Workbench(Workspace.open(self.root, environ={}))

    def environ(self) -> dict[str, str]:
        token = {"ATELIER_TOKEN": self.tokens[self.user]}
        if self.server is not None:
            return {"ATELIER_URL": self.server.url, **token, **self.env}
        return {"ATELIER_WORKSPACE": str(self.root), **token, **self.env}

    def __call__(
        self,
        *args: str,
        cwd: Path | None = None,
        stdin: str | None = None,
        env: dict[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        return atelier(
            *args, cwd=cwd or self.cwd, stdin=stdin, env={**self.environ(), **(env or {})}
        )


@pytest.fixture(params=["embedded", "remote"])
def cli(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Cli]:
    """A fresh workspace with :data:`PEOPLE`, and ``atelier`` acting as ada on it: embedded
    (ATELIER_WORKSPACE) or remote (ATELIER_URL from a folder outside the workspace)."""
    root = new_workspace(tmp_path / "ws")
    wb = Workbench(Workspace.open(root, environ={}))
    try:
        tokens = {}
        for name, role in PEOPLE.items():
            wb.users.create(name, role, PASSWORD)
            tokens[name] = wb.tokens.create(name, "cli", 1)[1]
    finally:
        wb.close()
    laptop = tmp_path / "laptop"
    laptop.mkdir()
    if request.param == "embedded":
        yield Cli("embedded", root, tokens, laptop)
        return
    server = start_server(Workspace.open(root, environ=dict(os.environ)))
    try:
        yield Cli("remote", root, tokens, laptop, server=server)
    finally:
        server.stop()
