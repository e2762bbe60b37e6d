"""Data on the wire: the catalog's tables, their versions and profiles, uploads and SQL.

The API's ``/tables``, ``/uploads`` and ``/sql`` routes declare these as their bodies and
responses; the remote SDK client parses its answers with them. Query rows themselves travel as
an Arrow IPC stream (:data:`atelier.contract.ARROW_STREAM`), not as these models.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from atelier.contract.pii import TablePii


class TableColumn(BaseModel):
    name: str
    type: str
    nullable: bool = True


class TableEntry(BaseModel):
    """One line of the catalog: a warehouse table, a source table or a feature view. ``rows``
    and ``size_bytes`` are None where unknown; ``error`` is set for a source that could not be
    reached."""

    name: str
    kind: str = Field(description="table, source or feature view")
    rows: int | None = None
    size_bytes: int | None = None
    owner: str | None = None
    description: str = ""
    tags: list[str] = []
    columns: list[TableColumn] = []
    source: str | None = None
    error: str | None = None
    upstream: list[str] = []
    freshness: dict[str, str | None] | None = None
    link: str | None = None


class TableVersion(BaseModel):
    """One snapshot that created or changed a warehouse table: ``number`` is the table's own
    version (1, 2, 3, ...), ``version`` the lake-wide snapshot id that time travel takes."""

    version: int
    number: int | None = None
    time: str
    author: str | None = None
    message: str | None = None
    rows_inserted: int = 0
    rows_deleted: int = 0
    rows_updated: int = 0


class TableSample(BaseModel):
    columns: list[str] = []
    rows: list[list[Any]] = []


class TableDetail(TableEntry):
    """A table with its versions and a few sample rows."""

    versions: list[TableVersion] = []
    sample: TableSample = TableSample()
    #: The columns' personal-data tags (see :mod:`atelier.contract.pii`).
    pii: TablePii | None = None


class TableChange(BaseModel):
    """``PATCH /tables/{name}``: a new description and/or the whole list of tags."""

    model_config = ConfigDict(extra="forbid")
    description: str | None = Field(default=None, max_length=10_000)
    tags: list[str] | None = None


class HistogramBin(BaseModel):
    low: Any = None
    high: Any = None
    count: int


class TopValue(BaseModel):
    value: Any = None
    count: int | None = None


class ColumnProfile(BaseModel):
    """One column's statistics: ``distinct`` is exact when ``distinct_exact``; quantiles are
    approximate; ``top_values`` counts are None when only the values are known."""

    name: str
    type: str
    kind: str
    count: int
    nulls: int
    null_fraction: float
    distinct: int | None = None
    distinct_exact: bool
    min: Any = None
    max: Any = None
    mean: Any = None
    std: Any = None
    quantiles: dict[str, Any] = {}
    top_values: list[TopValue] = []
    top_exact: bool
    histogram: list[HistogramBin] = []
    note: str | None = None


class TableProfile(BaseModel):
    """A table's profile, as it is now or at ``version``."""

    table: str
    version: int | None = None
    rows: int
    columns: list[ColumnProfile] = []


class UploadedColumn(BaseModel):
    name: str
    type: str


class UploadResult(BaseModel):
    """``POST /uploads``: the table, the version the upload made and the rows it wrote:
    ``table_version`` is the table's own version number (1 for a new table), ``version`` the
    lake-wide snapshot id."""

    table: str
    version: int
    table_version: int | None = None
    rows: int
    mode: str
    columns: list[UploadedColumn] = []
    #: Ragged rows left out, with ``ragged = "skip"``.
    skipped: int = 0


class SqlRequest(BaseModel):
    """``POST /sql``: one statement."""

    model_config = ConfigDict(extra="forbid")
    sql: str = Field(max_length=1_000_000)
    #: Seconds; may shorten the server's query.timeout_seconds, never lengthen it.
    timeout: float | None = Field(default=None, gt=0)


class SqlDownload(BaseModel):
    """What ``ws.sql_download()`` wrote: a query's result as a CSV or Parquet file (the API
    streams the file itself, ``POST /sql/download?format=``)."""

    path: str
    format: str = Field(description="csv or parquet")
    query_id: int
    rows: int | None = None
    size_bytes: int


class QueryInfo(BaseModel):
    """One query of the history."""

    query_id: int
    user: str
    sql: str
    started_at: str
    status: str = Field(description="running, ok, error, cancelled or timeout")
    duration_ms: float | None = None
    rows: int | None = None
    error: str | None = None


class QueryCancel(BaseModel):
    """``POST /sql/{query_id}/cancel``."""

    query_id: int
    status: str
