"""One suite, both clients: embedded on the workspace and remote through a real server."""

from collections.abc import Iterator

import pytest

import atelier
from atelier.errors import AuthenticationFailed
from atelier.sdk.client import Client
from tests.conftest import RunningServer


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


def test_whoami(ws: Client, workbench) -> None:  # type: ignore[no-untyped-def]
    me = ws.whoami()
    assert me["name"] == workbench.owner().name
    assert me["role"] == "admin"
    assert me["via"] in {"local", "token"}


def test_remote_without_token_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ATELIER_TOKEN", raising=False)
    with pytest.raises(AuthenticationFailed, match="set ATELIER_TOKEN"):
        atelier.connect("http://127.0.0.1:1")


def test_remote_with_bad_token(server: RunningServer) -> None:
    with (
        atelier.connect(server.url, "atl_x_y") as client,
        pytest.raises(AuthenticationFailed, match="HTTP 401"),
    ):
        client.whoami()


def test_unreachable_server_is_a_clear_error() -> None:
    with (
        atelier.connect("http://127.0.0.1:9", "atl_x_y") as client,
        pytest.raises(atelier.AtelierError, match=r"cannot reach Atelier at http://127\.0\.0\.1:9"),
    ):
        client.whoami()
