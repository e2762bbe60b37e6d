"""SQL: run a query (Arrow IPC stream or JSON), download its result as a file (CSV or
Parquet), cancel it, read the history; the editor's schema tree (``/sql/schema``) and saved
queries (``/sql/saved``).

``POST /api/v1/sql`` answers ``application/vnd.apache.arrow.stream`` when the client accepts it
(the SDK and CLI do) and JSON otherwise. Errors found before the first rows get a normal error
status (422 bad SQL, 403 refused, 408 timeout, 409 cancelled); one that happens while rows are
streaming cannot change the status any more, so it is written into the stream as an empty
batch whose metadata holds the error (``atelier_error``, ``atelier_status``), and the
connection is then closed without ending the response, so that no client can take the
truncated stream for the whole result.

``POST /api/v1/sql/download?format=csv|parquet`` streams the result as a file (an
attachment). A download always leaves the server: personal data in it is raw only with an
export grant, whoever asks. An error while it streams closes the connection the same way, so a
download cut short never ends as a complete file.

Where the rows of ``POST /api/v1/sql`` go is decided by :func:`~atelier.server.api.deps.on_server`:
code the server runs itself (a notebook's or job's token, calling from the server host) keeps
them on the server; everything else is remote.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Literal

import anyio
from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.concurrency import run_in_threadpool
from starlette.types import Send

from atelier.contract import (
    ARROW_STREAM,
    DOWNLOAD_FORMATS,
    ERROR_KEY,
    QUERY_ID_HEADER,
    STATUS_KEY,
)
from atelier.contract.data import QueryCancel, QueryInfo, SqlRequest
from atelier.contract.saved_queries import (
    SavedQueryChange,
    SavedQueryCreate,
    SavedQueryInfo,
    SqlSchema,
)
from atelier.errors import AtelierError
from atelier.server.api.deps import client, on_server, workbench
from atelier.server.security import allow
from atelier.services.auth import Principal
from atelier.services.auth.scopes import DATA, DATA_READ

if TYPE_CHECKING:
    import pyarrow

    from atelier.services.query import QueryResult
    from atelier.services.query.download import Download

router = APIRouter(prefix="/sql", tags=["sql"])


def wants_arrow(request: Request) -> bool:
    return ARROW_STREAM in request.headers.get("accept", "")


@router.post("")
async def run_sql(
    body: SqlRequest,
    request: Request,
    principal: Principal = allow("admin", "scientist", scopes=(DATA_READ,)),
) -> Response:
    """Run one statement. Arrow IPC stream or ``{"columns", "rows", "row_count", "query_id"}``."""
    from atelier.services.query import json_rows

    wb = workbench(request)
    remote = not on_server(request, principal)
    result = await run_in_threadpool(
        lambda: wb.query.run(
            body.sql,
            principal=principal,
            timeout=body.timeout,
            remote=remote,
            client=client(request),
        )
    )
    if wants_arrow(request):
        batches = result.batches()
        try:
            # The first batch before the headers: most errors still get their own status.
            first = await run_in_threadpool(next, batches, None)
        except BaseException:
            await _close(result)
            raise
        return ArrowStreamResponse(result, first, batches)

    def as_json() -> JSONResponse:
        table = result.to_arrow()
        content = {
            "query_id": result.query_id,
            "columns": [c.as_dict() for c in result.columns],
            "rows": json_rows(table),
            "row_count": table.num_rows,
        }
        return JSONResponse(content, headers={QUERY_ID_HEADER: str(result.query_id)})

    try:
        # In a worker thread, encoding included: a big result must not stall the event loop.
        return await run_in_threadpool(as_json)
    finally:
        await _close(result)


@router.post(
    "/download",
    response_class=StreamingResponse,
    responses={200: {"content": {media: {} for media in DOWNLOAD_FORMATS.values()}}},
)
async def download(
    body: SqlRequest,
    request: Request,
    fmt: Literal["csv", "parquet"] = Query(alias="format"),
    # Code tokens with the owner's data work (notebooks, jobs); not an app's read-only token.
    principal: Principal = allow("admin", "scientist", scopes=(DATA,)),
) -> Response:
    """Run one statement and stream its result as a CSV or Parquet file (an attachment).
    Always remote: personal data is raw only with an export grant. Audited (``sql.download``)."""
    return await download_response(request, principal, body.sql, fmt, timeout=body.timeout)


async def download_response(
    request: Request,
    principal: Principal,
    sql: str,
    fmt: str,
    *,
    timeout: float | None = None,
) -> Response:
    """The streamed file of ``sql``'s result for ``principal`` (the API's and the SQL page's
    downloads). Errors found before the first rows get their own status."""
    from atelier.services.query.download import start_download

    wb = workbench(request)
    started = await run_in_threadpool(
        lambda: start_download(
            wb.query,
            wb.audit,
            sql,
            fmt,
            principal=principal,
            remote=True,  # a file always leaves the server, whoever asks for it
            timeout=timeout,
            client=client(request),
        )
    )
    chunks = started.chunks()
    try:
        first = await run_in_threadpool(next, chunks, b"")
    except BaseException:
        await _close(started.result)
        raise
    return DownloadResponse(started, first, chunks)


@router.get("/history", response_model=list[QueryInfo])
def history(
    request: Request,
    limit: int = 50,
    principal: Principal = allow("admin", "scientist", scopes=(DATA,)),
) -> list[dict[str, Any]]:
    """The caller's queries, newest first."""
    return [q.as_dict() for q in workbench(request).query.history(principal.name, limit)]


# -- the editor: schema tree and saved queries (before /{query_id}, which would take them) --


@router.get("/schema", response_model=SqlSchema)
def schema(
    request: Request, principal: Principal = allow("admin", "scientist", scopes=(DATA,))
) -> dict[str, Any]:
    """Every table a statement can read, by schema, with its columns and their types (what
    the SQL editor completes and browses). Column names are listed even where values are
    masked."""
    from atelier.services.query.schema import schema_tree

    return {"schemas": [s.as_dict() for s in schema_tree(workbench(request).catalog)]}


@router.get("/saved", response_model=list[SavedQueryInfo])
def saved_list(
    request: Request, principal: Principal = allow("admin", "scientist", scopes=(DATA,))
) -> list[dict[str, Any]]:
    """The caller's saved queries and everyone's shared ones, by name."""
    return [q.as_dict() for q in workbench(request).saved_queries.visible(principal)]


@router.post("/saved", response_model=SavedQueryInfo, status_code=201)
def saved_create(
    body: SavedQueryCreate,
    request: Request,
    principal: Principal = allow("admin", "scientist", scopes=(DATA,)),
) -> dict[str, Any]:
    """Save a query under a new name (409 when the caller already has one of that name)."""
    saved = workbench(request).saved_queries
    return saved.create(principal, body.name, body.sql, shared=body.shared).as_dict()


@router.get("/saved/{saved_id}", response_model=SavedQueryInfo)
def saved_get(
    saved_id: int,
    request: Request,
    principal: Principal = allow("admin", "scientist", scopes=(DATA,)),
) -> dict[str, Any]:
    """One saved query (the caller's, a shared one; an admin's any)."""
    return workbench(request).saved_queries.get(principal, saved_id).as_dict()


@router.patch("/saved/{saved_id}", response_model=SavedQueryInfo)
def saved_change(
    saved_id: int,
    body: SavedQueryChange,
    request: Request,
    principal: Principal = allow("admin", "scientist", scopes=(DATA,)),
) -> dict[str, Any]:
    """Rename a saved query, change its SQL or its sharing (its owner or an admin)."""
    saved = workbench(request).saved_queries
    return saved.update(
        principal, saved_id, name=body.name, sql=body.sql, shared=body.shared
    ).as_dict()


@router.delete("/saved/{saved_id}", status_code=204)
def saved_delete(
    saved_id: int,
    request: Request,
    principal: Principal = allow("admin", "scientist", scopes=(DATA,)),
) -> Response:
    """Delete a saved query (its owner or an admin)."""
    workbench(request).saved_queries.delete(principal, saved_id)
    return Response(status_code=204)


@router.get("/{query_id}", response_model=QueryInfo)
def query_info(
    query_id: int,
    request: Request,
    principal: Principal = allow("admin", "scientist", scopes=(DATA_READ,)),
) -> dict[str, Any]:
    """One query of the history (its owner's or, for admins, anyone's)."""
    info = workbench(request).query.get(query_id, principal.name, admin=principal.role == "admin")
    return info.as_dict()


@router.post("/{query_id}/cancel", response_model=QueryCancel)
def cancel(
    query_id: int,
    request: Request,
    principal: Principal = allow("admin", "scientist", scopes=(DATA_READ,)),
) -> dict[str, Any]:
    """Interrupt a running query (its owner or an admin)."""
    workbench(request).query.cancel(query_id, principal=principal, client=client(request))
    return {"query_id": query_id, "status": "cancelling"}


# -- Arrow IPC streaming ------------------------------------------------------------------


class ArrowStreamResponse(StreamingResponse):
    """A query's batches as an Arrow IPC stream, each encoded in a worker thread."""

    def __init__(
        self,
        result: QueryResult,
        first: pyarrow.RecordBatch | None,
        batches: Iterator[pyarrow.RecordBatch],
    ) -> None:
        super().__init__(
            iter(()), media_type=ARROW_STREAM, headers={QUERY_ID_HEADER: str(result.query_id)}
        )
        self.result = result
        self.first = first
        self.batches = batches
        self.encoder = IpcEncoder(result.schema)

    async def stream_response(self, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        try:
            chunk, done = await run_in_threadpool(self._chunk, self.first)
            while True:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
                if done:
                    break
                chunk, done = await run_in_threadpool(self._chunk)
        except AtelierError as error:
            chunk = self.encoder.error(error)
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
            return  # the response stays unfinished: the server closes the connection
        finally:
            await _close(self.result)
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    def _chunk(self, batch: pyarrow.RecordBatch | None = None) -> tuple[bytes, bool]:
        """The next batch encoded (with the schema before the first), and whether it was the
        end of the stream."""
        if batch is None:
            batch = next(self.batches, None)
        if batch is None:
            return self.encoder.end(), True
        return self.encoder.batch(batch), False


class DownloadResponse(StreamingResponse):
    """A download's file, its pieces encoded in a worker thread. An error after the first
    piece leaves the response unfinished, so the client sees a broken transfer, never a
    complete-looking file with rows missing."""

    def __init__(self, download: Download, first: bytes, chunks: Iterator[bytes]) -> None:
        headers = {
            QUERY_ID_HEADER: str(download.result.query_id),
            "Content-Disposition": f'attachment; filename="{download.filename}"',
            "Cache-Control": "no-store",
        }
        super().__init__(iter(()), media_type=download.media_type, headers=headers)
        self.download = download
        self.first = first
        self.chunks = chunks

    async def stream_response(self, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        try:
            chunk: bytes | None = self.first
            while chunk is not None:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
                chunk = await run_in_threadpool(next, self.chunks, None)
        except AtelierError:
            return  # the response stays unfinished: the server closes the connection
        finally:
            await _close(self.download.result)
        await send({"type": "http.response.body", "body": b"", "more_body": False})


class IpcEncoder:
    """Arrow IPC stream messages, handed out as bytes as they are written."""

    def __init__(self, schema: pyarrow.Schema) -> None:
        import pyarrow

        self.schema = schema
        self._parts: list[Any] = []
        self.closed = False
        self._writer = pyarrow.ipc.new_stream(self, schema)

    # The file-like side, for the writer: pyarrow passes bytes, or Buffers over batch memory.
    def write(self, data: Any) -> int:
        self._parts.append(data if isinstance(data, bytes) else memoryview(data))
        return len(data)

    def flush(self) -> None:
        pass

    def _take(self) -> bytes:
        data = b"".join(self._parts)
        self._parts.clear()
        return data

    def batch(self, batch: pyarrow.RecordBatch) -> bytes:
        self._writer.write_batch(batch)
        return self._take()

    def end(self) -> bytes:
        self._writer.close()
        return self._take()

    def error(self, error: AtelierError) -> bytes:
        import pyarrow

        empty = pyarrow.RecordBatch.from_pylist([], schema=self.schema)
        metadata = {ERROR_KEY: str(error), STATUS_KEY: str(error.status_code)}
        self._writer.write_batch(empty, custom_metadata=metadata)
        return self._take()


async def _close(result: QueryResult) -> None:
    # Shielded: a client that went away cancels the request, and the connection must still
    # be released and the history finished.
    with anyio.CancelScope(shield=True):
        await run_in_threadpool(result.close)
