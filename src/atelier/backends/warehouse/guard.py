"""The check user SQL passes before it runs: queries only, and no function that escapes DuckDB.

``enable_external_access=false`` is not enough on its own in DuckDB 1.5.5:

* DuckLake must read its Parquet files, so the data folder is in ``allowed_directories`` — and
  that also lets ``COPY … TO`` (even inside ``EXPLAIN ANALYZE``) overwrite those files;
* the scanner extensions do not consult the setting: ``sqlite_scan('/any/file.db', …)`` reads
  any SQLite file, ``postgres_query``/``postgres_attach``/``postgres_scan`` reach any server
  (including the catalog's PostgreSQL, with the server's role), ``mysql_query`` likewise.

So only SELECT-shaped statements (SELECT, FROM, WITH, VALUES, SHOW, DESCRIBE, SUMMARIZE,
EXPLAIN [ANALYZE] of those) run, and their parse tree must not call a denied function.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from atelier.backends.warehouse.errors import QueryRefused

if TYPE_CHECKING:
    import duckdb

# Reach other databases or files behind DuckDB's sandbox, or run SQL given as a string.
DENIED_PREFIXES = ("postgres_", "mysql_", "sqlite_")
DENIED_FUNCTIONS = frozenset(
    {
        "query",
        "query_table",
        "json_execute_serialized_sql",
        "read_postgres_binary",
        "pg_clear_cache",
    }
)
# DuckLake maintenance writes or deletes files even through a read-only attachment.
DUCKLAKE_MAINTENANCE = frozenset(
    {
        "add_data_files",
        "cleanup_old_files",
        "commit",
        "delete_orphaned_files",
        "expire_snapshots",
        "flush_inlined_data",
        "merge_adjacent_files",
        "rewrite_data_files",
        "set_commit_message",
        "set_option",
    }
)

_EXPLAIN = re.compile(
    r"^\s*(?:(?:--[^\n]*(?:\n|$)|/\*.*?\*/)\s*)*explain\s+(?:analy[sz]e\s+)?", re.I | re.S
)


def is_denied(function_name: str) -> bool:
    """Whether user SQL may not call ``function_name``."""
    name = function_name.lower()
    bare = name.removeprefix("ducklake_")
    return (
        name.startswith(DENIED_PREFIXES)
        or name in DENIED_FUNCTIONS
        or (bare in DUCKLAKE_MAINTENANCE)
    )


def check_user_sql(connection: duckdb.DuckDBPyConnection, sql: str) -> None:
    """Raise :class:`QueryRefused` unless every statement in ``sql`` is an allowed query.

    Syntax errors are left to DuckDB, whose message points at the line and column.
    """
    import duckdb

    for statement in duckdb.extract_statements(sql):
        text = statement.query
        if statement.type == duckdb.StatementType.EXPLAIN:
            match = _EXPLAIN.match(text)
            if match is None:
                raise QueryRefused("only EXPLAIN or EXPLAIN ANALYZE of a query may run here")
            text = text[match.end() :]
        elif statement.type != duckdb.StatementType.SELECT:
            raise QueryRefused(
                f"{statement.type.name} statements may not run here: user SQL is read-only "
                "queries (SELECT, WITH, SHOW, DESCRIBE, SUMMARIZE, EXPLAIN)"
            )
        for name in _function_names(_parse_tree(connection, text)):
            if is_denied(name):
                raise QueryRefused(f"the function {name}() is not available in user SQL")


def _parse_tree(connection: duckdb.DuckDBPyConnection, text: str) -> Any:
    row = connection.execute("SELECT json_serialize_sql(?::VARCHAR)", [text]).fetchone()
    tree = json.loads(row[0]) if row else {"error": True}
    if tree.get("error"):
        # Fail closed: what cannot be inspected does not run.
        raise QueryRefused(f"only queries may run here ({tree.get('error_message', 'unparsed')})")
    return tree


def _function_names(node: Any) -> Iterator[str]:
    """Every scalar, aggregate, window and table function named anywhere in a parse tree."""
    if isinstance(node, dict):
        name = node.get("function_name")
        if isinstance(name, str):
            yield name
        for value in node.values():
            yield from _function_names(value)
    elif isinstance(node, list):
        for item in node:
            yield from _function_names(item)
