"""A table's versions: every DuckLake snapshot that touched it, with who, when and how many rows.

A snapshot's ``changes`` name tables by id (``tables_inserted_into: ['3']``) except for
creations, which name them by qualified name; so the table's id and first snapshot come from
the DuckLake catalog tables, and row counts from ``ducklake_table_changes``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from atelier.backends.warehouse.sql import literal
from atelier.errors import NotFound

if TYPE_CHECKING:
    import duckdb


@dataclass(frozen=True)
class Snapshot:
    """One version of a table."""

    snapshot_id: int
    time: datetime
    author: str | None
    message: str | None
    extra_info: str | None
    rows_inserted: int = 0
    rows_deleted: int = 0
    rows_updated: int = 0
    changes: dict[str, list[str]] = field(default_factory=dict)


def table_identity(
    connection: duckdb.DuckDBPyConnection, meta: str, schema: str, table: str
) -> tuple[int, int]:
    """``(table_id, first snapshot id)`` of the live table ``schema.table``; ``meta`` is the
    qualified prefix of DuckLake's catalog tables."""
    row = connection.execute(
        f"""
        SELECT t.table_id,
               (SELECT min(h.begin_snapshot) FROM {meta}.ducklake_table h
                WHERE h.table_id = t.table_id)
        FROM {meta}.ducklake_table t JOIN {meta}.ducklake_schema s USING (schema_id)
        WHERE t.end_snapshot IS NULL AND s.end_snapshot IS NULL
          AND s.schema_name = {literal(schema)} AND t.table_name = {literal(table)}
        """
    ).fetchone()
    if row is None:
        raise NotFound(f"no table {schema}.{table} in the warehouse")
    return int(row[0]), int(row[1])


def table_snapshots(
    connection: duckdb.DuckDBPyConnection,
    alias: str,
    meta: str,
    schema: str,
    table: str,
    *,
    with_counts: bool = True,
) -> list[Snapshot]:
    """The snapshots that created or changed ``schema.table`` of lake ``alias``, oldest first;
    without ``with_counts`` the row counts stay 0 (they read the table's changes: slower)."""
    table_id, first = table_identity(connection, meta, schema, table)
    # Cast in SQL: turning TIMESTAMPTZ into Python objects needs pytz, which may be missing.
    # Literals, not bound parameters: DuckDB's first bound parameter in a process imports
    # pandas, and an upload from a file reads the versions.
    rows = connection.execute(
        f"""
        SELECT snapshot_id, timezone('UTC', snapshot_time), author, commit_message,
               commit_extra_info, changes
        FROM ducklake_snapshots({literal(alias)}) WHERE snapshot_id >= {int(first)}
        ORDER BY snapshot_id
        """
    ).fetchall()
    if not rows:
        return []
    counts: Counter[tuple[int, str]] = Counter()
    if with_counts:
        counts = _row_counts(connection, alias, schema, table, first, int(rows[-1][0]))
    key = str(table_id)
    snapshots = []
    for snapshot_id, time, author, message, extra, changes in rows:
        changes = {str(k): [str(v) for v in values] for k, values in (changes or {}).items()}
        # "*_created" entries hold names, all others hold ids (shared by schemas and tables).
        touched = any(
            key in values for kind, values in changes.items() if not kind.endswith("_created")
        )
        if snapshot_id != first and not touched:
            continue
        snapshots.append(
            Snapshot(
                snapshot_id=int(snapshot_id),
                time=time.replace(tzinfo=UTC),
                author=author,
                message=message,
                extra_info=extra,
                rows_inserted=counts[snapshot_id, "insert"],
                rows_deleted=counts[snapshot_id, "delete"],
                rows_updated=counts[snapshot_id, "update_postimage"],
                changes=changes,
            )
        )
    return snapshots


def _row_counts(
    connection: duckdb.DuckDBPyConnection,
    alias: str,
    schema: str,
    table: str,
    first: int,
    last: int,
) -> Counter[tuple[int, str]]:
    rows = connection.execute(
        f"""
        SELECT snapshot_id, change_type, count(*)
        FROM ducklake_table_changes({literal(alias)}, {literal(schema)}, {literal(table)},
                                    {int(first)}, {int(last)}) GROUP BY ALL
        """
    ).fetchall()
    return Counter({(int(s), str(kind)): int(n) for s, kind, n in rows})
