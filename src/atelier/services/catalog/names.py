"""Table names as users write them: ``schema.table`` in the lake, ``source.schema.table`` in an
attached source (``table`` alone means ``main.table``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from atelier.backends.warehouse.sql import qualified
from atelier.errors import InvalidInput


@dataclass(frozen=True)
class TableRef:
    """Where a table lives: ``source`` is None for the lake."""

    schema: str
    table: str
    source: str | None = None

    @property
    def name(self) -> str:
        """The dotted name shown to users and used in URLs."""
        parts = (self.source, self.schema, self.table) if self.source else (self.schema, self.table)
        return ".".join(parts)

    @property
    def is_source(self) -> bool:
        return self.source is not None

    def sql(self, lake_alias: str, *, version: int | None = None) -> str:
        """The quoted reference to use in a query on a connection that has the table."""
        at = "" if version is None else f" AT (VERSION => {int(version)})"
        return qualified(self.source or lake_alias, self.schema, self.table) + at


def parse_table_name(name: str, is_source: Callable[[str], bool]) -> TableRef:
    """Split ``name``; three or more parts whose first names a registered source are a source
    table (dots after the schema belong to the table name, as file views may have them)."""
    text = (name or "").strip()
    parts = text.split(".")
    if not text or any(not part for part in parts):
        raise InvalidInput(
            f"table name {name!r} is not valid: write schema.table (a warehouse table) or "
            "source.schema.table (a table of an attached source)"
        )
    if len(parts) >= 3 and is_source(parts[0]):
        return TableRef(parts[1], ".".join(parts[2:]), source=parts[0])
    if len(parts) == 1:
        return TableRef("main", parts[0])
    return TableRef(parts[0], ".".join(parts[1:]))
