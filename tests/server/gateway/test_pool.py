"""``UpstreamPool``: kept HTTP/1.1 connections to an internal service."""

from __future__ import annotations

import asyncio
import contextlib
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


async def _read_request(reader: asyncio.StreamReader) -> bytes:
    """One request as it came: its head and the body its ``content-length`` declares."""
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(
        (
            int(line.split(b":")[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length")
        ),
        0,
    )
    return head + await reader.readexactly(length)


async def _raw_server(path: str, answers: Callable[[int], bool]) -> asyncio.Server:
    """An HTTP/1.1 server on ``path`` that answers a connection's request N when
    ``answers(N)``, and otherwise closes the connection without a word. Requests reaching it
    are counted in ``server.requests`` (method and path)."""
    requests: list[str] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        number = 0
        while True:
            request = await _read_request(reader)
            requests.append(" ".join(request.decode("latin-1").split()[:2]))
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


async def _scripted_server(path: str, answers: list[bytes]) -> asyncio.Server:
    """A server on ``path`` that reads each request (its head and a declared body) and
    writes the next of ``answers`` as it is; it closes the connection after the last one, or
    after an answer ending in ``b"<close>"`` (not written). What reached it is kept in
    ``server.received`` (the raw requests, bodies included); :func:`_stop` ends it."""
    received: list[bytes] = []
    script = iter(answers)
    handlers: set[asyncio.Task[None]] = set()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        handlers.add(asyncio.current_task())  # type: ignore[arg-type]
        try:
            while True:
                received.append(await _read_request(reader))
                answer = next(script, None)
                if answer is None:
                    break
                writer.write(answer.removesuffix(b"<close>"))
                await writer.drain()
                if answer.endswith(b"<close>"):
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()

    server = await asyncio.start_unix_server(handle, path)
    server.received = received  # type: ignore[attr-defined]
    server.handlers = handlers  # type: ignore[attr-defined]
    return server


async def _stop(server: asyncio.Server, pool: UpstreamPool) -> list[bytes]:
    """Close ``pool``, then the scripted ``server`` once its connections have ended; what
    it received."""
    await pool.aclose()
    await asyncio.sleep(0.05)  # a connection just accepted gets its handler
    if server.handlers:  # type: ignore[attr-defined]
        await asyncio.wait(server.handlers, timeout=10)  # type: ignore[attr-defined]
    server.close()
    await server.wait_closed()
    return server.received  # type: ignore[attr-defined]


def _exchanges(
    tmp_path: Path, answers: list[bytes], requests: list[tuple[str, list[tuple[bytes, bytes]]]]
) -> tuple[list[Any], int, list[bytes]]:
    """Send ``requests`` (method, headers; each GET-like, no body) in turn through one pool to
    a server answering ``answers``: what each gave (status and body, or the failure), the
    connections opened, and what the server received."""
    path = str(tmp_path / "scripted.sock")

    async def go() -> tuple[list[Any], int, list[bytes]]:
        server = await _scripted_server(path, answers)
        pool = UpstreamPool(Upstream("http://scripted", uds=path))
        results: list[Any] = []
        for method, headers in requests:
            try:
                response = await pool.send(method, "/x", headers)
                results.append((response.status_code, await response.read()))
            except UpstreamFailed as exc:
                results.append(str(exc))
        received = await _stop(server, pool)
        return results, pool.opened, received

    return asyncio.run(go())


OK = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"


def test_an_answer_to_head_has_no_body_and_the_connection_goes_on(tmp_path: Path) -> None:
    head = b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n"
    results, opened, _ = _exchanges(tmp_path, [head, OK], [("HEAD", []), ("GET", [])])
    assert results == [(200, b""), (200, b"ok")]
    assert opened == 1


def test_a_continue_before_the_answer_is_passed_over(tmp_path: Path) -> None:
    answer = b"HTTP/1.1 100 Continue\r\n\r\n" + OK
    assert _exchanges(tmp_path, [answer], [("GET", [])])[0] == [(200, b"ok")]


def test_an_answer_without_length_ends_when_the_upstream_closes(tmp_path: Path) -> None:
    answer = b"HTTP/1.1 200 OK\r\n\r\nuntil the end<close>"
    results, opened, _ = _exchanges(tmp_path, [answer, OK], [("GET", []), ("GET", [])])
    assert results == [(200, b"until the end"), (200, b"ok")]
    assert opened == 2  # not reused: the first ended with its connection


def test_bytes_after_an_answer_keep_its_connection_from_reuse(tmp_path: Path) -> None:
    """A second answer nobody asked for (an upstream out of step) must not be read as the
    answer to the next request."""
    smuggled = OK + b"HTTP/1.1 200 OK\r\ncontent-length: 6\r\n\r\nforged"
    results, opened, _ = _exchanges(tmp_path, [smuggled, OK], [("GET", []), ("GET", [])])
    assert results == [(200, b"ok"), (200, b"ok")]
    assert opened == 2


@pytest.mark.parametrize(
    "answer",
    [
        b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\ntransfer-encoding: chunked\r\n\r\nok",
        b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-length: 3\r\n\r\nok",
        b"HTTP/1.1 200 OK\r\nbad header\r\n\r\n",
        b"HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: upgrade\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nx-long: " + b"a" * (pool_module.MAX_HEAD + 10),
        b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nshort<close>",
        b"HTTP/1.1 200 OK\r\ncontent-le<close>",
    ],
    ids=["length-and-chunks", "two-lengths", "bad-header", "upgrade", "long-head", "cut-body",
         "cut-head"],
)  # fmt: skip
def test_a_malformed_or_cut_answer_is_a_failure(tmp_path: Path, answer: bytes) -> None:
    results, _, received = _exchanges(tmp_path, [answer], [("GET", [])])
    assert isinstance(results[0], str) and results[0]
    assert len(received) == 1  # not sent again: part of an answer had come


@pytest.mark.parametrize(
    "headers",
    [
        [(b"x-note", b"a\r\nx-admin: yes")],
        [(b"x-note", b"a\nb")],
        [(b"x-note", b"a\x00")],
        [(b"x note", b"a")],
        [(b"x-note:", b"a")],
        [(b"host", b"a"), (b"Host", b"b")],
        [(b"content-length", b"2"), (b"transfer-encoding", b"chunked")],
        [(b"content-length", b"2, 3")],
        [(b"content-length", b"-1")],
        [(b"transfer-encoding", b"gzip")],
    ],
    ids=["crlf", "lf", "nul", "space-in-name", "colon-in-name", "two-hosts", "length-and-chunks",
         "two-lengths", "negative-length", "other-coding"],
)  # fmt: skip
def test_a_request_head_the_upstream_could_misread_is_not_sent(
    tmp_path: Path, headers: list[tuple[bytes, bytes]]
) -> None:
    results, opened, received = _exchanges(tmp_path, [OK], [("GET", headers)])
    assert results[0].startswith("the request cannot be forwarded")
    assert (opened, received) == (0, [])


@pytest.mark.parametrize("target", ["/a b", "/a\r\nx: y", "/é"])
def test_a_target_outside_the_grammar_is_not_sent(tmp_path: Path, target: str) -> None:
    async def go() -> int:
        pool = UpstreamPool(Upstream("http://scripted", uds=str(tmp_path / "none.sock")))
        with pytest.raises(UpstreamFailed, match="cannot be forwarded"):
            await pool.send("GET", target, [])
        return pool.opened

    assert asyncio.run(go()) == 0


@pytest.mark.parametrize("declared", [3, 30])
def test_a_body_unlike_its_declared_length_is_not_sent_whole(tmp_path: Path, declared: int) -> None:
    path = str(tmp_path / "scripted.sock")

    async def go() -> list[bytes]:
        server = await _scripted_server(path, [OK])
        pool = UpstreamPool(Upstream("http://scripted", uds=path))
        headers = [(b"content-length", str(declared).encode())]
        with pytest.raises(UpstreamFailed, match="Content-Length"):
            await pool.send("POST", "/x", headers, _chunks(b"0123456789"))
        return await _stop(server, pool)

    assert asyncio.run(go()) == []  # the connection was dropped before a request was whole
