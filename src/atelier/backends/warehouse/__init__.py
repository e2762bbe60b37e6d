"""Warehouse backend: DuckDB with DuckLake, the shared, versioned tables of a workspace.

::

    wh = Warehouse("workspace/lake.sqlite", "workspace/lake")    # or postgresql://…/dbname
    wh.run_write(lambda c: c.execute("CREATE TABLE t AS SELECT 42 AS x"), author="ada")
    with wh.user_connection() as con:                            # restricted, for user SQL
        con.execute("SELECT * FROM t AT (VERSION => 1)").to_arrow_table()
    wh.snapshots("t"); wh.tables()

* ``connect()`` — trusted connection for the server's own work;
* ``user_connection()`` — read-only lake and sources, no file access outside the lake, no
  ATTACH/INSTALL/LOAD/COPY/SET, each statement checked (see :mod:`.guard`);
* ``run_write()`` — one snapshot per call, retried with backoff when writers collide;
* extensions are loaded from the ``duckdb-extension-*`` wheels; nothing is downloaded.

DuckDB is imported only inside functions, so importing this package is cheap.
"""

from atelier.backends.warehouse.errors import (
    ExtensionNotInstalled,
    QueryRefused,
    SourceError,
    WarehouseError,
)
from atelier.backends.warehouse.history import Snapshot
from atelier.backends.warehouse.lake import Warehouse
from atelier.backends.warehouse.restricted import UserConnection
from atelier.backends.warehouse.retry import RetryPolicy
from atelier.backends.warehouse.sources import Attachment, SourceSpec, attachment
from atelier.backends.warehouse.tables import ColumnInfo, TableInfo

__all__ = [
    "Attachment",
    "ColumnInfo",
    "ExtensionNotInstalled",
    "QueryRefused",
    "RetryPolicy",
    "Snapshot",
    "SourceError",
    "SourceSpec",
    "TableInfo",
    "UserConnection",
    "Warehouse",
    "WarehouseError",
    "attachment",
]
