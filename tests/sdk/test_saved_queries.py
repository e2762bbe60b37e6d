"""``ws.saved_queries`` on both clients: create, list, open, change, delete, and the errors."""

from collections.abc import Iterator

import pytest

import atelier
from atelier.errors import Conflict, InvalidInput, NotFound
from atelier.sdk.client import Client
from tests.conftest import RunningServer

# The rules are the service's (tested on both metadata databases there): one is enough here.
pytestmark = pytest.mark.parametrize("metadata_url", ["sqlite"], indirect=True)


@pytest.fixture(params=["embedded", "remote"])
def ws(
    request: pytest.FixtureRequest, workbench, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Client]:  # type: ignore[no-untyped-def]
    monkeypatch.delenv("ATELIER_URL", raising=False)
    monkeypatch.delenv("ATELIER_TOKEN", raising=False)
    if request.param == "embedded":
        monkeypatch.setenv("ATELIER_WORKSPACE", str(workbench.workspace.root))
        client = atelier.connect()
    else:
        server: RunningServer = request.getfixturevalue("server")
        _, token = workbench.tokens.create(workbench.owner().name, "sdk", 1)
        monkeypatch.setenv("ATELIER_URL", server.url)
        monkeypatch.setenv("ATELIER_TOKEN", token)
        client = atelier.connect()
    with client:
        yield client


def test_saved_queries(ws: Client, workbench) -> None:  # type: ignore[no-untyped-def]
    owner = workbench.owner().name
    made = ws.saved_queries.create("answer", "SELECT 42 AS answer", shared=True)
    assert (made["name"], made["owner"], made["shared"]) == ("answer", owner, True)
    assert [q["name"] for q in ws.saved_queries.list()] == ["answer"]
    assert ws.sql(ws.saved_queries.get(made["id"])["sql"])["answer"].tolist() == [42]

    with pytest.raises(Conflict, match="'answer' already exists"):
        ws.saved_queries.create("answer", "SELECT 1")
    with pytest.raises(InvalidInput, match="query name is empty"):
        ws.saved_queries.create(" ", "SELECT 1")

    changed = ws.saved_queries.update(made["id"], name="the answer", shared=False)
    assert (changed["name"], changed["sql"], changed["shared"]) == (
        "the answer",
        "SELECT 42 AS answer",
        False,
    )
    ws.saved_queries.delete(made["id"])
    assert ws.saved_queries.list() == []
    with pytest.raises(NotFound, match=f"no saved query {made['id']}"):
        ws.saved_queries.get(made["id"])
