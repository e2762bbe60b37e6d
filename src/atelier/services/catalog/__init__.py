"""The data catalog and attached sources.

::

    wb.sources.add("crm", "postgres", options={"host": "db", "database": "crm", "user": "ro"},
                   secrets={"password": "…"}, by="ada")      # tested first, secrets stored apart
    wb.catalog.list(search="customer")                       # lake + source tables
    wb.catalog.describe("bank.customers")                    # columns, rows, versions, sample
    wb.catalog.update("bank.customers", tags=["pii"], by="ada")

* :class:`Sources` registers read-only sources (PostgreSQL, MySQL/MariaDB, SQLite, Parquet/CSV
  files, S3) and builds the attachments that make ``source.schema.table`` queryable;
* :class:`Catalog` lists, searches, describes and annotates warehouse and source tables.
"""

from atelier.services.catalog.catalog import Catalog, TableDetail, TableEntry, Version
from atelier.services.catalog.kinds import TYPES as SOURCE_TYPES
from atelier.services.catalog.names import TableRef, parse_table_name
from atelier.services.catalog.sources import SourceInfo, Sources, SourceTable
from atelier.services.catalog.values import json_safe

__all__ = [
    "SOURCE_TYPES",
    "Catalog",
    "SourceInfo",
    "SourceTable",
    "Sources",
    "TableDetail",
    "TableEntry",
    "TableRef",
    "Version",
    "json_safe",
    "parse_table_name",
]
