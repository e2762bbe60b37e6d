"""``UpstreamPool``: kept HTTP/1.1 connections to an internal service."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from atelier.server.gateway import pool as pool_module
from atelier.server.gateway.pool import UpstreamFailed, UpstreamPool
from atelier.server.gateway.proxy import Upstream
from tests.server.gateway.servers import Seen, serve, upstream_app


@pytest.fixture(scope="module")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Upstream]:
    sock = str(tmp_path_factory.mktemp("pool") / "up.sock")
    with serve(upstream_app(Seen()), uds=sock):
        yield Upstream("http://upstream", uds=sock)


async def _chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def _json(pool: UpstreamPool, method: str, target: str, body: bytes | None = None) -> Any:
    headers = [(b"content-length", str(len(body)).encode())] if body is not None else []
    response = await pool.send(method, target, headers, _chunks(body) if body else None)
    assert response.status_code == 200
    return json.loads(await response.read())


def test_one_connection_serves_request_after_request(upstream: Upstream) -> None:
    async def go() -> tuple[int, list[Any]]:
        pool = UpstreamPool(upstream)
        seen = []
        for index in range(20):
            body = os.urandom(index * 5_000)
            seen.append(await _json(pool, "POST", f"/echo/{index}?i={index}", body))
            seen.append(await _json(pool, "GET", f"/get/{index}"))
        await pool.aclose()
        return pool.opened, seen

    opened, seen = asyncio.run(go())
    assert opened == 1
    for index in range(20):
        posted, got = seen[2 * index], seen[2 * index + 1]
        assert (posted["method"], posted["path"], posted["query"]) == (
            "POST",
            f"/echo/{index}",
            f"i={index}",
        )
        assert posted["body_length"] == index * 5_000
        assert posted["headers"]["host"] == "upstream"
        assert (got["method"], got["path"]) == ("GET", f"/get/{index}")


def test_a_body_of_unknown_length_goes_chunked(upstream: Upstream) -> None:
    async def go() -> Any:
        pool = UpstreamPool(upstream)
        parts = [b"x" * 100_000 for _ in range(7)]
        headers = [(b"transfer-encoding", b"chunked")]
        response = await pool.send("POST", "/upload", headers, _chunks(*parts))
        seen = json.loads(await response.read())
        await pool.aclose()
        return seen

    seen = asyncio.run(go())
    assert seen["chunked"]
    assert seen["body_length"] == 700_000


def test_an_answer_left_unread_closes_its_connection(upstream: Upstream) -> None:
    async def go() -> tuple[list[bytes], int, Any]:
        pool = UpstreamPool(upstream)
        response = await pool.send("GET", "/stream", [])
        chunks = response.aiter_raw()
        first = [await chunks.__anext__()]
        await chunks.aclose()  # the caller went away mid-answer
        # Its connection is not reused (the rest of that answer would be read as the next).
        after = await _json(pool, "GET", "/after")
        await pool.aclose()
        return first, pool.opened, after

    first, opened, after = asyncio.run(go())
    assert first == [b"chunk 0\n"]
    assert opened == 2
    assert after["path"] == "/after"


def test_an_answer_dropped_unread_does_not_leave_its_socket_open(upstream: Upstream) -> None:
    import gc

    async def go() -> tuple[bool, bool]:
        pool = UpstreamPool(upstream)
        response = await pool.send("GET", "/stream", [])
        wire = response._connection.wire  # type: ignore[union-attr]
        before = wire.closed
        del response  # neither read nor released (a stream that never started)
        gc.collect()
        await asyncio.sleep(0)
        await pool.aclose()
        return before, wire.closed

    assert asyncio.run(go()) == (False, True)


def test_a_connection_the_upstream_closes_is_not_reused(upstream: Upstream) -> None:
    async def go() -> int:
        pool = UpstreamPool(upstream)
        response = await pool.send("GET", "/cookies", [])  # answers with "Connection: close"
        assert await response.read() == b"ok"
        await _json(pool, "GET", "/next")
        await _json(pool, "GET", "/next")
        await pool.aclose()
        return pool.opened

    assert asyncio.run(go()) == 2


def test_idle_connections_expire(upstream: Upstream, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pool_module, "IDLE_SECONDS", 0.0)

    async def go() -> int:
        pool = UpstreamPool(upstream)
        for _ in range(3):
            await _json(pool, "GET", "/again")
        await pool.aclose()
        return pool.opened

    assert asyncio.run(go()) == 3


async def _raw_server(path: str, answers: Callable[[int], bool]) -> asyncio.Server:
    """An HTTP/1.1 server on ``path`` that answers a connection's request N when
    ``answers(N)``, and otherwise closes the connection without a word. Requests reaching it
    are counted in ``server.requests`` (method and path)."""
    requests: list[str] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        number = 0
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            length = next(
                (
                    int(line.split(":")[1])
                    for line in lines
                    if line.lower().startswith("content-length")
                ),
                0,
            )
            await reader.readexactly(length)
            requests.append(" ".join(lines[0].split()[:2]))
            if not answers(number):
                writer.close()
                return
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
            await writer.drain()
            number += 1

    server = await asyncio.start_unix_server(handle, path)
    server.requests = requests  # type: ignore[attr-defined]
    return server


def test_a_read_on_a_dropped_kept_connection_is_retried_once(tmp_path: Path) -> None:
    """The upstream closes a kept connection on the next request without answering (as a
    server does whose idle timeout ran out just then): a GET is sent again on a new
    connection; a write is not repeated, the caller gets the failure."""
    path = str(tmp_path / "raw.sock")

    async def go() -> tuple[list[str], int]:
        server = await _raw_server(path, answers=lambda number: number == 0)
        pool = UpstreamPool(Upstream("http://raw", uds=path))
        first = await pool.send("GET", "/one", [])
        assert await first.read() == b"ok"
        again = await pool.send("GET", "/two", [])  # dropped, then answered on a new one
        assert (again.status_code, await again.read()) == (200, b"ok")
        body = b'{"run_id": "r"}'
        with pytest.raises(UpstreamFailed):
            await pool.send(
                "POST", "/write", [(b"content-length", str(len(body)).encode())], _chunks(body)
            )
        await pool.aclose()
        server.close()
        await server.wait_closed()
        return server.requests, pool.opened  # type: ignore[attr-defined]

    requests, opened = asyncio.run(go())
    assert requests == ["GET /one", "GET /two", "GET /two", "POST /write"]
    assert opened == 2


def test_a_silent_upstream_times_out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pool_module, "READ_TIMEOUT", 0.2)
    path = str(tmp_path / "silent.sock")

    async def go() -> None:
        writers = []

        async def never(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writers.append(writer)
            await reader.read()

        server = await asyncio.start_unix_server(never, path)
        pool = UpstreamPool(Upstream("http://silent", uds=path))
        with pytest.raises(UpstreamFailed, match="TimeoutError"):
            await pool.send("GET", "/", [])
        for writer in writers:
            writer.close()
            await writer.wait_closed()
        server.close()
        await server.wait_closed()

    asyncio.run(go())


def test_an_unreachable_upstream_fails_clearly(tmp_path: Path) -> None:
    async def go() -> None:
        pool = UpstreamPool(Upstream("http://gone", uds=str(tmp_path / "nothing.sock")))
        with pytest.raises(UpstreamFailed, match="cannot connect"):
            await pool.send("GET", "/", [])

    asyncio.run(go())


def test_a_closed_pool_sends_nothing(upstream: Upstream) -> None:
    async def go() -> None:
        pool = UpstreamPool(upstream)
        await _json(pool, "GET", "/before")
        await pool.aclose()
        assert pool.is_closed
        with pytest.raises(UpstreamFailed, match="closed"):
            await pool.send("GET", "/after", [])

    asyncio.run(go())


def test_a_host_given_is_sent_instead_of_the_upstreams(upstream: Upstream) -> None:
    """Another server of the workspace gets the caller's own ``Host`` (see proxy.peer)."""

    async def go() -> Any:
        pool = UpstreamPool(upstream)
        try:
            response = await pool.send("GET", "/get/h", [(b"host", b"atelier.example:8700")])
            return json.loads(await response.read())
        finally:
            await pool.aclose()

    assert asyncio.run(go())["headers"]["host"] == "atelier.example:8700"


def test_kept_pools_one_per_name_and_loop_until_the_upstream_changes(tmp_path: Path) -> None:
    first = Upstream("http://a", uds=str(tmp_path / "a.sock"))
    second = Upstream("http://a", uds=str(tmp_path / "b.sock"))

    async def pools() -> UpstreamPool:
        kept = pool_module.kept_pool("svc", first)
        assert pool_module.kept_pool("svc", first) is kept
        assert pool_module.kept_pool("other", first) is not kept  # each name its own
        moved = pool_module.kept_pool("svc", second)
        assert moved is not kept and kept.is_closed  # the older upstream's pool is closed
        await pool_module.close_kept_pools()
        assert moved.is_closed
        return pool_module.kept_pool("svc", second)

    one, other = asyncio.run(pools()), asyncio.run(pools())
    assert one is not other  # another event loop, another pool
