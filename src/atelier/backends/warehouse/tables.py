"""What the lake holds: tables with their columns, row counts and size on disk.

``size_bytes`` counts the Parquet data and delete files of the current version; rows still
inlined in the catalog (DuckLake keeps tiny inserts there) take no file space.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from atelier.backends.warehouse.sql import qualified

if TYPE_CHECKING:
    import duckdb


@dataclass(frozen=True)
class ColumnInfo:
    name: str
    type: str
    nullable: bool


@dataclass(frozen=True)
class TableInfo:
    schema: str
    name: str
    columns: tuple[ColumnInfo, ...]
    row_count: int
    size_bytes: int
    file_count: int


def list_tables(
    connection: duckdb.DuckDBPyConnection,
    alias: str,
    meta: str,
    *,
    schema: str | None = None,
    table: str | None = None,
) -> list[TableInfo]:
    """Tables of lake ``alias`` (``meta``: prefix of its catalog tables), sorted by schema and
    name, optionally only one schema or table."""
    where, params = _where(alias, schema, table)
    names = connection.execute(
        f"SELECT schema_name, table_name FROM duckdb_tables() WHERE {where} ORDER BY ALL",
        params,
    ).fetchall()
    if not names:
        return []
    columns = _columns(connection, where, params)
    files = _file_stats(connection, alias, meta, schema, table)
    result = []
    for s, t in names:
        count = connection.execute(f"SELECT count(*) FROM {qualified(alias, s, t)}").fetchone()
        size, file_count = files.get((s, t), (0, 0))
        result.append(
            TableInfo(
                schema=s,
                name=t,
                columns=tuple(columns.get((s, t), [])),
                row_count=int(count[0]) if count else 0,
                size_bytes=size,
                file_count=file_count,
            )
        )
    return result


def table_columns(
    connection: duckdb.DuckDBPyConnection, alias: str, schema: str, table: str
) -> tuple[ColumnInfo, ...]:
    """The columns of ``schema.table`` in lake ``alias``, none when there is no such table:
    one catalog read, without the row count and file statistics of :func:`list_tables`."""
    where, params = _where(alias, schema, table)
    return tuple(_columns(connection, where, params).get((schema, table), []))


def _where(alias: str, schema: str | None, table: str | None) -> tuple[str, list[str]]:
    """The condition on lake ``alias`` and, where given, the schema and the table of
    ``duckdb_tables()`` or ``duckdb_columns()``; with its parameters."""
    names, values = _names(schema, table, "schema_name", "table_name")
    return "database_name = ?" + names, [alias, *values]


def _names(
    schema: str | None, table: str | None, schema_column: str, table_column: str
) -> tuple[str, list[str]]:
    """`` AND`` conditions on the given schema and table (by the names of their columns in
    the query), and their parameters."""
    where, params = "", []
    for column, value in ((schema_column, schema), (table_column, table)):
        if value is not None:
            where += f" AND {column} = ?"
            params.append(value)
    return where, params


def _columns(
    connection: duckdb.DuckDBPyConnection, where: str, params: list[str]
) -> dict[tuple[str, str], list[ColumnInfo]]:
    columns: dict[tuple[str, str], list[ColumnInfo]] = {}
    # Views have columns too: only tables count.
    for s, t, name, type_, nullable in connection.execute(
        "SELECT schema_name, table_name, column_name, data_type, is_nullable FROM duckdb_columns()"
        f" WHERE {where} AND table_oid IN (SELECT table_oid FROM duckdb_tables())"
        " ORDER BY schema_name, table_name, column_index",
        params,
    ).fetchall():
        columns.setdefault((s, t), []).append(ColumnInfo(name, type_, bool(nullable)))
    return columns


def _file_stats(
    connection: duckdb.DuckDBPyConnection,
    alias: str,
    meta: str,
    schema: str | None,
    table: str | None,
) -> dict[tuple[str, str], tuple[int, int]]:
    names, params = _names(schema, table, "s.schema_name", "t.table_name")
    rows = connection.execute(
        f"""
        SELECT s.schema_name, t.table_name,
               i.file_size_bytes + i.delete_file_size_bytes, i.file_count
        FROM ducklake_table_info(?) i
        JOIN {meta}.ducklake_table t ON t.table_id = i.table_id AND t.end_snapshot IS NULL
        JOIN {meta}.ducklake_schema s ON s.schema_id = t.schema_id AND s.end_snapshot IS NULL
        WHERE true{names}
        """,
        [alias, *params],
    ).fetchall()
    return {(s, t): (int(size or 0), int(n or 0)) for s, t, size, n in rows}
