"""``ws.apps`` and ``ws.models`` both ways: the embedded client on the workspace and the remote
one through a real server (one for the module), with the same calls, answers and refusals."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from atelier.config import Workspace
from atelier.errors import AtelierError, Conflict, InvalidInput, NotFound, PermissionDenied
from atelier.sdk.client import Client
from atelier.sdk.embedded import EmbeddedClient
from atelier.sdk.remote import RemoteClient
from atelier.services.workbench import Workbench
from tests.conftest import PASSWORD, RunningServer, start_server
from tests.services.serving.helpers import EXAMPLE, workspace_with_model

PEOPLE = {"ada": "admin", "sam": "scientist", "sue": "scientist", "vic": "viewer"}


@dataclass
class Lab:
    workbench: Workbench
    server: RunningServer
    tokens: dict[str, str]


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    workspace = workspace_with_model(tmp_path_factory.mktemp("sdk-apps") / "ws")
    wb = Workbench(workspace)
    tokens = {}
    for name, role in PEOPLE.items():
        wb.users.create(name, role, PASSWORD)
        tokens[name] = wb.tokens.create(name, "sdk", 1)[1]
    server = start_server(Workspace.open(workspace.root, environ=dict(os.environ)))
    try:
        yield Lab(wb, server, tokens)
    finally:
        server.stop()
        wb.close()


Connect = Callable[[str], Client]


@pytest.fixture(params=["embedded", "remote"])
def connect(request: pytest.FixtureRequest, lab: Lab) -> Iterator[Connect]:
    """A client acting as one of :data:`PEOPLE`, embedded or remote (closed afterwards)."""
    opened: list[Client] = []

    def open_as(user: str) -> Client:
        client: Client
        if request.param == "embedded":
            client = EmbeddedClient(Workspace.open(lab.workbench.workspace.root, environ={}),
                                    lab.tokens[user])  # fmt: skip
        else:
            client = RemoteClient(lab.server.url, lab.tokens[user])
        opened.append(client)
        return client

    yield open_as
    for client in opened:
        client.close()


def mode(connect: Connect) -> str:
    return "remote" if isinstance(connect("ada"), RemoteClient) else "embedded"


def test_a_generated_app_from_publishing_to_feedback(connect: Connect) -> None:
    ada, sam, vic = connect("ada"), connect("sam"), connect("vic")
    name = f"churn-{mode(connect)}"
    app = ada.apps.create(name, "churn@champion", title="Churn")
    assert (app["kind"], app["url"], app["owner"], app["status"]) == (
        "model",
        f"/apps/{name}",
        "ada",
        "running",
    )
    assert ada.apps.address(app).endswith(f"/apps/{name}")
    detail = ada.apps.get(name)
    assert {f["name"] for f in detail["form"]} == set(EXAMPLE)
    assert detail["model_version"] == 1

    # A viewer sees nothing of an app not shared with them, and manages nothing.
    with pytest.raises(NotFound):
        vic.apps.get(name)
    assert name not in [a["name"] for a in vic.apps.list()]
    with pytest.raises(PermissionDenied):
        vic.apps.share(name, everyone=True)
    # Another scientist does not change someone else's app.
    with pytest.raises(PermissionDenied, match=r"only the owner|may not"):
        sam.apps.pause(name)
    with pytest.raises(PermissionDenied):
        sam.apps.delete(name)

    assert ada.apps.share(name, users=["vic"])["shared_with"] == ["vic"]
    answer = vic.apps.predict(name, EXAMPLE)
    assert answer["model"] == "churn" and answer["id"]
    entry = vic.apps.feedback(name, answer["id"], "wrong", correct_value="stay", comment="renewed")
    assert (entry["label"], entry["user"], entry["verdict"]) == ("stay", "vic", "wrong")
    with pytest.raises(InvalidInput, match="'right' or 'wrong'"):
        vic.apps.feedback(name, answer["id"], "maybe")
    with pytest.raises(PermissionDenied):
        vic.apps.feedback_summary(name)
    summary = ada.apps.feedback_summary(name)
    assert summary["total"] >= 1 and summary["comments"][0]["comment"] == "renewed"

    assert ada.apps.pause(name)["status"] == "paused"
    with pytest.raises(Conflict, match="paused"):
        vic.apps.predict(name, EXAMPLE)
    assert ada.apps.resume(name)["status"] == "running"
    assert ada.apps.delete(name)["name"] == name
    with pytest.raises(NotFound):
        ada.apps.get(name)


def hosted_folder(root: Path) -> Path:
    """An app's folder: a main script, a helper module, a page, ignored data, and a link
    to a file inside it."""
    folder = root / "explorer"
    (folder / "pages").mkdir(parents=True)
    (folder / "data").mkdir()
    (folder / "app.py").write_text("import streamlit as st\nimport helpers\nst.title('x')\n")
    (folder / "helpers.py").write_text("ANSWER = 42\n")
    (folder / "pages" / "1_more.py").write_text("import streamlit as st\n")
    (folder / "data" / "customers.csv").write_text("id\n1\n")
    (folder / "notes.log").write_text("scratch\n")
    (folder / ".gitignore").write_text("data/\n*.log\n")
    (folder / "__pycache__").mkdir()
    (folder / "__pycache__" / "helpers.pyc").write_bytes(b"\0")
    (folder / "same.py").symlink_to("helpers.py")
    return folder


def shipped(lab: Lab, name: str) -> dict[str, str]:
    folder = lab.workbench.apps.folder / name
    return {
        p.relative_to(folder).as_posix(): p.read_text()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_a_hosted_app_from_a_folder(connect: Connect, lab: Lab, tmp_path: Path) -> None:
    sam, sue, vic = connect("sam"), connect("sue"), connect("vic")
    name = f"explorer-{mode(connect)}"
    folder = hosted_folder(tmp_path)
    app = sam.apps.deploy(name, folder)
    assert (app["kind"], app["owner"], app["url"]) == ("streamlit", "sam", f"/apps/{name}/")
    files = shipped(lab, name)
    assert sorted(files) == [".gitignore", "app.py", "helpers.py", "pages/1_more.py", "same.py"]
    assert files["same.py"] == "ANSWER = 42\n"  # a link inside the folder: its file
    assert not (lab.workbench.apps.folder / name / "same.py").is_symlink()
    assert lab.workbench.apps.registry.get(name).script == str(
        lab.workbench.apps.folder / name / "app.py"
    )

    # Refusals change nothing: another scientist, a viewer, a broken or missing entry.
    before = shipped(lab, name)
    (folder / "app.py").write_text("import dash\nprint('mine now')\n")
    with pytest.raises(PermissionDenied, match="only the owner"):
        sue.apps.deploy(name, folder)
    with pytest.raises(PermissionDenied):
        vic.apps.deploy(name, folder)
    (folder / "app.py").write_text("import streamlit as st\nst.write('hi'\n")
    with pytest.raises(InvalidInput, match=r"app\.py, line 2"):
        sam.apps.deploy(name, folder)
    with pytest.raises(InvalidInput, match=r"'nope\.py' is not in the folder"):
        sam.apps.deploy(name, folder, entry="nope.py")
    with pytest.raises(InvalidInput, match=r"leads out of the app's folder|\.\."):
        sam.apps.deploy(name, folder, entry="../app.py")
    assert shipped(lab, name) == before
    assert not [p for p in lab.workbench.apps.folder.iterdir() if p.name.startswith(".")]

    # A link out of the folder is refused before anything is sent.
    (folder / "app.py").write_text("import streamlit as st\n")
    (folder / "secrets.txt").symlink_to("/etc/hostname")
    with pytest.raises(InvalidInput, match=r"secrets\.txt links out of the folder"):
        sam.apps.deploy(name, folder)
    (folder / "secrets.txt").unlink()

    assert sam.apps.logs(name)["logs"] == ""
    with pytest.raises(PermissionDenied):
        sue.apps.logs(name)
    # One script replaces the whole folder.
    again = sam.apps.deploy(name, folder / "helpers.py", kind="dash", title="Explorer")
    assert (again["kind"], again["title"]) == ("dash", "Explorer")
    assert shipped(lab, name) == {"app.py": "ANSWER = 42\n"}
    sam.apps.delete(name)
    with pytest.raises(AtelierError):
        sam.apps.get(name)


def test_the_model_registry(connect: Connect, lab: Lab) -> None:
    ada, sam, vic = connect("ada"), connect("sam"), connect("vic")
    name = f"churn-{mode(connect)}"
    run_id = lab.workbench.models.card("churn@champion")["run_id"]
    first = ada.models.register(run_id, name, alias="champion", description="first")
    assert (first["name"], first["version"], first["aliases"], first["registered_by"]) == (
        name,
        1,
        ["champion"],
        "ada",
    )
    assert ada.models.register(run_id, name)["version"] == 2
    assert ada.models.set_alias(name, "challenger", 2)["aliases"] == ["challenger"]
    listed = {m["name"]: m for m in ada.models.list()}
    assert listed[name]["aliases"] == {"champion": 1, "challenger": 2}
    assert listed[name]["latest_version"] == 2
    assert [v["version"] for v in ada.models.versions(name)] == [2, 1]
    card = ada.models.card(f"{name}@champion")
    assert (card["version"], card["description"], card["run_id"]) == (1, "first", run_id)
    assert {c["name"] for c in card["signature"]["inputs"]} == set(EXAMPLE)
    assert card["all_aliases"] == {"champion": 1, "challenger": 2}
    assert ada.models.card(f"{name}/2")["version"] == 2
    with pytest.raises(NotFound, match="has no alias 'staging'"):
        ada.models.card(f"{name}@staging")

    # Another scientist moves none of ada's aliases (champion is protected besides); a
    # viewer sees no models at all.
    for attempt in (
        lambda: sam.models.set_alias(name, "champion", 2),
        lambda: sam.models.delete_alias(name, "champion"),
        lambda: sam.models.set_alias(name, "challenger", 1),
        lambda: sam.models.register(run_id, name, alias="champion"),
    ):
        with pytest.raises(PermissionDenied, match="sam may not"):
            attempt()
    for read in (vic.models.list, lambda: vic.models.card(name), lambda: vic.models.versions(name)):
        with pytest.raises(PermissionDenied, match="viewer"):
            read()
    assert ada.models.card(f"{name}@champion")["version"] == 1
    ada.models.delete_alias(name, "challenger")
    assert ada.models.card(name)["all_aliases"] == {"champion": 1}
