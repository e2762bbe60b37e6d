"""Kept HTTP/1.1 connections to one internal service: the gateway's path for frequent calls.

Every proxied request costs the gateway what its HTTP client costs. httpx's asynchronous client
builds URL and header models, takes anyio locks and cancel scopes and, where ``sniffio`` is not
installed, tries to import it again for each lock it sets up (a search of ``sys.path`` each
time): together about as much CPU per call as the rest of the gateway. For a service called
many times a second (MLflow gets one request per logged metric) :class:`UpstreamPool` speaks
HTTP/1.1 itself: h11 frames the messages (as it does under httpx), a small asyncio protocol
carries them, and connections are kept and reused while both sides keep them open.

What it keeps from httpx: bodies streamed both ways with back-pressure, the same timeouts,
connections dropped after 5 s idle (the upstream keeps them longer, so it is never the upstream
that closes one while a request is on its way), and no reuse of an idle connection that the
upstream has closed or written to. A request that finds its reused connection closed before
any answer is retried once on a new connection when it has no body and does not change
anything (GET, HEAD, OPTIONS); any other failure before the answer's head is the caller's 502.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import weakref
from collections import deque
from collections.abc import AsyncIterator
from typing import Protocol, cast
from urllib.parse import urlsplit

import h11

CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 300.0
WRITE_TIMEOUT = 300.0
#: An idle connection older than this is closed rather than reused (httpx's default too).
IDLE_SECONDS = 5.0
#: Idle connections kept; more are closed when their request ends.
MAX_IDLE = 16
#: Received bytes held before the socket stops being read (a slow caller of a download).
HIGH_WATER = 1 << 20
#: Request bytes gathered before a write (a small body goes out with its head, in one write).
WRITE_BATCH = 64 * 1024
#: Longest response head accepted.
MAX_HEAD = 64 * 1024
#: Methods retried once on a new connection when a reused one was found closed.
RETRIED = frozenset({"GET", "HEAD", "OPTIONS"})


class Address(Protocol):
    """Where a service listens (an :class:`~atelier.server.gateway.proxy.Upstream`)."""

    @property
    def base_url(self) -> str: ...

    @property
    def uds(self) -> str | None: ...


class UpstreamFailed(Exception):
    """No answer from the upstream: it could not be reached, or went away before answering."""


class _Wire(asyncio.Protocol):
    """One socket to the upstream: received bytes queued for :meth:`read`, writes that wait
    when the socket's buffer is full."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.chunks: deque[bytes] = deque()
        self.buffered = 0
        self.eof = False
        self.closed = False
        self._readable: asyncio.Future[None] | None = None
        self._writable: asyncio.Future[None] | None = None
        self._reading_paused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.chunks.append(data)
        self.buffered += len(data)
        if self.buffered > HIGH_WATER and not self._reading_paused and self.transport:
            self._reading_paused = True
            self.transport.pause_reading()
        self._wake_reader()

    def eof_received(self) -> bool:
        self.eof = True
        self._wake_reader()
        return False  # the transport closes itself

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = self.eof = True
        self._wake_reader()
        self.resume_writing()  # a writer waiting for room learns that the socket is gone

    def pause_writing(self) -> None:
        if self._writable is None or self._writable.done():
            self._writable = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        if self._writable is not None and not self._writable.done():
            self._writable.set_result(None)

    def _wake_reader(self) -> None:
        if self._readable is not None and not self._readable.done():
            self._readable.set_result(None)

    @property
    def reusable(self) -> bool:
        """Open, and nothing arrived since the last answer ended."""
        return not (self.closed or self.eof or self.chunks) and not (
            self.transport is None or self.transport.is_closing()
        )

    async def read(self) -> bytes:
        """The next bytes received; ``b""`` once the upstream has closed its side."""
        while not self.chunks:
            if self.eof:
                return b""
            self._readable = asyncio.get_running_loop().create_future()
            async with asyncio.timeout(READ_TIMEOUT):
                await self._readable
        data = self.chunks.popleft()
        self.buffered -= len(data)
        if self._reading_paused and self.buffered <= HIGH_WATER // 2 and self.transport:
            self._reading_paused = False
            self.transport.resume_reading()
        return data

    async def write(self, data: bytes) -> None:
        if self.closed or self.transport is None:
            raise ConnectionResetError("the upstream closed the connection")
        self.transport.write(data)
        if self._writable is not None and not self._writable.done():
            async with asyncio.timeout(WRITE_TIMEOUT):
                await asyncio.shield(self._writable)
            if self.closed:
                raise ConnectionResetError("the upstream closed the connection")

    def abort(self) -> None:
        """Close at once: the connection is mid-message and cannot be used again."""
        self.closed = True
        if self.transport is not None:
            self.transport.abort()

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class _Connection:
    def __init__(self, wire: _Wire) -> None:
        self.wire = wire
        self.state = h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_HEAD)
        self.idle_since = 0.0

    def next_event(self) -> object:
        return self.state.next_event()

    async def receive(self) -> None:
        self.state.receive_data(await self.wire.read())


class UpstreamResponse:
    """An answer whose head has arrived; the body is read with :meth:`aiter_raw` (or
    :meth:`read`). :meth:`release` gives the connection back, or closes it when the body was
    not read to its end."""

    def __init__(self, pool: UpstreamPool, connection: _Connection, head: h11.Response) -> None:
        self._pool = pool
        self._connection: _Connection | None = connection
        self._complete = False
        self.status_code = head.status_code
        #: As received: lower-case names, repeated headers kept, in order.
        self.headers: list[tuple[bytes, bytes]] = list(head.headers)

    def header(self, name: bytes) -> bytes | None:
        for key, value in self.headers:
            if key == name:
                return value
        return None

    async def aiter_raw(self) -> AsyncIterator[bytes]:
        """The body as it arrives (without its chunked framing), in pieces. Raises
        :class:`UpstreamFailed` when the upstream breaks off; the connection is released
        whatever happens."""
        connection = self._connection
        try:
            while connection is not None:
                event = connection.next_event()
                if event is h11.NEED_DATA:
                    await connection.receive()
                elif isinstance(event, h11.Data):
                    data = event.data
                    yield data if isinstance(data, bytes) else bytes(data)
                elif isinstance(event, h11.EndOfMessage):
                    self._complete = True
                    return
                else:
                    raise UpstreamFailed("the upstream closed the connection mid-answer")
        except (h11.ProtocolError, OSError, TimeoutError) as exc:
            raise UpstreamFailed(f"the answer broke off: {exc!r}") from exc
        finally:
            self.release()

    async def read(self) -> bytes:
        return b"".join([chunk async for chunk in self.aiter_raw()])

    def release(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            self._pool._release(connection, reuse=self._complete)

    async def aclose(self) -> None:
        self.release()

    def __del__(self) -> None:
        # An answer dropped unread and unreleased (its stream never started): its socket
        # must not stay open with the event loop for the rest of the process's life.
        connection = self._connection
        if connection is not None:
            with contextlib.suppress(RuntimeError):  # the event loop is closed already
                connection.wire.abort()


class UpstreamPool:
    """Kept connections to one upstream (its Unix socket, or host and port), for one event
    loop. The counterpart of a kept ``httpx.AsyncClient`` in :func:`~atelier.server.gateway.
    proxy.proxy_http`."""

    def __init__(self, upstream: Address) -> None:
        parts = urlsplit(upstream.base_url)
        if parts.scheme != "http":
            raise ValueError(f"{upstream.base_url}: internal services are reached over http")
        self.uds = upstream.uds
        self.address = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.host = parts.netloc.encode("latin-1")
        #: What it was made for (:func:`kept_pool` makes a new one when that changes).
        self.upstream = (upstream.uds, upstream.base_url)
        self._idle: list[_Connection] = []
        self._closed = False
        #: Connections opened, over the pool's life (for tests and diagnostics).
        self.opened = 0

    @property
    def is_closed(self) -> bool:
        return self._closed

    async def send(
        self,
        method: str,
        target: str,
        headers: list[tuple[bytes, bytes]],
        body: AsyncIterator[bytes] | None = None,
    ) -> UpstreamResponse:
        """Send a request (``target``: the path and query, encoded; ``headers`` with the
        ``Host`` to send, or without, and the pool adds the upstream's) and wait for the
        answer's head.

        Raises :class:`UpstreamFailed` when no answer came; an exception from ``body`` (the
        caller went away while sending it) is raised as it is."""
        if self._closed:
            raise UpstreamFailed("the connection pool is closed")
        try:
            if not any(name.lower() == b"host" for name, _ in headers):
                headers = [(b"host", self.host), *headers]
            request = h11.Request(method=method, target=target, headers=headers)
        except h11.LocalProtocolError as exc:  # a header h11 will not send (httpx neither)
            raise UpstreamFailed(f"the request cannot be forwarded: {exc}") from exc
        connection = self._checkout()
        if connection is not None:
            try:
                return await self._exchange(connection, request, body)
            except _Unanswered as exc:
                if body is not None or method not in RETRIED:
                    raise UpstreamFailed(str(exc)) from exc
            # The upstream had closed the kept connection: once more, on a new one.
        try:
            return await self._exchange(await self._connect(), request, body)
        except _Unanswered as exc:
            raise UpstreamFailed(str(exc)) from exc

    async def _exchange(
        self, connection: _Connection, request: h11.Request, body: AsyncIterator[bytes] | None
    ) -> UpstreamResponse:
        state, wire = connection.state, connection.wire
        answered = False
        try:
            pending = [state.send(request) or b""]
            size = len(pending[0])
            if body is not None:
                async for chunk in body:
                    pending.append(state.send(h11.Data(data=chunk)) or b"")
                    size += len(chunk)
                    if size >= WRITE_BATCH:
                        await wire.write(b"".join(pending))
                        pending, size = [], 0
            pending.append(state.send(h11.EndOfMessage()) or b"")
            await wire.write(b"".join(pending))
            while True:
                event = connection.next_event()
                if event is h11.NEED_DATA:
                    await connection.receive()
                    continue
                answered = True
                if isinstance(event, h11.Response):
                    return UpstreamResponse(self, connection, event)
                if isinstance(event, h11.InformationalResponse):
                    continue  # 100 Continue: the answer follows
                raise _Unanswered("the upstream closed the connection without answering")
        except (h11.ProtocolError, OSError, TimeoutError) as exc:
            wire.abort()
            if not answered and not isinstance(exc, TimeoutError | h11.LocalProtocolError):
                raise _Unanswered(f"no answer: {exc!r}") from exc
            raise UpstreamFailed(f"no answer: {exc!r}") from exc
        except BaseException:
            wire.abort()
            raise

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(CONNECT_TIMEOUT):
                if self.uds is not None:
                    _, wire = await loop.create_unix_connection(_Wire, self.uds)
                else:
                    _, wire = await loop.create_connection(_Wire, *self.address)
        except (OSError, TimeoutError) as exc:
            raise UpstreamFailed(f"cannot connect: {exc!r}") from exc
        self.opened += 1
        return _Connection(wire)

    def _checkout(self) -> _Connection | None:
        now = time.monotonic()
        while self._idle:
            connection = self._idle.pop()
            if now - connection.idle_since < IDLE_SECONDS and connection.wire.reusable:
                return connection
            connection.wire.close()
        return None

    def _release(self, connection: _Connection, *, reuse: bool) -> None:
        state = connection.state
        if (
            reuse
            and not self._closed
            and len(self._idle) < MAX_IDLE
            and state.our_state is h11.DONE
            and state.their_state is h11.DONE
            and connection.wire.reusable
            and not state.trailing_data[0]
        ):
            state.start_next_cycle()
            connection.idle_since = time.monotonic()
            self._idle.append(connection)
        else:
            connection.wire.abort()

    def close_idle(self) -> None:
        """Close the pool: its idle connections now, those in use when their answer is
        released."""
        self._closed = True
        while self._idle:
            self._idle.pop().wire.close()

    async def aclose(self) -> None:
        self.close_idle()


#: Per event loop, per name: the pool kept for an upstream called often (MLflow; another
#: server of the workspace). A new connection per request costs about as much as a small
#: call's own work, and httpx's own work per request as much again.
_KEPT: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, UpstreamPool]] = (
    weakref.WeakKeyDictionary()
)


def kept_pool(name: str, upstream: Address) -> UpstreamPool:
    """The pool kept on this event loop under ``name`` for ``upstream``: a new one when there
    is none, it was closed, or ``name`` now names another upstream (a service restarted on
    another socket: the older pool is closed)."""
    pools = _KEPT.setdefault(asyncio.get_running_loop(), {})
    pool = pools.get(name)
    if pool is None or pool.is_closed or pool.upstream != (upstream.uds, upstream.base_url):
        if pool is not None:
            pool.close_idle()
        pool = pools[name] = UpstreamPool(upstream)
    return pool


async def close_kept_pools() -> None:
    """Close the pools kept on this event loop (when the app stops: their sockets must not
    outlive it)."""
    for pool in _KEPT.pop(asyncio.get_running_loop(), {}).values():
        await pool.aclose()


class _Unanswered(Exception):
    """The connection failed or closed before any byte of an answer came."""
