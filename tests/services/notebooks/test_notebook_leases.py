"""Several servers on one workspace: a user's JupyterLab, and a project's shared one, run on
one server at a time. The other servers say where it runs (the gateway passes requests on
there) instead of starting a second one on the same socket; once it stops there, the next
server asked starts one."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from atelier.services.auth import Principal
from atelier.services.leases import LeaseKeeper, Leases
from atelier.services.notebooks import NotebookServers
from atelier.services.notebooks.servers import NotebookServerElsewhere, lease_name
from atelier.services.notebooks.shared import SharedServers, shared_lease_name
from atelier.services.workbench import Workbench


def _servers(workbench: Workbench, folder: Path, address: str) -> NotebookServers:
    keeper = LeaseKeeper(Leases(workbench.db, seconds=30), address=address)
    return NotebookServers(
        tokens=workbench.tokens,
        kernel_projects=lambda _principal: [],
        folder=folder / "notebooks",
        root_dir=folder / "projects",
        logs_dir=folder / "logs",
        atelier_url=lambda: address,
        idle_minutes=60,
        # Not JupyterLab: what is tested here is who may start one, not JupyterLab itself.
        python="/bin/true",
        leases=keeper,
    )


@pytest.fixture
def two(workbench: Workbench, tmp_path: Path) -> Iterator[tuple[NotebookServers, NotebookServers]]:
    first = _servers(workbench, tmp_path, "http://server-a:8700")
    second = _servers(workbench, tmp_path, "http://server-b:8700")
    yield first, second
    for servers in (first, second):
        servers.stop_all()
        assert servers.leases is not None
        servers.leases.stop()


def test_one_server_runs_a_users_jupyterlab(
    workbench: Workbench, two: tuple[NotebookServers, NotebookServers]
) -> None:
    first, second = two
    user = workbench.users.create("alice", "scientist", "correct horse battery")
    alice = Principal(user.id, "alice", "scientist", "session")
    first.start(alice)
    with pytest.raises(NotebookServerElsewhere, match="runs on http://server-a:8700") as there:
        second.start(alice)
    assert there.value.address == "http://server-a:8700"  # where the gateway passes it on
    assert second.get("alice") is None
    # Bob's is not Alice's: the other server starts his.
    bob_user = workbench.users.create("bob", "scientist", "correct horse battery")
    second.start(Principal(bob_user.id, "bob", "scientist", "session"))
    # Stopped on the first server: the second may start Alice's now.
    assert first.stop("alice")
    second.start(alice)
    found = Leases(workbench.db).get(lease_name("alice"))
    assert found is not None and found.address == "http://server-b:8700"


@dataclass(frozen=True)
class _Project:
    name: str
    path: Path
    python: Path = Path(sys.executable)


def test_one_server_runs_a_projects_shared_jupyterlab(workbench: Workbench, tmp_path: Path) -> None:
    def shared(address: str) -> SharedServers:
        return SharedServers(
            tokens=workbench.tokens,
            project=lambda name: _Project(name, tmp_path / "projects" / name),
            folder=tmp_path / "shared",
            logs_dir=tmp_path / "logs",
            atelier_url=lambda: address,
            idle_minutes=60,
            python="/bin/true",
            leases=LeaseKeeper(Leases(workbench.db, seconds=30), address=address),
        )

    (tmp_path / "projects" / "churn").mkdir(parents=True)
    first, second = shared("http://server-a:8700"), shared("http://server-b:8700")
    try:
        first.start_project("churn")
        with pytest.raises(
            NotebookServerElsewhere,
            match="shared JupyterLab of project churn runs on http://server-a:8700",
        ):
            second.start_project("churn")
        assert second.get("churn") is None
        # A user's own JupyterLab of the same name is another lease.
        assert Leases(workbench.db).get(lease_name("churn")) is None
        assert first.stop("churn")
        second.start_project("churn")
        found = Leases(workbench.db).get(shared_lease_name("churn"))
        assert found is not None and found.address == "http://server-b:8700"
    finally:
        for servers in (first, second):
            servers.stop_all()
            assert servers.leases is not None
            servers.leases.stop()
