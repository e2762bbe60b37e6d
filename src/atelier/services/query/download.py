"""Query results as files: CSV or Parquet, encoded batch by batch as the rows come.

A download is a query like any other (the same checks, timeout, history and masking plan) and
one audit entry, ``sql.download``, written once the query has started and before any row is
encoded. The encoders hand out bytes as they are written, so a result larger than memory can
be streamed to an HTTP client or written to a file without being held whole.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from atelier.contract import DOWNLOAD_FORMATS
from atelier.errors import InvalidInput
from atelier.services.catalog import access

if TYPE_CHECKING:
    import pyarrow

    from atelier.services.auth import AuditLog, Principal
    from atelier.services.query.result import QueryResult
    from atelier.services.query.service import QueryService


class Encoder(Protocol):
    """Turns a result's batches into a file's bytes, piece by piece."""

    def batch(self, batch: pyarrow.RecordBatch) -> bytes: ...

    def end(self) -> bytes: ...


def check_format(fmt: str) -> str:
    if fmt not in DOWNLOAD_FORMATS:
        raise InvalidInput(
            f"unknown download format {fmt!r}: choose {' or '.join(sorted(DOWNLOAD_FORMATS))}"
        )
    return fmt


class _Chunks:
    """The file-like sink the pyarrow writers write to: what they wrote, taken as bytes."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self._position = 0
        self.closed = False

    def write(self, data: Any) -> int:
        chunk = bytes(data)
        self._parts.append(chunk)
        self._position += len(chunk)
        return len(chunk)

    def tell(self) -> int:
        return self._position

    def flush(self) -> None:
        pass

    def take(self) -> bytes:
        data = b"".join(self._parts)
        self._parts.clear()
        return data


class CsvEncoder:
    """RFC 4180 CSV with a header row (pyarrow's writer: strings quoted, NULL as empty)."""

    def __init__(self, schema: pyarrow.Schema) -> None:
        import pyarrow
        import pyarrow.csv

        nested = [f.name for f in schema if pyarrow.types.is_nested(f.type)]
        if nested:
            raise InvalidInput(
                f"CSV cannot hold the nested column(s) {', '.join(nested)}: choose Parquet, "
                "or cast them to VARCHAR in the query"
            )
        self._sink = _Chunks()
        self._writer = pyarrow.csv.CSVWriter(self._sink, schema)

    def batch(self, batch: pyarrow.RecordBatch) -> bytes:
        self._writer.write_batch(batch)
        return self._sink.take()

    def end(self) -> bytes:
        self._writer.close()
        return self._sink.take()


class ParquetEncoder:
    """A Parquet file, one row group per batch; valid only once :meth:`end` wrote its footer,
    so a download cut short is never a readable file with rows missing."""

    def __init__(self, schema: pyarrow.Schema) -> None:
        import pyarrow.parquet

        self._sink = _Chunks()
        self._writer = pyarrow.parquet.ParquetWriter(self._sink, schema)

    def batch(self, batch: pyarrow.RecordBatch) -> bytes:
        if batch.num_rows:
            self._writer.write_batch(batch)
        return self._sink.take()

    def end(self) -> bytes:
        self._writer.close()
        return self._sink.take()


def encoder(fmt: str, schema: pyarrow.Schema) -> Encoder:
    """The encoder of ``fmt`` (``csv`` or ``parquet``); InvalidInput for what ``fmt`` cannot
    hold."""
    return CsvEncoder(schema) if check_format(fmt) == "csv" else ParquetEncoder(schema)


@dataclass
class Download:
    """A started download: the query's result and the encoder of its file."""

    result: QueryResult
    encoder: Encoder
    format: str

    @property
    def media_type(self) -> str:
        return DOWNLOAD_FORMATS[self.format]

    @property
    def filename(self) -> str:
        return f"query-{self.result.query_id}.{self.format}"

    def chunks(self) -> Any:
        """The file's bytes, piece by piece (a generator); raises the query's error if it
        fails while rows are read."""
        for batch in self.result.batches():
            chunk = self.encoder.batch(batch)
            if chunk:
                yield chunk
        yield self.encoder.end()

    def close(self) -> None:
        self.result.close()


def start_download(
    query: QueryService,
    audit: AuditLog,
    sql: str,
    fmt: str,
    *,
    principal: Principal,
    remote: bool,
    timeout: float | None = None,
    client: str | None = None,
) -> Download:
    """Start ``sql`` for ``principal`` as a ``fmt`` file. ``remote``: the file leaves the
    server (every HTTP download), so tagged columns are raw only with an export grant.

    The format is checked before the query runs, and what it cannot hold (nested columns in
    CSV) before any row is read; the audit entry is written once the query has started."""
    check_format(fmt)
    # Code tokens need the owner's data work (notebooks, jobs); an app's read-only one does not
    # download. Then the query's own checks (who may run SQL).
    access.check(principal, access.BUILDERS, "download query results", ("data",))
    result = query.run(sql, principal=principal, timeout=timeout, remote=remote, client=client)
    try:
        found = encoder(fmt, result.schema)
        detail = {"format": fmt, "remote": remote}
        access.record(audit, "sql.download", principal, str(result.query_id), client, detail)
    except BaseException:
        result.close()
        raise
    return Download(result, found, fmt)
