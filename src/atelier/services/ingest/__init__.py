"""Ingest: bring your own data. Files (CSV, TSV, Parquet, JSON/NDJSON, Excel, Arrow IPC) and
DataFrames (pandas, polars, Arrow) become versioned warehouse tables.

::

    ingest = workbench.ingest
    preview = ingest.detect(Path("sales.csv"))                  # options, columns, first rows
    result = ingest.upload(Path("sales.csv"), "sales", by="ada",
                           options={"types": {"amount": "DECIMAL(18,2)"}})
    result.version                                              # the DuckLake snapshot
    ingest.upload(df, "sales", mode="append", by="ada")         # pandas / polars / Arrow

* formats by extension (content for files without one); CSV delimiter, quote, header and
  types from DuckDB's sniffer; encodings UTF-8, UTF-16 and Latin-1 read directly, any other
  transcoded in a streaming pass;
* files larger than memory stream through DuckDB (which spills to disk);
* bad input is an :class:`~atelier.errors.InvalidInput` naming file, line and column;
* an upload is staged first and committed as one snapshot: a failed upload leaves no table,
  or the previous version intact;
* the schema is chosen at upload (``main``, the person's ``user_<name>``, a project's schema)
  and checked against who writes (:mod:`atelier.services.ingest.schemas`).
"""

from atelier.services.ingest.inbox import Inbox, Received
from atelier.services.ingest.ingest import Ingest
from atelier.services.ingest.options import COMMON_TYPES, MODES, Options, TableName
from atelier.services.ingest.results import Column, Preview, Progress, UploadResult
from atelier.services.ingest.schemas import SchemaChoice, project_schema, user_schema

__all__ = [
    "COMMON_TYPES",
    "MODES",
    "Column",
    "Inbox",
    "Ingest",
    "Options",
    "Preview",
    "Progress",
    "Received",
    "SchemaChoice",
    "TableName",
    "UploadResult",
    "project_schema",
    "user_schema",
]
