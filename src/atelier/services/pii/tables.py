"""Classifying a warehouse table by name: DuckDB draws the sample, ``classify`` reads it.

The sample is a reservoir sample with a fixed seed (``USING SAMPLE reservoir(n ROWS)
REPEATABLE``): uniform over the whole table and the same each time, read on the server, so only
the sampled rows are turned into Python values. This is the piece that uploads, attached
sources and the demo will call to tag columns; it is not an entry point itself (it checks no
role: the callers do, as for every service).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

from atelier.backends.warehouse.sql import qualified
from atelier.errors import InvalidInput, NotFound
from atelier.services.pii.classify import SAMPLE_ROWS, THRESHOLD, classify
from atelier.services.pii.kinds import ColumnFinding

if TYPE_CHECKING:
    from atelier.backends.warehouse import Warehouse


class HasWarehouse(Protocol):
    """What the classifier needs of the workbench."""

    @property
    def warehouse(self) -> Warehouse: ...


class PiiClassifier:
    """Findings for the columns of warehouse tables."""

    def __init__(self, workbench: HasWarehouse) -> None:
        self.warehouse = workbench.warehouse

    def classify_table(
        self, name: str, *, sample_rows: int = SAMPLE_ROWS, threshold: float = THRESHOLD
    ) -> list[ColumnFinding]:
        """The findings for ``schema.table`` (``table`` alone is in ``main``)."""
        import duckdb

        schema, table = _split(name)
        if isinstance(sample_rows, bool) or not isinstance(sample_rows, int) or sample_rows < 1:
            raise InvalidInput(
                f"sample_rows must be a positive number of rows, got {sample_rows!r}"
            )
        sql = (
            f"SELECT * FROM {qualified(self.warehouse.alias, schema, table)} "
            f"USING SAMPLE reservoir({sample_rows} ROWS) REPEATABLE (42)"
        )
        with self.warehouse.connect() as connection:
            try:
                sample = connection.execute(sql).to_arrow_table()
            except duckdb.CatalogException:
                raise NotFound(f"no table {name} (see `atelier data list`)") from None
        return classify(sample, sample_rows=sample_rows, threshold=threshold)


def classify_relation(
    connection: Any,
    relation: str,
    names: Sequence[str] | None = None,
    *,
    sample_rows: int = SAMPLE_ROWS,
    threshold: float = THRESHOLD,
    first_rows: bool = False,
) -> list[ColumnFinding]:
    """The findings for the columns ``names`` (all when None) of ``relation`` (quoted SQL of
    a table) on a DuckDB ``connection``: a repeatable reservoir sample of ``sample_rows``
    rows, or with ``first_rows`` its first rows (for attached sources: no full scan of a
    remote table)."""
    if isinstance(sample_rows, bool) or not isinstance(sample_rows, int) or sample_rows < 1:
        raise InvalidInput(f"sample_rows must be a positive number of rows, got {sample_rows!r}")
    how = (
        f"LIMIT {sample_rows}"
        if first_rows
        else f"USING SAMPLE reservoir({sample_rows} ROWS) REPEATABLE (42)"
    )
    sample = connection.execute(f"SELECT * FROM {relation} {how}").to_arrow_table()
    wanted = None if names is None else [n for n in names if n in sample.column_names]
    if wanted == []:
        return []
    return classify(sample, wanted, sample_rows=sample_rows, threshold=threshold)


def _split(name: str) -> tuple[str, str]:
    parts = (name or "").strip().split(".")
    if not 1 <= len(parts) <= 2 or not all(parts):
        raise InvalidInput(f"table name {name!r} is not valid: write schema.table")
    return ("main", parts[0]) if len(parts) == 1 else (parts[0], parts[1])
