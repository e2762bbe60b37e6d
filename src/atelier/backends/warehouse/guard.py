"""The check user SQL passes before it runs: queries only, and nothing that reaches files.

``enable_external_access=false`` is not enough on its own in DuckDB 1.5.5:

* DuckLake must read its Parquet files, so the data folder is in ``allowed_directories``, and
  DuckDB adds the catalog file (with its WAL) to ``allowed_paths`` and its temp directory to
  ``allowed_directories`` by itself: ``read_blob``/``read_text``/``glob``/``FROM 'path'`` would
  read them, and ``COPY … TO`` (even inside ``EXPLAIN ANALYZE``) would overwrite lake files;
* the scanner extensions do not consult the setting: ``sqlite_scan('/any/file.db', …)`` reads
  any SQLite file, ``postgres_query``/``postgres_attach``/``postgres_scan`` reach any server
  (including the catalog's PostgreSQL, with the server's role), ``mysql_query`` likewise.

So each statement (split with DuckDB's own tokenizer, typed by DuckDB's own parser) must be
SELECT-shaped (SELECT, FROM, WITH, VALUES, PIVOT, SHOW, DESCRIBE, SUMMARIZE, EXPLAIN [ANALYZE]
of those), and its parse tree may name tables, not files: table functions come from an
allowlist (``read_*``, ``glob``, ``sniff_csv``, ``parquet_*``, ``pragma_*`` and whatever a new
DuckDB adds are refused), scalar functions that escape DuckDB are denied, and a table named like
a path (``FROM '/x/y.csv'``, a replacement scan) is refused. A refusal names the statement as
the user wrote it (``INSTALL``, ``PRAGMA``, ``RESET``), not DuckDB's internal statement type.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from atelier.backends.warehouse.errors import QueryRefused

if TYPE_CHECKING:
    import duckdb

# Reach other databases or files behind DuckDB's sandbox, or run SQL given as a string.
DENIED_PREFIXES = ("postgres_", "mysql_", "sqlite_", "pragma_")
DENIED_FUNCTIONS = frozenset(
    {
        "query",
        "query_table",
        "json_execute_serialized_sql",
        "read_postgres_binary",
        "pg_clear_cache",
        # Policy values (derived from the pseudonym key) are held in variables: see .masking.
        "getvariable",
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
#: The table functions user SQL may call: generators, the catalog's own descriptions and
#: DuckLake's history. Everything else (file readers, ``pragma_*``, settings and paths of the
#: server, functions a future DuckDB adds) is refused.
ALLOWED_TABLE_FUNCTIONS = frozenset(
    {
        "range",
        "generate_series",
        "unnest",
        "repeat",
        "repeat_row",
        "json_each",
        "json_tree",
        "summary",
        "icu_calendar_names",
        "pg_timezone_names",
        "duckdb_columns",
        "duckdb_constraints",
        "duckdb_dependencies",
        "duckdb_functions",
        "duckdb_indexes",
        "duckdb_keywords",
        "duckdb_schemas",
        "duckdb_sequences",
        "duckdb_tables",
        "duckdb_types",
        "duckdb_views",
        "ducklake_snapshots",
        "ducklake_table_info",
        "ducklake_table_changes",
        "ducklake_table_insertions",
        "ducklake_table_deletions",
        "ducklake_current_snapshot",
        "ducklake_last_committed_snapshot",
        # The same, called through the lake: lake.snapshots(), lake.table_info().
        "snapshots",
        "table_info",
        "table_changes",
        "table_insertions",
        "table_deletions",
        "current_snapshot",
        "last_committed_snapshot",
    }
)
# What a replacement scan reads a file by: a separator, a URL scheme, a home, a glob.
_PATH_MARKS = re.compile(r"[/\\:~*?\[{]")
# A file name's extension (``x.csv``, ``y.parquet.gz``): DuckDB scans such names as files.
_FILE_SUFFIX = re.compile(r"\.[A-Za-z][A-Za-z0-9]*$")
_ALLOWED_TYPES = ("SELECT", "EXPLAIN")
_WHAT_RUNS = (
    "user SQL is read-only queries (SELECT, WITH, PIVOT, SHOW, DESCRIBE, SUMMARIZE, EXPLAIN)"
)


@dataclass(frozen=True)
class Statement:
    """One statement of the user's text: its words as written, and DuckDB's own statements
    for it (a PIVOT without ``IN`` is two: the type of its values, then the query)."""

    text: str
    verb: str
    tokens: tuple[tuple[str, str], ...]


def is_denied(function_name: str) -> bool:
    """Whether user SQL may not call the scalar or aggregate function ``function_name``."""
    name = function_name.lower()
    bare = name.removeprefix("ducklake_")
    return (
        name.startswith(DENIED_PREFIXES)
        or name in DENIED_FUNCTIONS
        or (bare in DUCKLAKE_MAINTENANCE)
    )


def is_allowed_table_function(function_name: str) -> bool:
    """Whether user SQL may call the table function ``function_name``."""
    return function_name.lower() in ALLOWED_TABLE_FUNCTIONS


def split_statements(sql: str) -> list[Statement]:
    """The statements of ``sql`` as the user wrote them, split at ``;`` by DuckDB's tokenizer
    (so a ``;`` in a string, a comment or ``$$…$$`` does not split)."""
    import duckdb

    tokens = duckdb.tokenize(sql)
    statements: list[Statement] = []
    current: list[tuple[str, str]] = []
    start: int | None = None
    for index, (position, kind) in enumerate(tokens):
        end = tokens[index + 1][0] if index + 1 < len(tokens) else len(sql)
        text = sql[position:end].strip()
        if kind == duckdb.token_type.operator and text.startswith(";"):
            if start is not None:
                statements.append(_statement(sql[start:position], current))
            current, start = [], None
            continue
        if start is None:
            start = position
        current.append((kind.name, text))
    if start is not None:
        statements.append(_statement(sql[start:], current))
    return statements


def _statement(text: str, tokens: list[tuple[str, str]]) -> Statement:
    words = [value.upper() for kind, value in tokens[:2] if kind == "keyword"]
    verb = words[0] if words else ""
    if verb == "FORCE" and len(words) > 1:
        verb = f"FORCE {words[1]}"
    return Statement(text.strip(), verb, tuple(tokens))


def check_user_sql(connection: duckdb.DuckDBPyConnection, sql: str) -> None:
    """Raise :class:`QueryRefused` unless every statement in ``sql`` is an allowed query.

    Syntax errors are left to DuckDB, whose message points at the line and column.
    """
    for statement in split_statements(sql):
        _check_statement(connection, statement)


def _check_statement(connection: duckdb.DuckDBPyConnection, statement: Statement) -> None:
    parsed = connection.extract_statements(statement.text)
    if statement.verb == "PRAGMA":
        # DuckDB turns some PRAGMAs into a SELECT from pragma_<name>(): refused by its name.
        raise _refused("PRAGMA")
    types = [s.type.name for s in parsed]
    if types == ["EXPLAIN"]:
        _check_explained(connection, statement)
        return
    if _is_pivot_without_values(statement, parsed):
        _check_tokens(connection, statement)
        return
    if len(types) != 1 or types[0] not in _ALLOWED_TYPES or types[0] == "EXPLAIN":
        kind = types[-1] if types else "empty"
        raise _refused(_name(statement, kind))
    _check_tree(connection, _parse_tree(connection, parsed[0].query))


def _name(statement: Statement, kind: str) -> str:
    """The statement as the user knows it: its first word (INSTALL, RESET, USE, CHECKPOINT),
    unless that word says nothing of what it does (WITH … DELETE, a parenthesis)."""
    if statement.verb and statement.verb not in ("WITH", "EXPLAIN", "ANALYZE", "ANALYSE"):
        return statement.verb
    return kind.replace("_", " ")


def _refused(name: str) -> QueryRefused:
    return QueryRefused(f"{name} statements may not run here: {_WHAT_RUNS}")


_EXPLAIN = re.compile(r"^explain\s+(?:\(.*?\)\s*|analy[sz]e\s+)?", re.I | re.S)


def _check_explained(connection: duckdb.DuckDBPyConnection, statement: Statement) -> None:
    """``EXPLAIN [ANALYZE] x`` is checked as ``x`` (EXPLAIN ANALYZE runs it)."""
    match = _EXPLAIN.match(statement.text)
    rest = statement.text[match.end() :] if match else ""
    inner = split_statements(rest)
    if len(inner) != 1 or inner[0].verb == "EXPLAIN":
        raise QueryRefused("only EXPLAIN or EXPLAIN ANALYZE of one query may run here")
    _check_statement(connection, inner[0])


def _is_pivot_without_values(statement: Statement, parsed: list[Any]) -> bool:
    """A PIVOT whose values come from the data (no ``IN (…)``): DuckDB parses it into a
    CREATE TYPE of those values, with no text, and the query itself."""
    if not any(kind == "keyword" and value.upper() == "PIVOT" for kind, value in statement.tokens):
        return False
    names = [s.type.name for s in parsed]
    return (
        len(names) >= 2
        and names[-1] == "SELECT"
        and all(name == "CREATE" for name in names[:-1])
        and all(not s.query.strip() for s in parsed[:-1])
    )


def _check_tokens(connection: duckdb.DuckDBPyConnection, statement: Statement) -> None:
    """The check for what DuckDB cannot serialize (a PIVOT without ``IN``), done on its
    tokens, conservatively: every ``name(`` must be a call user SQL may make (table function
    or not), and no string or quoted name may look like a file."""
    rows = connection.execute(
        "SELECT DISTINCT lower(function_name) FROM duckdb_functions() "
        "WHERE function_type IN ('table', 'table_macro')"
    ).fetchall()
    table_functions = {str(row[0]) for row in rows} - ALLOWED_TABLE_FUNCTIONS
    tokens = statement.tokens
    for index, (kind, value) in enumerate(tokens):
        following = tokens[index + 1][1] if index + 1 < len(tokens) else ""
        name = value.strip('"').lower()
        called = kind in ("identifier", "keyword") and following.startswith("(")
        if called and (is_denied(name) or _is_file_function(name) or name in table_functions):
            raise QueryRefused(f"the function {name}() is not available in user SQL")
        if kind == "identifier" and is_lake_catalog(name):
            raise _catalog_refused(value)
        if kind in ("string_const", "identifier") and _looks_like_file(name):
            raise QueryRefused(
                f"{value} looks like a file, and files are not available in user SQL: "
                "PIVOT tables (schema.table), or list the values with ON column IN (…)"
            )


def _is_file_function(name: str) -> bool:
    return name.startswith(("read_", "parquet_", "sniff_", "glob")) or name in (
        "parquet_scan",
        "iceberg_scan",
        "delta_scan",
    )


def _looks_like_file(name: str) -> bool:
    return bool(_PATH_MARKS.search(name) or _FILE_SUFFIX.search(name.strip("'")))


def _check_tree(connection: duckdb.DuckDBPyConnection, tree: Any) -> None:
    for kind, name in _references(tree):
        if kind in ("catalog", "table") and is_lake_catalog(name):
            raise _catalog_refused(name)
        if kind == "function" and is_denied(name):
            raise QueryRefused(f"the function {name}() is not available in user SQL")
        if kind == "table_function" and not is_allowed_table_function(name):
            raise QueryRefused(
                f"the table function {name}() is not available in user SQL: queries read "
                "tables (schema.table, source.schema.table), not files or server settings"
            )
        if kind == "table" and _looks_like_file(name) and not _is_relation(connection, name):
            raise QueryRefused(
                f"{name!r} names a file, and files are not available in user SQL: "
                "read tables (schema.table, source.schema.table)"
            )


#: DuckLake attaches its catalog database under this name (+ the lake's alias): with a
#: PostgreSQL catalog that is every table of that database, read with the server's role.
METADATA_PREFIX = "__ducklake_metadata"


def is_lake_catalog(name: str) -> bool:
    """Whether ``name`` (a database, schema or table name) is DuckLake's catalog database."""
    return name.strip('"').lower().startswith(METADATA_PREFIX)


def _catalog_refused(name: str) -> QueryRefused:
    return QueryRefused(
        f"{name} is the lake's catalog database, which is not available in user SQL: read "
        "tables, and their history with lake.snapshots() and AT (VERSION => n)"
    )


def _is_relation(connection: duckdb.DuckDBPyConnection, name: str) -> bool:
    """Whether a table or view of that exact name exists (a file source's view may be
    named ``sales.2024``); only such names are not read as files."""
    if _PATH_MARKS.search(name):
        return False
    row = connection.execute(
        "SELECT count(*) FROM (SELECT table_name AS n FROM duckdb_tables() "
        "UNION ALL SELECT view_name FROM duckdb_views()) WHERE n = ?",
        [name],
    ).fetchone()
    return bool(row and row[0])


def _parse_tree(connection: duckdb.DuckDBPyConnection, text: str) -> Any:
    row = connection.execute("SELECT json_serialize_sql(?::VARCHAR)", [text]).fetchone()
    tree = json.loads(row[0]) if row else {"error": True}
    if tree.get("error"):
        # Fail closed: what cannot be inspected does not run.
        raise QueryRefused(f"only queries may run here ({tree.get('error_message', 'unparsed')})")
    return tree


def _references(node: Any) -> Iterator[tuple[str, str]]:
    """``("function" | "table_function" | "table", name)`` for every call and every table
    named anywhere in a parse tree."""
    if isinstance(node, dict):
        kind = node.get("type")
        if kind == "TABLE_FUNCTION" and isinstance(node.get("function"), dict):
            name = node["function"].get("function_name")
            if isinstance(name, str):
                yield "table_function", name
            for key, value in node.items():
                if key == "function":
                    yield from _references(value.get("children"))
                else:
                    yield from _references(value)
            return
        if kind == "BASE_TABLE" and isinstance(node.get("table_name"), str):
            yield "table", node["table_name"]
        for key in ("catalog_name", "schema_name", "catalog", "schema"):
            # Where a table, a SHOW or a function call looks: ``db.schema.x``, ``db.x``.
            if isinstance(node.get(key), str) and node[key]:
                yield "catalog", node[key]
        name = node.get("function_name")
        if isinstance(name, str):
            yield "function", name
        for value in node.values():
            yield from _references(value)
    elif isinstance(node, list):
        for item in node:
            yield from _references(item)
