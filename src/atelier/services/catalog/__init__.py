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

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

#: The names above load on first use: opening a workspace imports only the light
#: :mod:`.credentials` of this package (every CLI command does), not the catalog and sources.
_WHERE = {
    "Catalog": ("atelier.services.catalog.catalog", "Catalog"),
    "TableDetail": ("atelier.services.catalog.catalog", "TableDetail"),
    "TableEntry": ("atelier.services.catalog.catalog", "TableEntry"),
    "Version": ("atelier.services.catalog.catalog", "Version"),
    "SOURCE_TYPES": ("atelier.services.catalog.kinds", "TYPES"),
    "TableRef": ("atelier.services.catalog.names", "TableRef"),
    "parse_table_name": ("atelier.services.catalog.names", "parse_table_name"),
    "SourceInfo": ("atelier.services.catalog.sources", "SourceInfo"),
    "Sources": ("atelier.services.catalog.sources", "Sources"),
    "SourceTable": ("atelier.services.catalog.sources", "SourceTable"),
    "json_safe": ("atelier.services.catalog.values", "json_safe"),
}


def __getattr__(name: str) -> Any:
    found = _WHERE.get(name)
    if found is None:
        raise AttributeError(f"module 'atelier.services.catalog' has no attribute {name!r}")
    value = getattr(importlib.import_module(found[0]), found[1])
    globals()[name] = value
    return value
