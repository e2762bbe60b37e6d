"""Kept HTTP/1.1 connections to one internal service: the gateway's path for frequent calls.

Every proxied request costs the gateway what its HTTP client costs. httpx's asynchronous client
builds URL and header models, takes anyio locks and cancel scopes and, where ``sniffio`` is not
installed, tries to import it again for each lock it sets up (a search of ``sys.path`` each
time): together about as much CPU per call as the rest of the gateway. For a service called
many times a second (MLflow gets one request per logged metric) :class:`UpstreamPool` speaks
HTTP/1.1 itself: it writes the request's head after checking it against HTTP's grammar, llhttp
(through ``httptools``, uvicorn's parser of requests) parses the answers, a small asyncio
protocol carries them, and connections are kept and reused while both sides keep them open.
Against h11 (what httpx uses), this halves the pool's own CPU per call.

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
import re
import time
import weakref
from collections import deque
from collections.abc import AsyncIterator
from typing import Protocol, cast
from urllib.parse import urlsplit

import httptools

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
#: HTTP's grammar for what a request's head carries (RFC 9110 section 5; as h11 checks it).
_TOKEN = re.compile(r"[-!#$%&'*+.^_`|~0-9a-zA-Z]+")
_TOKEN_BYTES = re.compile(_TOKEN.pattern.encode())
_VALUE = re.compile(rb"(?:[\x21-\x7e\x80-\xff](?:[ \t\x21-\x7e\x80-\xff]*[\x21-\x7e\x80-\xff])?)?")
_TARGET = re.compile(rb"[\x21-\x7e]+")


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
    """One socket to the upstream and the parser of the answers that come on it (llhttp,
    through ``httptools``, as uvicorn parses requests). A new parser for each exchange:
    :meth:`start` before a request is sent, then :meth:`feed` what arrives."""

    def __init__(self, wire: _Wire) -> None:
        self.wire = wire
        self.idle_since = 0.0
        self.start("GET")

    def start(self, method: str) -> None:
        self.parser = httptools.HttpResponseParser(self)
        #: The answer to a HEAD request has no body, whatever its head declares.
        self.head_only = method == "HEAD"
        self.received = 0
        self.status = 0
        self.headers: list[tuple[bytes, bytes]] = []
        self.body: deque[bytes] = deque()
        self.has_head = False
        self.complete = False
        #: Whether the connection may carry another exchange once this one is complete.
        self.keep_alive = False
        #: Framed by neither a length nor chunks: the body ends when the upstream closes.
        self.until_eof = False

    def feed(self, data: bytes) -> None:
        """Parse bytes received. Raises :class:`_Malformed` for what is not an answer."""
        if self.complete:
            self.keep_alive = False  # bytes after the answer: the connection is not reused
            return
        if not self.has_head:
            self.received += len(data)
        self._parse(data)
        if not self.has_head and self.received > MAX_HEAD:
            raise _Malformed(f"the answer's head is longer than {MAX_HEAD} bytes")

    def _parse(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except (httptools.HttpParserError, httptools.HttpParserUpgrade) as exc:
            if not self.complete:
                cause = exc.__context__ if isinstance(exc.__context__, _Malformed) else exc
                raise _Malformed(f"not an HTTP/1.1 answer: {cause}") from exc
            self.keep_alive = False  # what follows the answer is not one

    # httptools' callbacks

    def on_message_begin(self) -> None:
        if self.complete:
            self.keep_alive = False

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name.lower(), value.rstrip(b" \t")))

    def on_headers_complete(self) -> None:
        status = self.parser.get_status_code()
        if status < 200:
            if status == 101:
                raise _Malformed("the upstream switched protocols")
            self.headers = []  # 100 Continue and the like: the answer follows
            return
        self.status = status
        self.has_head = True
        self.keep_alive = self.parser.should_keep_alive()
        if self.head_only:
            self.complete = True
        elif status not in (204, 304):
            framed = {name for name, _ in self.headers} & {b"content-length", b"transfer-encoding"}
            self.until_eof = not framed

    def on_body(self, body: bytes) -> None:
        if self.complete:  # a body after a HEAD's answer
            self.keep_alive = False
        else:
            self.body.append(body)

    def on_message_complete(self) -> None:
        if self.has_head:
            self.complete = True


class UpstreamResponse:
    """An answer whose head has arrived; the body is read with :meth:`aiter_raw` (or
    :meth:`read`). :meth:`release` gives the connection back, or closes it when the body was
    not read to its end."""

    def __init__(self, pool: UpstreamPool, connection: _Connection) -> None:
        self._pool = pool
        self._connection: _Connection | None = connection
        self.status_code = connection.status
        #: As received: lower-case names, repeated headers kept, in order.
        self.headers = connection.headers

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
                while connection.body:
                    yield connection.body.popleft()
                if connection.complete:
                    return
                data = await connection.wire.read()
                if data:
                    connection.feed(data)
                elif connection.until_eof:
                    connection.complete, connection.keep_alive = True, False
                else:
                    raise UpstreamFailed("the upstream closed the connection mid-answer")
        except (_Malformed, OSError, TimeoutError) as exc:
            raise UpstreamFailed(f"the answer broke off: {exc!r}") from exc
        finally:
            self.release()

    async def read(self) -> bytes:
        return b"".join([chunk async for chunk in self.aiter_raw()])

    def release(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            self._pool._release(connection)

    async def aclose(self) -> None:
        self.release()

    def __del__(self) -> None:
        # An answer dropped unread and unreleased (its stream never started): its socket
        # must not stay open with the event loop for the rest of the process's life.
        connection = self._connection
        if connection is not None:
            with contextlib.suppress(RuntimeError):  # the event loop is closed already
                connection.wire.abort()


def request_head(
    method: str, target: str, headers: list[tuple[bytes, bytes]], host: bytes
) -> tuple[bytes, int | None]:
    """The request's head as sent (``Host`` added when ``headers`` have none), and its body's
    length: the declared ``Content-Length``, None for chunks (``Transfer-Encoding:
    chunked``), 0 when neither is declared. Refuses, with :class:`_Malformed`, what the
    upstream's parser could read otherwise than meant: a method, target, header name or value
    outside HTTP's grammar (a line break, a NUL, a space where none may be), several
    ``Host`` headers, several lengths, or a length and chunks together."""
    if not _TOKEN.fullmatch(method):
        raise _Malformed(f"the method {method!r} cannot be sent")
    encoded = target.encode("latin-1")
    if not _TARGET.fullmatch(encoded):
        raise _Malformed(f"the target {target!r} cannot be sent")
    lines = [b"%s %s HTTP/1.1\r\n" % (method.encode("ascii"), encoded)]
    hosts = 0
    lengths: set[bytes] = set()
    chunked = False
    for name, value in headers:
        lower = name.lower()
        if not _TOKEN_BYTES.fullmatch(name) or not _VALUE.fullmatch(value):
            raise _Malformed(f"the header {name!r}: {value!r} cannot be sent")
        if lower == b"host":
            hosts += 1
        elif lower == b"content-length":
            lengths.update(part.strip() for part in value.split(b","))
        elif lower == b"transfer-encoding":
            if chunked or value.lower() != b"chunked":
                raise _Malformed(f"the Transfer-Encoding {value!r} cannot be sent")
            chunked = True
        lines.append(b"%s: %s\r\n" % (name, value))
    if hosts > 1:
        raise _Malformed("several Host headers")
    if not hosts:
        lines.insert(1, b"host: %s\r\n" % host)
    lines.append(b"\r\n")
    if len(lengths) > 1 or (lengths and (chunked or not next(iter(lengths)).isdigit())):
        raise _Malformed(f"the body's length cannot be sent: {sorted(lengths)}")
    length = None if chunked else int(lengths.pop()) if lengths else 0
    return b"".join(lines), length


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
            head, length = request_head(method, target, headers, self.host)
        except _Malformed as exc:  # what httpx would not send either
            raise UpstreamFailed(f"the request cannot be forwarded: {exc}") from exc
        connection = self._checkout()
        if connection is not None:
            try:
                return await self._exchange(connection, method, head, length, body)
            except _Unanswered as exc:
                if body is not None or method not in RETRIED:
                    raise UpstreamFailed(str(exc)) from exc
            # The upstream had closed the kept connection: once more, on a new one.
        try:
            return await self._exchange(await self._connect(), method, head, length, body)
        except _Unanswered as exc:
            raise UpstreamFailed(str(exc)) from exc

    async def _exchange(
        self,
        connection: _Connection,
        method: str,
        head: bytes,
        length: int | None,
        body: AsyncIterator[bytes] | None,
    ) -> UpstreamResponse:
        wire = connection.wire
        connection.start(method)
        try:
            pending, size, sent = [head], len(head), 0
            if body is not None:
                async for chunk in body:
                    if not chunk:
                        continue
                    sent += len(chunk)
                    if length is None:
                        pending += (b"%x\r\n" % len(chunk), chunk, b"\r\n")
                    elif sent > length:
                        raise _Malformed(f"a body longer than its Content-Length ({length})")
                    else:
                        pending.append(chunk)
                    size += len(chunk)
                    if size >= WRITE_BATCH:
                        await wire.write(b"".join(pending))
                        pending, size = [], 0
            if length is None:
                pending.append(b"0\r\n\r\n")
            elif sent != length:
                raise _Malformed(f"a body of {sent} bytes, its Content-Length says {length}")
            await wire.write(b"".join(pending))
            while not connection.has_head:
                data = await wire.read()
                if not data:
                    raise ConnectionResetError("the upstream closed the connection")
                connection.feed(data)
            return UpstreamResponse(self, connection)
        except (_Malformed, OSError, TimeoutError) as exc:
            wire.abort()
            if not (connection.received or isinstance(exc, _Malformed | TimeoutError)):
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

    def _release(self, connection: _Connection) -> None:
        if (
            connection.complete
            and connection.keep_alive
            and not self._closed
            and len(self._idle) < MAX_IDLE
            and connection.wire.reusable
        ):
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


class _Malformed(Exception):
    """What came, or was to be sent, is not HTTP/1.1 as the other side would read it."""


class _Unanswered(Exception):
    """The connection failed or closed before any byte of an answer came."""
