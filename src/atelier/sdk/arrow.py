"""SQL over HTTP as Arrow: the remote side of ``ws.sql()`` and of ``atelier sql``.

The server streams ``application/vnd.apache.arrow.stream``; batches are decoded as they
arrive, so the result is never held twice. An error while rows are streaming comes as an empty
batch whose metadata names it (then the server drops the connection); both become the same
:class:`~atelier.errors.AtelierError` subclasses as any other API error.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import httpx

from atelier.errors import (
    AtelierError,
    AuthenticationFailed,
    Conflict,
    InvalidInput,
    NotFound,
    PermissionDenied,
)

if TYPE_CHECKING:
    import pyarrow

from atelier.contract import ARROW_STREAM, QUERY_ID_HEADER
from atelier.contract import ERROR_KEY as _ERROR_KEY
from atelier.contract import STATUS_KEY as _STATUS_KEY

ERROR_KEY = _ERROR_KEY.encode()
STATUS_KEY = _STATUS_KEY.encode()
#: Seconds allowed on top of the query's own timeout (the server enforces that one).
MARGIN = 30.0

_ERRORS: dict[int, type[AtelierError]] = {
    401: AuthenticationFailed,
    403: PermissionDenied,
    404: NotFound,
    409: Conflict,
    422: InvalidInput,
}


def fetch_arrow(http: httpx.Client, sql: str, timeout: float | None = None) -> pyarrow.Table:
    """Run ``sql`` on the server that ``http`` points at (base URL and bearer token set) and
    return the whole result as an Arrow table. ``timeout`` in seconds, as for the server."""
    with stream_arrow(http, sql, timeout) as reader:
        return reader.read_all()


@contextmanager
def stream_arrow(
    http: httpx.Client, sql: str, timeout: float | None = None
) -> Iterator[pyarrow.RecordBatchReader]:
    """Like :func:`fetch_arrow`, but the batches one by one, as they arrive."""
    import pyarrow

    body: dict[str, Any] = {"sql": sql}
    if timeout is not None:
        body["timeout"] = timeout
    # No read timeout of our own unless the query has one: the server stops long queries.
    limit = httpx.Timeout(MARGIN, read=None if timeout is None else timeout + MARGIN)
    try:
        with http.stream(
            "POST", "/api/v1/sql", json=body, headers={"Accept": ARROW_STREAM}, timeout=limit
        ) as response:
            if response.status_code >= 400:
                response.read()
                raise http_error(response)
            query = response.headers.get(QUERY_ID_HEADER, "?")
            source = _ResponseFile(response.iter_raw())
            try:
                reader = pyarrow.ipc.open_stream(source)
            except pyarrow.ArrowInvalid as error:
                raise AtelierError(
                    f"query {query}: the server sent no Arrow stream ({error})"
                ) from None
            yield pyarrow.RecordBatchReader.from_batches(reader.schema, _batches(reader, query))
    except httpx.TransportError as error:
        raise AtelierError(f"cannot reach Atelier at {http.base_url}: {error}") from None


def download(
    http: httpx.Client, sql: str, fmt: str, sink: Any, timeout: float | None = None
) -> int:
    """Run ``sql`` on the server as a ``fmt`` (csv, parquet) download and write the file to
    ``sink`` as it comes; returns the query's id. A download the server cut off (the query
    failed while rows were streaming) raises the query's error, as its history records it."""
    body: dict[str, Any] = {"sql": sql}
    if timeout is not None:
        body["timeout"] = timeout
    limit = httpx.Timeout(MARGIN, read=None if timeout is None else timeout + MARGIN)
    query = "?"
    try:
        with http.stream(
            "POST", "/api/v1/sql/download", params={"format": fmt}, json=body, timeout=limit
        ) as response:
            if response.status_code >= 400:
                response.read()
                raise http_error(response)
            query = response.headers.get(QUERY_ID_HEADER, "?")
            for chunk in response.iter_bytes():
                sink.write(chunk)
            return int(query)
    except httpx.TransportError as error:
        if query == "?":
            raise AtelierError(f"cannot reach Atelier at {http.base_url}: {error}") from None
        raise _cut_off(http, query, error) from None


def _cut_off(http: httpx.Client, query: str, error: Exception) -> AtelierError:
    """Why the download of ``query`` stopped: the query's error from its history, when the
    server can say."""
    try:
        info = http.get(f"/api/v1/sql/{query}", timeout=MARGIN)
        found = info.json() if info.status_code == 200 else {}
    except (httpx.HTTPError, ValueError):
        found = {}
    if found.get("error"):
        status = {"timeout": 408, "cancelled": 409}.get(found.get("status", ""), 400)
        return error_for(status, f"query {query} stopped: {found['error']}")
    return AtelierError(f"the download of query {query} was cut off: {error}")


def to_ipc(table: pyarrow.Table) -> bytes:
    """``table`` as one Arrow IPC stream (a request or response body)."""
    import pyarrow

    sink = pyarrow.BufferOutputStream()
    with pyarrow.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue().to_pybytes())


def from_ipc(body: bytes, what: str = "the body") -> pyarrow.Table:
    """The table in an Arrow IPC stream body; a clear error when it is not one."""
    import pyarrow

    try:
        return pyarrow.ipc.open_stream(pyarrow.py_buffer(body)).read_all()
    except (pyarrow.ArrowInvalid, OSError) as error:
        # Garbage can fail as ArrowInvalid or as an I/O error ("negative continuation token").
        raise InvalidInput(f"{what} is not an Arrow IPC stream: {error}") from None


def http_error(response: httpx.Response) -> AtelierError:
    """The error an API error response stands for."""
    try:
        detail = response.json().get("detail", response.text)
    except ValueError:
        detail = response.text
    return error_for(response.status_code, f"{detail} (HTTP {response.status_code})")


def error_for(status: int, message: str) -> AtelierError:
    kind = _ERRORS.get(status, AtelierError)
    error = kind(message)
    if kind is AtelierError:
        error.status_code = status
    return error


def _batches(reader: pyarrow.ipc.RecordBatchStreamReader, query: str) -> Iterator[Any]:
    import pyarrow

    while True:
        try:
            batch, metadata = reader.read_next_batch_with_custom_metadata()
        except StopIteration:
            return
        except (pyarrow.ArrowException, httpx.TransportError) as error:
            raise AtelierError(f"the result of query {query} was cut off: {error}") from None
        if metadata is not None and ERROR_KEY in metadata:
            status = int(metadata.get(STATUS_KEY, b"400"))
            raise error_for(status, metadata[ERROR_KEY].decode())
        yield batch


class _ResponseFile:
    """A read-only file over the response's chunks; ``read(n)`` returns n bytes unless the
    body ends first (Arrow's reader takes a short read for the end of the stream)."""

    closed = False

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._buffer = bytearray()

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        while size < 0 or len(self._buffer) < size:
            chunk = next(self._chunks, None)
            if chunk is None:
                break
            self._buffer += chunk
        if size < 0:
            size = len(self._buffer)
        with memoryview(self._buffer) as view:
            data = bytes(view[:size])
        del self._buffer[:size]  # cheap: CPython moves a bytearray's start forward
        return data

    def close(self) -> None:
        self.closed = True
