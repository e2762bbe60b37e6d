"""Jupyter's token spellings under /notebooks/: rewritten to a bearer token, taken out of the
query string, and nowhere else. (The whole path, with a real JupyterLab and a real Jupyter
client, is tested in tests/services/notebooks/test_notebooks.py.)"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from atelier.server.gateway.jupyter_tokens import JupyterTokens, split_token


def scope(path: str, query: bytes = b"", **headers: str) -> dict[str, Any]:
    return {
        "type": "http",
        "path": path,
        "query_string": query,
        "headers": [(k.replace("_", "-").encode(), v.encode()) for k, v in headers.items()],
    }


def authorization(seen: dict[str, Any]) -> list[bytes]:
    return [v for k, v in seen["headers"] if k == b"authorization"]


def passed(given: dict[str, Any]) -> dict[str, Any]:
    """The scope that the application behind the middleware sees."""
    seen: dict[str, Any] = {}

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        seen.update(scope)

    asyncio.run(JupyterTokens(app)(given, None, None))  # type: ignore[arg-type]
    return seen


@pytest.mark.parametrize(
    ("query", "kept", "token"),
    [
        (b"", b"", ""),
        (b"token=atl_1_abc", b"", "atl_1_abc"),
        (b"session_id=s1&token=atl_1_abc", b"session_id=s1", "atl_1_abc"),
        (b"token=a%2Bb&x=%20y+z&token=second", b"x=%20y+z", "a+b"),
        (b"to%6Ben=hidden&a=1", b"a=1", "hidden"),  # an encoded name is still the token
        (b"tokens=1&my_token=2", b"tokens=1&my_token=2", ""),
        (b"token=", b"", ""),
    ],
)
def test_split_token(query: bytes, kept: bytes, token: str) -> None:
    assert split_token(query) == (kept, token)


def test_jupyter_spellings_become_a_bearer_token_under_notebooks() -> None:
    header = passed(scope("/notebooks/api/kernels", authorization="token atl_1_abc"))
    assert authorization(header) == [b"Bearer atl_1_abc"]
    query = passed(scope("/notebooks/api/kernels/k/channels", b"session_id=1&token=atl_1_q"))
    assert authorization(query) == [b"Bearer atl_1_q"]
    assert query["query_string"] == b"session_id=1"
    bearer = passed(scope("/notebooks", authorization="Bearer atl_1_b"))
    assert authorization(bearer) == [b"Bearer atl_1_b"]


def test_the_header_and_a_session_win_over_the_query() -> None:
    both = passed(scope("/notebooks/lab", b"token=theirs", authorization="token mine"))
    assert authorization(both) == [b"Bearer mine"]
    assert both["query_string"] == b""
    browser = passed(scope("/notebooks/lab", b"token=theirs", cookie="a=1; atelier_session=s"))
    assert authorization(browser) == []
    assert browser["query_string"] == b""


def test_a_session_wins_over_the_header() -> None:
    """JupyterLab's frontend sends its server's secret as ``Authorization: token``; beside a
    session cookie it is not taken for an Atelier token (that would refuse every REST call)."""
    lab = passed(
        scope(
            "/notebooks/api/sessions",
            authorization="token jupyter-secret",
            cookie="atelier_session=s",
        )
    )
    assert authorization(lab) == [b"token jupyter-secret"]
    websocket = passed(
        scope(
            "/notebooks/api/kernels/k/channels", b"token=jupyter-secret", cookie="atelier_session=s"
        )
    )
    assert authorization(websocket) == []
    assert websocket["query_string"] == b""


@pytest.mark.parametrize("path", ["/api/v1/tables", "/notebooksx/api", "/mlflow/api", "/apps/a/"])
def test_other_paths_are_left_alone(path: str) -> None:
    seen = passed(scope(path, b"token=atl_1_abc", authorization="token atl_1_abc"))
    assert authorization(seen) == [b"token atl_1_abc"]
    assert seen["query_string"] == b"token=atl_1_abc"
