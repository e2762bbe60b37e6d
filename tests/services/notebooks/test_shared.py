"""A project's shared JupyterLab: only its owners and editors get in (HTTP and WebSocket),
Jupyter knows them by their Atelier names, and a kernel runs as the member who started it,
who alone may reach it."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest
from websockets.exceptions import InvalidStatus

from atelier.config import Workspace, init_workspace
from atelier.services.notebooks import kernel_name
from atelier.services.workbench import Workbench
from tests.conftest import RunningServer, start_server
from tests.services.notebooks.test_notebooks import run_code

PASSWORD = "correct horse battery"
PROJECT = "team"


@dataclass
class Team:
    server: RunningServer
    workbench: Workbench
    tokens: dict[str, str]

    def url(self, path: str) -> str:
        return f"{self.server.url}/collab/{PROJECT}/{path}"

    def headers(self, who: str) -> dict[str, str]:
        return {"Authorization": f"token {self.tokens[who]}"}

    def channels(self, kernel: str, who: str) -> str:
        query = urlencode({"session_id": uuid.uuid4().hex, "token": self.tokens[who]})
        ws = "ws" + self.server.url.removeprefix("http")
        return f"{ws}/collab/{PROJECT}/api/kernels/{kernel}/channels?{query}"


@pytest.fixture(scope="module")
def team(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Team]:
    """Project ``team``: ada owns it, bob edits, cy reads; dan is another scientist."""
    root, _ = init_workspace(tmp_path_factory.mktemp("shared") / "ws")
    workbench = Workbench(Workspace.open(root, environ={}))
    people = {"ada": "scientist", "bob": "scientist", "cy": "scientist", "dan": "scientist"}
    people["val"] = "viewer"
    for name, role in people.items():
        workbench.users.create(name, role, PASSWORD)
    ada = workbench.acting(workbench.tokens.create("ada", "t", 1)[1])
    workbench.projects.create(PROJECT, ada)
    workbench.projects.add_member(PROJECT, "bob", ada, role="editor")
    workbench.projects.add_member(PROJECT, "cy", ada, role="reader")
    tokens = {name: workbench.tokens.create(name, "test", 1)[1] for name in people}
    server = start_server(workbench.workspace)
    try:
        yield Team(server, workbench, tokens)
    finally:
        server.stop()
        workbench.close()


def test_only_owners_and_editors_get_in(team: Team) -> None:
    for who, why in (
        ("dan", "dan is not a member of project 'team'"),
        ("cy", "cy is a reader of project 'team'"),
    ):
        refused = httpx.get(team.url("api/contents"), headers=team.headers(who))
        assert refused.status_code == 403 and why in refused.json()["message"]
        with pytest.raises(InvalidStatus):
            asyncio.run(run_code(team.channels("any", who), "print(1)"))
        # Nor the shared document's WebSocket, nor the git panel's endpoints.
        room = team.channels("x", who).replace(
            "api/kernels/x/channels", "api/collaboration/room/json:notebook:x"
        )
        with pytest.raises(InvalidStatus):
            asyncio.run(run_code(room, "print(1)"))
        git = httpx.post(
            team.url("git/commit"), headers=team.headers(who), json={"commit_msg": "x"}
        )
        assert git.status_code == 403
    assert httpx.get(team.url("api/contents"), headers=team.headers("val")).status_code == 403
    assert httpx.get(team.url("api/contents")).status_code == 401
    assert (
        httpx.get(
            f"{team.server.url}/collab/nope/api/contents", headers=team.headers("ada")
        ).status_code
        == 403
    )

    # Members get the project's folder, and Jupyter knows them by their Atelier names.
    listed = httpx.get(team.url("api/contents"), headers=team.headers("ada"), timeout=90)
    assert listed.status_code == 200, listed.text
    assert "notebooks" in [item["name"] for item in listed.json()["content"]]
    me = httpx.get(team.url("api/me"), headers=team.headers("bob")).json()
    assert me["identity"]["username"] == "bob" and me["identity"]["display_name"] == "bob"
    # A caller cannot name someone else: the gateway replaces the header.
    forged = team.headers("bob") | {"X-Atelier-User": "ada"}
    assert httpx.get(team.url("api/me"), headers=forged).json()["identity"]["username"] == "bob"
    # No terminal in a shared server.
    assert httpx.post(team.url("api/terminals"), headers=team.headers("ada")).status_code == 404


def test_a_kernel_runs_as_the_member_who_started_it(team: Team) -> None:
    session = httpx.post(
        team.url("api/sessions"),
        headers=team.headers("ada"),
        json={
            "path": "notebooks/together.ipynb",
            "type": "notebook",
            "kernel": {"name": kernel_name(PROJECT)},
        },
        timeout=90,
    )
    assert session.status_code == 201, session.text
    kernel = session.json()["kernel"]["id"]
    try:
        code = "import os; print(os.environ['ATELIER_TOKEN'], os.getcwd())"
        token, cwd = asyncio.run(run_code(team.channels(kernel, "ada"), code)).split()
        use = team.workbench.tokens.authenticate(token)
        assert use is not None and use.principal.name == "ada" and use.principal.scoped
        assert token != team.tokens["ada"]
        assert Path(cwd) == team.workbench.projects.get(PROJECT).path / "notebooks"
        # bob co-edits the notebook but does not run code as ada.
        with pytest.raises(InvalidStatus):
            asyncio.run(run_code(team.channels(kernel, "bob"), "print(1)"))
        # Nor with the kernel's path spelled otherwise (the check reads what Jupyter reads).
        for spelling in (f"/api/kernels/{kernel}/channels", f"api/./kernels/{kernel}/channels"):
            other = team.channels(kernel, "bob").replace(f"api/kernels/{kernel}/channels", spelling)
            with pytest.raises(InvalidStatus):
                asyncio.run(run_code(other, "print(1)"))
        for spelling in (f"/api/kernels/{kernel}/restart", f"api/x/../kernels/{kernel}/restart"):
            refused = httpx.post(team.url(spelling), headers=team.headers("bob"))
            assert refused.status_code == 403, spelling
        # Ending ada's session would end her kernel: hers to do.
        ended = httpx.delete(
            team.url(f"api/sessions/{session.json()['id']}"), headers=team.headers("bob")
        )
        assert ended.status_code == 403
        unknown = httpx.post(team.url("api/kernels/nope/interrupt"), headers=team.headers("bob"))
        assert unknown.status_code == 403
        for action in ("interrupt", "restart"):
            refused = httpx.post(
                team.url(f"api/kernels/{kernel}/{action}"), headers=team.headers("bob")
            )
            assert refused.status_code == 403 and "runs as ada" in refused.json()["message"]
        assert (
            httpx.delete(team.url(f"api/kernels/{kernel}"), headers=team.headers("bob")).status_code
            == 403
        )
        # bob's own kernel runs as bob.
        own = httpx.post(
            team.url("api/kernels"),
            headers=team.headers("bob"),
            json={"name": kernel_name(PROJECT)},
            timeout=90,
        )
        assert own.status_code == 201, own.text
        printed = asyncio.run(
            run_code(
                team.channels(own.json()["id"], "bob"),
                "import os; print(os.environ['ATELIER_TOKEN'])",
            )
        )
        use = team.workbench.tokens.authenticate(printed.strip())
        assert use is not None and use.principal.name == "bob"
    finally:
        httpx.delete(team.url(f"api/sessions/{session.json()['id']}"), headers=team.headers("ada"))
