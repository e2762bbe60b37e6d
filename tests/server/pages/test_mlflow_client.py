"""The gateway's kept client to MLflow: one per event loop and MLflow socket."""

from __future__ import annotations

import asyncio
from pathlib import Path

from atelier.server.pages import mlflow


class FakeServer:
    def __init__(self, socket_path: Path) -> None:
        self.socket_path = socket_path


def test_one_client_per_loop_and_socket(tmp_path: Path) -> None:
    first, second = FakeServer(tmp_path / "a.sock"), FakeServer(tmp_path / "b.sock")

    async def clients() -> list[object]:
        kept = mlflow._client(first)  # type: ignore[arg-type]
        again = mlflow._client(first)  # type: ignore[arg-type]
        assert again is kept
        restarted = mlflow._client(second)  # type: ignore[arg-type]
        assert restarted is not kept
        # The older socket's client was let go: a server has one socket at a time.
        assert mlflow._client(first) is not kept  # type: ignore[arg-type]
        await restarted.aclose()
        # A closed client is replaced.
        assert mlflow._client(second) is not restarted  # type: ignore[arg-type]
        return [mlflow._client(first)]  # type: ignore[arg-type]

    one = asyncio.run(clients())
    other = asyncio.run(clients())
    assert one[0] is not other[0]  # another event loop, another client
