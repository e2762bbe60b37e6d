"""What the SQL editor completes and its schema browser shows: schemas, their tables and the
tables' columns with types, as the catalog lists them.

Warehouse tables sit under their schema (``bank`` → ``customers``); a source's tables under
``source.schema``, the prefix a statement names them with. Entries that are not tables a
statement can read (feature views) and sources that could not be reached are left out.
Column names are not personal data: masking changes values, never names, so every column is
listed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from atelier.services.catalog.catalog import TableEntry


class Listing(Protocol):
    """What is needed of :class:`atelier.services.catalog.Catalog`."""

    def list(self, search: str | None = None) -> list[TableEntry]: ...


@dataclass(frozen=True)
class SchemaTable:
    name: str
    kind: str
    columns: tuple[tuple[str, str], ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "columns": [{"name": n, "type": t} for n, t in self.columns],
        }


@dataclass(frozen=True)
class Schema:
    name: str
    tables: tuple[SchemaTable, ...]

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "tables": [t.as_dict() for t in self.tables]}


def schema_tree(catalog: Listing) -> list[Schema]:
    """Every readable table of ``catalog`` grouped by schema, schemas and tables by name."""
    return group(catalog.list())


def group(entries: Iterable[TableEntry]) -> list[Schema]:
    schemas: dict[str, list[SchemaTable]] = {}
    for entry in entries:
        if entry.kind not in ("table", "source") or entry.error is not None:
            continue
        schema, _, table = entry.name.rpartition(".")
        if not schema:
            continue
        columns = tuple((c.name, c.type) for c in entry.columns)
        schemas.setdefault(schema, []).append(SchemaTable(table, entry.kind, columns))
    return [
        Schema(name, tuple(sorted(tables, key=lambda t: t.name)))
        for name, tables in sorted(schemas.items())
    ]
