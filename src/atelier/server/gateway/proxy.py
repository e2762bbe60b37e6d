"""A reverse proxy for internal services (JupyterLab, MLflow, hosted apps).

The internal service listens on a Unix socket or loopback with its own secret; the Atelier
server has already authenticated the caller when these functions run. They forward HTTP
(request and response bodies streamed) and WebSocket traffic, and keep Atelier's own
credentials away from the service:

* the Atelier cookies (the portal's session and login cookies, the apps origin's
  ``atelier_app``) and the caller's ``Authorization`` header are removed; the upstream's
  secret header (``Upstream.headers``) is added instead;
* hop-by-hop headers are dropped in both directions;
* the browser's ``Origin`` is replaced by the upstream's own origin, since Atelier has
  checked it already (see :mod:`atelier.server.gateway.guard`) and the upstream should see a
  same-origin request;
* a ``Set-Cookie`` from the upstream for one of Atelier's cookie names is dropped, so a hosted
  app cannot plant a session.

Redirects are passed back as they are (``Location`` untouched): upstreams run under the same
path prefix as the proxy route (e.g. Jupyter with ``base_url=/notebooks/``).

A caller that keeps an :class:`~atelier.server.gateway.pool.UpstreamPool` for an upstream it
calls often (MLflow) has requests sent through it rather than through httpx: the same headers
and streaming, at a fraction of the CPU per request; an answer of known small length is then
read whole and sent on in one piece.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
from starlette.background import BackgroundTask
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.websockets import WebSocket, WebSocketDisconnect

from atelier.server.gateway.pool import UpstreamFailed, UpstreamPool, UpstreamResponse
from atelier.server.security import LOGIN_CSRF_COOKIE, SESSION_COOKIE

log = logging.getLogger(__name__)

#: Headers that describe one connection, not the message (RFC 9110 section 7.6.1).
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
#: The apps origin's session cookie (see :mod:`atelier.server.gateway.handoff`).
APP_COOKIE = "atelier_app"
#: Cookies that carry Atelier's own credentials: never forwarded, never set by an upstream.
ATELIER_COOKIES = frozenset({SESSION_COOKIE, LOGIN_CSRF_COOKIE, APP_COOKIE})
#: What :func:`sandboxed` adds: a CSP ``sandbox`` without ``allow-same-origin``, and nosniff.
SANDBOX_HEADERS = (
    (b"content-security-policy", b"sandbox"),
    (b"x-content-type-options", b"nosniff"),
)
#: Request headers that the proxy sets itself.
REPLACED = frozenset({"host", "authorization", "cookie", "origin", "content-length"})
#: WebSocket handshake headers that the websockets client writes itself.
WS_HANDSHAKE = frozenset(
    {"sec-websocket-key", "sec-websocket-version", "sec-websocket-extensions"}
    | {"sec-websocket-protocol", "sec-websocket-accept"}
)
#: Path characters sent as they are; everything else is percent-encoded again.
PATH_SAFE = "/:@!$&'()*+,;=-._~"
#: Close codes that may not be sent in a close frame (RFC 6455 section 7.4.1).
UNSENDABLE_CLOSE_CODES = frozenset({1005, 1006, 1015})
TIMEOUT = httpx.Timeout(connect=10.0, read=300.0, write=300.0, pool=10.0)
#: Query characters sent as they are (printable ASCII, escapes included); others (bytes a
#: request line may carry but h11 will not send) are percent-encoded, as httpx does.
QUERY_SAFE = "".join(chr(c) for c in range(0x21, 0x7F))
#: Answers of at most this declared length are read whole from a pool's connection and sent in
#: one piece (no streaming machinery for a small JSON answer); longer ones are streamed.
SMALL_BODY = 256 * 1024


@dataclass(frozen=True)
class Upstream:
    """An internal service: where it listens and the secret headers it expects.

    ``base_url`` is the service's own address and path prefix (``http://jupyter/notebooks``,
    ``http://127.0.0.1:5000``); with ``uds`` the connection goes to that Unix socket and the
    URL's host only names the service in the ``Host`` header.
    """

    base_url: str
    uds: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    #: Named in error messages ("JupyterLab is not reachable").
    name: str = "the service"
    #: Another Atelier server of the workspace (see :func:`peer`): the request goes on as it
    #: came, ``Host``, ``Origin`` and credentials included, since that server authenticates
    #: and checks it again.
    peer: bool = False

    def url(self, path: str, query: str = "", *, scheme: str | None = None) -> str:
        base = self.base_url.rstrip("/")
        if scheme is not None:
            base = scheme + base[base.index(":") :]
        target = f"{base}/{quote(path.lstrip('/'), safe=PATH_SAFE)}"
        return f"{target}?{query}" if query else target

    def target(self, path: str, query: bytes = b"") -> str:
        """The request target (path and query) for ``path`` under the service's prefix: what
        :meth:`url` names, without scheme and host."""
        base = urlsplit(self.base_url).path.rstrip("/")
        target = f"{base}/{quote(path.lstrip('/'), safe=PATH_SAFE)}"
        return f"{target}?{quote(query, safe=QUERY_SAFE)}" if query else target

    @property
    def origin(self) -> str:
        parts = urlsplit(self.base_url)
        return f"{parts.scheme}://{parts.netloc}"


#: A ``Host`` header that is a host name or address and a port, nothing else.
HOST = re.compile(r"[A-Za-z0-9.\-]+(:[0-9]{1,5})?|\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?")
#: Marks a request one Atelier server passed to another (its value: the sender's holder id).
#: A server never passes such a request on again, so two servers that each believe the
#: other holds the work answer instead of sending it back and forth.
FORWARDED_HEADER = "x-atelier-forwarded"


def peer(address: str, sender: str) -> Upstream:
    """The server at ``address`` (its ``server.internal_url``), which holds the work a request
    is for; ``sender``: this server's holder id."""
    return Upstream(address, headers={FORWARDED_HEADER: sender}, name=address, peer=True)


def _connection_tokens(headers: Iterable[tuple[str, str]]) -> set[str]:
    """Header names a ``Connection`` header lists: hop-by-hop for this message."""
    named: set[str] = set()
    for name, value in headers:
        if name.lower() == "connection":
            named.update(token.strip().lower() for token in value.split(",") if token.strip())
    return named


def without_atelier_cookies(cookie_header: str) -> str:
    """The ``Cookie`` header minus Atelier's cookies (the others belong to the upstream)."""
    kept = []
    for part in cookie_header.split(";"):
        name = part.split("=", 1)[0].strip()
        if name and name not in ATELIER_COOKIES:
            kept.append(part.strip())
    return "; ".join(kept)


def upstream_request_headers(
    connection: HTTPConnection, upstream: Upstream, *, skip: frozenset[str] = frozenset()
) -> list[tuple[str, str]]:
    """What the upstream is sent: the caller's headers minus credentials and hop-by-hop
    headers, plus the upstream's secret headers and the usual ``X-Forwarded-*``."""
    raw = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in connection.scope["headers"]]
    if upstream.peer:
        return _peer_request_headers(connection, upstream, raw, skip)
    dropped = HOP_BY_HOP | REPLACED | skip | _connection_tokens(raw)
    dropped |= {name.lower() for name in upstream.headers}
    headers = [(k, v) for k, v in raw if k.lower() not in dropped]
    cookies = [without_atelier_cookies(v) for k, v in raw if k.lower() == "cookie"]
    cookie = "; ".join(c for c in cookies if c)
    if cookie:
        headers.append(("cookie", cookie))
    if connection.headers.get("origin"):
        headers.append(("origin", upstream.origin))
    client = connection.client.host if connection.client else ""
    forwarded_proto = "https" if connection.url.scheme in ("https", "wss") else "http"
    headers += [
        ("x-forwarded-for", client),
        ("x-forwarded-host", connection.headers.get("host", "")),
        ("x-forwarded-proto", forwarded_proto),
    ]
    headers += list(upstream.headers.items())
    content_length = connection.headers.get("content-length")
    if content_length is not None:
        headers.append(("content-length", content_length))
    return headers


def _peer_request_headers(
    connection: HTTPConnection,
    upstream: Upstream,
    raw: list[tuple[str, str]],
    skip: frozenset[str],
) -> list[tuple[str, str]]:
    """The caller's headers as they came (hop-by-hop ones aside), the caller's address added
    to ``X-Forwarded-For`` (believed there only from ``auth.trusted_proxies``), and the
    forwarding mark."""
    dropped = HOP_BY_HOP | skip | _connection_tokens(raw) | {"x-forwarded-for"}
    dropped |= {name.lower() for name in upstream.headers}
    if connection.scope["type"] == "websocket":
        dropped |= {"host"}  # the WebSocket client writes it, from the URI (see below)
    headers = [(k, v) for k, v in raw if k.lower() not in dropped]
    chain = [v for k, v in raw if k.lower() == "x-forwarded-for"]
    if connection.client:
        chain.append(connection.client.host)
    if chain:
        headers.append(("x-forwarded-for", ", ".join(chain)))
    return headers + list(upstream.headers.items())


def _sets_atelier_cookie(value: str) -> bool:
    cookie: SimpleCookie = SimpleCookie()
    try:
        cookie.load(value)
    except Exception:  # a cookie we cannot parse could be anything: drop it
        return True
    return any(name in ATELIER_COOKIES for name in cookie)


def downstream_headers(response: httpx.Response | list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The upstream's response headers that the caller may see."""
    raw = response.headers.multi_items() if isinstance(response, httpx.Response) else response
    dropped = HOP_BY_HOP | _connection_tokens(raw)
    return [
        (name, value)
        for name, value in raw
        if name.lower() not in dropped
        and not (name.lower() == "set-cookie" and _sets_atelier_cookie(value))
    ]


def sandboxed(response: Response) -> Response:
    """``response`` marked as user content (an MLflow artifact, say): opened as a page, it
    runs in an opaque origin with no scripts, forms or same-origin rights, so it cannot act as
    its visitor here, and the browser does not guess a type other than the one declared."""
    response.raw_headers = [
        (name, value) for name, value in response.raw_headers if name != b"x-content-type-options"
    ] + list(SANDBOX_HEADERS)
    return response


def upstream_client(upstream: Upstream) -> httpx.AsyncClient:
    """An HTTP client for ``upstream`` (its Unix socket, if any), for :func:`proxy_http`."""
    # Internal services speak plain HTTP: no certificate store to load per request (a transport
    # given to the client keeps its own ``verify``, loading the store takes tens of ms).
    transport = httpx.AsyncHTTPTransport(uds=upstream.uds, verify=False) if upstream.uds else None
    return httpx.AsyncClient(transport=transport, timeout=TIMEOUT, verify=False, trust_env=False)


def unreachable(upstream: Upstream, error: Exception) -> JSONResponse:
    log.warning("proxy to %s failed: %s", upstream.name, error)
    return JSONResponse(
        {"detail": f"{upstream.name} is not reachable ({type(error).__name__}); try again"},
        status_code=502,
    )


def canonical_path(path: str) -> str:
    """``path`` (a route's ``{path:path}``, decoded) as the service will read it: no empty or
    dot segments, no leading slash; a trailing slash kept. Checks and the forwarded request
    use this one spelling, so ``a//b`` or ``a/./b`` cannot pass a check made on ``a/b``."""
    import posixpath

    normal = posixpath.normpath("/" + path).lstrip("/")
    return normal + "/" if normal and path.endswith("/") else normal


async def _body(request: Request) -> AsyncIterator[bytes]:
    async for chunk in request.stream():
        if chunk:
            yield chunk


async def proxy_http(
    request: Request,
    upstream: Upstream,
    path: str,
    *,
    client: httpx.AsyncClient | UpstreamPool | None = None,
) -> Response:
    """Forward ``request`` to ``path`` under the upstream; stream the answer back.

    With ``client`` (an :class:`UpstreamPool`, or a client made by :func:`upstream_client`,
    kept by the caller) connections are kept alive between requests; without, each request
    opens and closes its own.
    """
    if isinstance(client, UpstreamPool):
        return await _proxy_pooled(request, upstream, path, client)
    owned = client is None
    if client is None:
        client = upstream_client(upstream)
    has_body = request.method not in ("GET", "HEAD") or "content-length" in request.headers
    outgoing = client.build_request(
        request.method,
        upstream.url(path, request.url.query),
        headers=upstream_request_headers(request, upstream),
        content=_body(request) if has_body else None,
    )
    try:
        response = await client.send(outgoing, stream=True)
    except httpx.HTTPError as exc:
        if owned:
            await client.aclose()
        return unreachable(upstream, exc)

    async def close() -> None:
        await response.aclose()
        if owned:
            await client.aclose()

    return _streaming(response, close)


async def _proxy_pooled(
    request: Request, upstream: Upstream, path: str, pool: UpstreamPool
) -> Response:
    """:func:`proxy_http` through a kept :class:`UpstreamPool`."""
    has_length = "content-length" in request.headers
    has_body = request.method not in ("GET", "HEAD") or has_length
    headers = [
        (name.encode("latin-1"), value.encode("latin-1"))
        for name, value in upstream_request_headers(request, upstream)
    ]
    if has_body and not has_length:
        headers.append((b"transfer-encoding", b"chunked"))
    target = upstream.target(path, request.scope.get("query_string", b""))
    try:
        response = await pool.send(
            request.method, target, headers, _body(request) if has_body else None
        )
    except UpstreamFailed as exc:
        return unreachable(upstream, exc)
    raw = [(name.decode("latin-1"), value.decode("latin-1")) for name, value in response.headers]
    if _small(request.method, response):
        try:
            content = await response.read()
        except UpstreamFailed as exc:
            return unreachable(upstream, exc)
        whole = Response(content, status_code=response.status_code)
        whole.raw_headers = _encoded(downstream_headers(raw))
        return whole
    streaming = StreamingResponse(
        _relay_pooled(response),
        status_code=response.status_code,
        background=BackgroundTask(response.aclose),
    )
    streaming.raw_headers = _encoded(downstream_headers(raw))
    return streaming


def _small(method: str, response: UpstreamResponse) -> bool:
    """Whether the answer has no body or a short one of declared length."""
    if method == "HEAD" or response.status_code in (204, 304):
        return True
    length = response.header(b"content-length")
    return length is not None and length.isdigit() and int(length) <= SMALL_BODY


async def _relay_pooled(response: UpstreamResponse) -> AsyncIterator[bytes]:
    try:
        async for chunk in response.aiter_raw():
            yield chunk
    except UpstreamFailed as exc:
        # The status line is gone already; ending the stream early is all that is left.
        log.warning("upstream response broke off: %s", exc)
    finally:
        response.release()  # also when the caller went away mid-answer


def _encoded(headers: list[tuple[str, str]]) -> list[tuple[bytes, bytes]]:
    return [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers]


def _streaming(response: httpx.Response, close: Callable[[], Awaitable[None]]) -> StreamingResponse:
    streaming = StreamingResponse(
        _relay(response), status_code=response.status_code, background=BackgroundTask(close)
    )
    # Set raw headers so repeated ones (Set-Cookie) survive; no default content-type added.
    streaming.raw_headers = _encoded(downstream_headers(response))
    return streaming


async def _relay(response: httpx.Response) -> AsyncIterator[bytes]:
    try:
        async for chunk in response.aiter_raw():
            yield chunk
    except httpx.HTTPError as exc:
        # The status line is gone already; ending the stream early is all that is left.
        log.warning("upstream response broke off: %s", exc)
    finally:
        # Also when the caller went away mid-answer (no background task then): the connection
        # goes back to a kept client's pool, or is closed.
        await response.aclose()


# -- WebSockets --------------------------------------------------------------------------


def _close_code(code: int | None) -> int:
    if code is None or code in UNSENDABLE_CLOSE_CODES:
        return 1000 if code == 1005 else 1011
    return code


async def proxy_websocket(websocket: WebSocket, upstream: Upstream, path: str) -> None:
    """Connect to the upstream's WebSocket at ``path``, then accept the caller's with the
    subprotocol the upstream chose and relay messages both ways until one side closes."""
    from websockets.asyncio.client import connect, unix_connect
    from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

    uri = upstream.url(path, websocket.url.query, scheme="ws")
    headers = upstream_request_headers(
        websocket, upstream, skip=WS_HANDSHAKE | {"x-forwarded-proto"}
    )
    where: dict[str, Any] = {}
    if upstream.peer:
        # The URI names the caller's host (the ``Host`` header the other server checks the
        # ``Origin`` against); the connection goes to the other server's address.
        address = urlsplit(upstream.base_url)
        secure = address.scheme == "https"
        where = {"host": address.hostname, "port": address.port or (443 if secure else 80)}
        if secure:
            where["server_hostname"] = address.hostname
        host = websocket.headers.get("host", "")
        if not HOST.fullmatch(host):  # no user info, path or query smuggled into the URI
            host = address.netloc
        uri = f"{'wss' if secure else 'ws'}://{host}{urlsplit(uri).path}"
        uri += f"?{websocket.url.query}" if websocket.url.query else ""
    options: dict[str, Any] = {
        "subprotocols": websocket.scope.get("subprotocols") or None,
        "additional_headers": headers,
        "user_agent_header": None,
        "compression": None,
        "max_size": None,
        "ping_interval": None,
        "proxy": None,
        "open_timeout": 10,
        **where,
    }
    try:
        opener = (
            unix_connect(upstream.uds, uri, **options) if upstream.uds else connect(uri, **options)
        )
        upstream_ws = await opener
    except InvalidStatus as exc:
        status = exc.response.status_code
        log.warning("%s refused the WebSocket at %s: HTTP %s", upstream.name, path, status)
        await websocket.close(code=1008 if status in (401, 403) else 1011)
        return
    except (OSError, InvalidHandshake, TimeoutError) as exc:
        log.warning("WebSocket to %s failed: %s", upstream.name, exc)
        await websocket.close(code=1011)
        return

    await websocket.accept(subprotocol=upstream_ws.subprotocol)

    async def client_to_upstream() -> None:
        try:
            while True:
                message = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    await upstream_ws.close(code=_close_code(message.get("code")))
                    return
                if message.get("bytes") is not None:
                    await upstream_ws.send(message["bytes"])
                elif message.get("text") is not None:
                    await upstream_ws.send(message["text"])
        except (ConnectionClosed, WebSocketDisconnect):
            return

    async def upstream_to_client() -> None:
        try:
            async for data in upstream_ws:
                if isinstance(data, bytes):
                    await websocket.send_bytes(data)
                else:
                    await websocket.send_text(data)
        except ConnectionClosed:
            pass
        except (WebSocketDisconnect, RuntimeError):
            return  # the caller went away first
        with contextlib.suppress(RuntimeError, WebSocketDisconnect):
            await websocket.close(
                code=_close_code(upstream_ws.close_code), reason=upstream_ws.close_reason or ""
            )

    tasks = [
        asyncio.ensure_future(client_to_upstream()),
        asyncio.ensure_future(upstream_to_client()),
    ]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        try:
            await asyncio.gather(*tasks, return_exceptions=True)
            await upstream_ws.close()
        finally:
            # Cancelled (the caller's connection torn down) before the closing handshake ended:
            # the upstream's socket must not outlive it. A no-op after a clean close.
            upstream_ws.transport.abort()
        with contextlib.suppress(RuntimeError, WebSocketDisconnect):
            await websocket.close(code=1000)
