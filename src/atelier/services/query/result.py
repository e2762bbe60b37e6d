"""A query's result: DuckDB's stream of Arrow record batches, read once, then closed.

Nothing is materialised unless asked for (:meth:`QueryResult.to_arrow`), so a 10-million-row
result can go out over HTTP batch by batch. The query's history row is finished when the
stream ends (``ok``), fails (``error``, ``timeout``, ``cancelled``) or is closed early.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from atelier.errors import AtelierError
from atelier.services.query.control import Control
from atelier.services.query.errors import QueryCancelled, QueryTimeout
from atelier.services.query.history import Status

if TYPE_CHECKING:
    import pandas
    import polars
    import pyarrow

#: Called once when the result ends with status, rows delivered, error; returns the duration.
OnEnd = Callable[[Status, int, "str | None"], float]
ErrorOf = Callable[[BaseException], "AtelierError | None"]


@dataclass(frozen=True)
class Column:
    """A result column with its DuckDB type (``BIGINT``, ``DECIMAL(18,3)``, ``VARCHAR``…)."""

    name: str
    type: str

    def as_dict(self) -> dict[str, str]:
        return {"name": self.name, "type": self.type}


class QueryResult:
    """The rows of one query. Read it once — :meth:`batches`, :meth:`reader`, :meth:`to_arrow`,
    :meth:`to_pandas`, :meth:`to_polars` or :meth:`preview` — or :meth:`close` it; it is also a
    context manager. It holds a DuckDB connection until then.

    Read it from one thread at a time; to stop it from another thread, use
    :meth:`QueryService.cancel <atelier.services.query.QueryService.cancel>`."""

    def __init__(
        self,
        query_id: int,
        columns: list[Column],
        reader: pyarrow.RecordBatchReader,
        control: Control,
        on_end: OnEnd,
        error_of: ErrorOf,
    ) -> None:
        self.query_id = query_id
        self.columns = columns
        #: Rows delivered so far.
        self.rows = 0
        #: ``running`` until the result ends, then its history status.
        self.status: Status = "running"
        self.error: str | None = None
        #: Milliseconds from start to end, once ended.
        self.duration_ms: float | None = None
        self._reader = reader
        self._control = control
        self._on_end = on_end
        self._error_of = error_of
        self._stream: Generator[pyarrow.RecordBatch] | None = None

    def __repr__(self) -> str:
        return f"<QueryResult {self.query_id} {self.status}, {self.rows} rows read>"

    @property
    def schema(self) -> pyarrow.Schema:
        return self._reader.schema

    # -- reading -------------------------------------------------------------------------

    def batches(self) -> Iterator[pyarrow.RecordBatch]:
        """The record batches, as DuckDB produces them; raises the query's error if it fails
        (:class:`~atelier.errors.InvalidInput`, ``QueryTimeout``, ``QueryCancelled``)."""
        if self._stream is not None or self.status != "running":
            raise AtelierError(f"the result of query {self.query_id} has already been read")
        self._stream = self._read()
        return self._stream

    def reader(self) -> pyarrow.RecordBatchReader:
        """The batches as an Arrow ``RecordBatchReader`` (for Arrow IPC, DuckDB, polars…)."""
        import pyarrow

        return pyarrow.RecordBatchReader.from_batches(self.schema, self.batches())

    def to_arrow(self) -> pyarrow.Table:
        import pyarrow

        return pyarrow.Table.from_batches(list(self.batches()), schema=self.schema)

    def to_pandas(self) -> pandas.DataFrame:
        return self.to_arrow().to_pandas()

    def to_polars(self) -> polars.DataFrame:
        import polars

        frame = polars.from_arrow(self.to_arrow())
        assert isinstance(frame, polars.DataFrame)
        return frame

    def preview(self, limit: int) -> tuple[pyarrow.Table, int]:
        """The first ``limit`` rows and the total row count; the rest is read and counted but
        not kept, so memory stays bounded whatever the result's size."""
        import pyarrow

        kept: list[pyarrow.RecordBatch] = []
        room = limit
        for batch in self.batches():
            if room > 0:
                kept.append(batch.slice(0, room))
                room -= min(room, batch.num_rows)
        return pyarrow.Table.from_batches(kept, schema=self.schema), self.rows

    def close(self) -> None:
        """Stop reading and release the connection; a result closed before its end is
        recorded as cancelled."""
        if self.status != "running":
            return
        if self._stream is not None:
            self._stream.close()
        if self.status == "running":
            self._end("cancelled", f"closed after reading {self.rows:,} rows")

    def __enter__(self) -> QueryResult:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals -----------------------------------------------------------------------

    def _read(self) -> Generator[pyarrow.RecordBatch]:
        try:
            while True:
                with self._control.step():
                    batch = self._next_batch()
                if batch is None:
                    break
                self.rows += batch.num_rows
                yield batch
        except GeneratorExit:
            self._end("cancelled", f"closed after reading {self.rows:,} rows")
            raise
        except BaseException as error:
            failure = self.failure(error)
            if failure is None:  # KeyboardInterrupt, or a bug: let it through as it is
                status: Status = "error" if isinstance(error, Exception) else "cancelled"
                self._end(status, f"{type(error).__name__}: {error}")
                raise
            self._end(status_of(failure), str(failure))
            raise failure from None
        self._end("ok", None)

    def _next_batch(self) -> pyarrow.RecordBatch | None:
        try:
            return self._reader.read_next_batch()
        except StopIteration:
            return None

    def failure(self, error: BaseException) -> AtelierError | None:
        """The user-facing error for ``error``: the stop's, if the query was stopped; None
        for what must go through as it is (KeyboardInterrupt, SystemExit, bugs)."""
        if not isinstance(error, Exception):
            return None
        if self._control.reason is not None:
            return self._control.error()
        return self._error_of(error)

    def _end(self, status: Status, error: str | None) -> None:
        if self.status != "running":
            return
        self.status, self.error = status, error
        self.duration_ms = self._on_end(status, self.rows, error)


def status_of(error: AtelierError) -> Status:
    if isinstance(error, QueryTimeout):
        return "timeout"
    if isinstance(error, QueryCancelled):
        return "cancelled"
    return "error"
