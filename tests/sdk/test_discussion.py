"""``ws.comment``, ``ws.comments``, ``ws.activity`` and webhooks both ways: the embedded client
on the workspace and the remote one through a real server, with the same answers and
refusals."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from atelier.backends.metadata import AppRecord, AppShare, User
from atelier.config import Workspace
from atelier.errors import InvalidInput, NotFound, PermissionDenied
from atelier.sdk.client import Client
from atelier.sdk.embedded import EmbeddedClient
from atelier.sdk.remote import RemoteClient
from atelier.services.workbench import Workbench
from tests.conftest import PASSWORD, RunningServer, new_workspace, start_server

PEOPLE = {"ada": "scientist", "bob": "scientist", "vic": "viewer", "root": "admin"}


@dataclass
class Lab:
    workbench: Workbench
    server: RunningServer
    tokens: dict[str, str]


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """App ``board`` of ada's, shared with the viewer vic."""
    root = new_workspace(tmp_path_factory.mktemp("sdk-discussion") / "ws")
    wb = Workbench(Workspace.open(root, environ={}))
    tokens = {}
    for name, role in PEOPLE.items():
        wb.users.create(name, role, PASSWORD)
        tokens[name] = wb.tokens.create(name, "sdk", 1)[1]
    with wb.db.session() as session:
        app = AppRecord(name="board", kind="streamlit", title="Board", owner="ada")
        session.add(app)
        session.flush()
        vic = session.query(User).filter_by(name="vic").one()
        session.add(AppShare(app_id=app.id, user_id=vic.id))
    server = start_server(Workspace.open(root, environ=dict(os.environ)))
    try:
        yield Lab(wb, server, tokens)
    finally:
        server.stop()
        wb.close()


Connect = Callable[[str], Client]


@pytest.fixture(params=["embedded", "remote"])
def connect(request: pytest.FixtureRequest, lab: Lab) -> Iterator[Connect]:
    opened: list[Client] = []

    def open_as(user: str) -> Client:
        client: Client
        if request.param == "embedded":
            workspace = Workspace.open(lab.workbench.workspace.root, environ={})
            client = EmbeddedClient(workspace, lab.tokens[user])
        else:
            client = RemoteClient(lab.server.url, lab.tokens[user])
        opened.append(client)
        return client

    yield open_as
    for client in opened:
        client.close()


def test_comments_mentions_and_feeds(connect: Connect) -> None:
    ada, bob, vic = connect("ada"), connect("bob"), connect("vic")
    tag = "remote" if isinstance(ada, RemoteClient) else "embedded"
    posted = vic.comment("app", "board", f"@ada {tag}: the <form> is slow, see model:churn/2")
    assert posted["author"] == "vic" and posted["mentions"] == ["ada"]
    assert "&lt;form&gt;" in posted["html"] and 'href="/models/churn?version=2"' in posted["html"]
    assert [c["body"] for c in ada.comments("app", "board")][-1] == posted["body"]
    latest = ada.activity(limit=5)
    assert latest[0]["kind"] == "mention" and tag in latest[0]["summary"]
    assert latest[0]["link"] == "/apps/board"
    assert not [i for i in bob.activity() if i["kind"] == "mention"]

    with pytest.raises(PermissionDenied, match="only its author may edit it"):
        bob.discussion.edit(posted["id"], "not mine")
    assert vic.discussion.edit(posted["id"], "fixed")["body"] == "fixed"
    with pytest.raises(PermissionDenied, match="viewers only use the apps shared with them"):
        vic.comment("table", "bank.customers", "hello")
    with pytest.raises(NotFound):
        vic.comments("app", "nothing-here")
    with pytest.raises(InvalidInput, match="subject kind"):
        ada.comment("notebook", "x", "hi")
    with pytest.raises(PermissionDenied):
        bob.activity(project="churn")
    vic.discussion.delete(posted["id"])


def test_webhooks_from_python(connect: Connect) -> None:
    ada, bob = connect("ada"), connect("bob")
    with pytest.raises(InvalidInput, match="internal address"):
        ada.discussion.add_webhook("http://127.0.0.1:8700/")
    assert ada.discussion.webhooks() == []
    with pytest.raises(NotFound):
        bob.discussion.remove_webhook(1)
