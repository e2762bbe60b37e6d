"""Masked reads for user SQL: each table with personal columns is read through a policy
subquery, so the user's query never sees the raw column.

The statement the user wrote is parsed by DuckDB (``json_serialize_sql``); every reference to
a masked table (``FROM bank.customers c``, in a CTE, a subquery, a join, ``SUMMARIZE``,
``DESCRIBE``, with ``AT (VERSION => n)``) is replaced, in the parse tree, by

    (SELECT id, <mask of email> AS email, … FROM lake.bank.customers AT (…)) AS c

and the tree is turned back into SQL (``json_deserialize_sql``). Only table references
change: everything the user's query does with the columns (aliases, ``SELECT *``,
``COLUMNS(*)``, ``to_json``/``struct_pack`` of a row, list aggregates, joins) operates on the
masked values, with no need to understand those forms. A statement that names no masked table
runs as it was written.

What cannot be rewritten is refused when it may read a masked table: a statement DuckDB cannot
serialize (``EXPLAIN``, a ``PIVOT`` without ``IN``) naming one, a CTE that shadows one, and the
DuckLake functions that return a table's rows (``table_changes``, ``table_insertions``,
``table_deletions``) while any table is masked.

Values derived from the pseudonym key are never in SQL text (which errors and ``EXPLAIN``
show): the plan sets them as DuckDB variables before the connection is locked, and user SQL
may not call ``getvariable`` (see :mod:`.guard`).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from atelier.backends.warehouse.errors import QueryRefused
from atelier.backends.warehouse.sql import ident

if TYPE_CHECKING:
    import duckdb

#: ``(quoted column, DuckDB type) -> masking expression``.
Expression = Callable[[str, str], str]

#: DuckLake functions that return a table's rows (changes, inserted or deleted rows).
ROW_FUNCTIONS = frozenset(
    {
        "table_changes",
        "table_insertions",
        "table_deletions",
        "ducklake_table_changes",
        "ducklake_table_insertions",
        "ducklake_table_deletions",
    }
)


@dataclass(frozen=True)
class Masking:
    """What one user connection masks.

    ``tables`` maps a table (``schema.table`` in the lake, ``source.schema.table`` in an
    attached source; lower case) to its masked columns (lower case) and their expressions.
    ``variables`` (name -> bytes) are set on the connection before it is locked.
    """

    tables: Mapping[str, Mapping[str, Expression]] = field(default_factory=dict)
    variables: Mapping[str, bytes] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.tables)

    def prepare(self, connection: duckdb.DuckDBPyConnection) -> None:
        """Set the plan's variables (before ``lock_configuration``)."""
        for name, value in self.variables.items():
            connection.execute(f"SET VARIABLE {ident(name)} = ?::BLOB", [value])


def rewrite(connection: duckdb.DuckDBPyConnection, sql: str, masking: Masking, lake: str) -> str:
    """``sql`` (one statement, already checked by the guard) with each masked table read
    through its policy subquery; ``sql`` itself when it names none."""
    if not masking:
        return sql
    row = connection.execute("SELECT json_serialize_sql(?::VARCHAR)", [sql]).fetchone()
    tree = json.loads(row[0]) if row else {"error": True}
    if tree.get("error"):
        _refuse_if_named(connection, sql, masking)
        return sql
    rewriter = _Rewriter(connection, masking, lake, _cte_names(tree))
    rewritten = rewriter.walk(tree)
    if not rewriter.changed:
        return sql
    found = connection.execute(
        "SELECT json_deserialize_sql(?::JSON)", [json.dumps(rewritten)]
    ).fetchone()
    if not found or not found[0]:
        raise QueryRefused("this query reads personal data and could not be masked")
    return str(found[0])


class _Rewriter:
    def __init__(
        self,
        connection: duckdb.DuckDBPyConnection,
        masking: Masking,
        lake: str,
        ctes: set[str],
    ) -> None:
        self.connection = connection
        self.masking = masking
        self.lake = lake.lower()
        self.ctes = ctes
        self.changed = False
        self._schemas: set[str] | None = None
        self._catalogs: set[str] | None = None

    def walk(self, node: Any) -> Any:
        if isinstance(node, list):
            return [self.walk(item) for item in node]
        if not isinstance(node, dict):
            return node
        kind = node.get("type")
        if kind == "TABLE_FUNCTION" and isinstance(node.get("function"), dict):
            name = str(node["function"].get("function_name", "")).lower()
            if name in ROW_FUNCTIONS:
                raise QueryRefused(
                    f"{name}() returns rows of tables, and some tables hold personal data: "
                    "read the table itself (FROM schema.table AT (VERSION => n)), whose "
                    "personal columns are masked"
                )
        if kind == "BASE_TABLE" and isinstance(node.get("table_name"), str):
            replaced = self._replace(node)
            if replaced is not None:
                return replaced
        return {key: self.walk(value) for key, value in node.items()}

    # -- which table a reference reads ---------------------------------------------------

    def _resolve(self, node: dict[str, Any]) -> tuple[str, tuple[str, str, str]] | None:
        catalog = str(node.get("catalog_name") or "").lower()
        schema = str(node.get("schema_name") or "").lower()
        table = str(node["table_name"]).lower()
        if not catalog and not schema:
            if table in self.ctes:
                if f"main.{table}" in self.masking.tables:
                    raise QueryRefused(
                        f"the CTE {table} has the name of a table that holds personal data: "
                        "give the CTE another name"
                    )
                return None
            catalog, schema = self.lake, "main"
        elif not catalog:
            if schema == self.lake and schema not in self._lake_schemas():
                catalog, schema = self.lake, "main"
            elif schema in self._lake_schemas() or schema not in self._attached():
                catalog = self.lake
            else:
                catalog, schema = schema, "main"
        schema = schema or "main"
        key = f"{schema}.{table}" if catalog == self.lake else f"{catalog}.{schema}.{table}"
        return key, (catalog, schema, table)

    def _lake_schemas(self) -> set[str]:
        if self._schemas is None:
            rows = self.connection.execute(
                "SELECT lower(schema_name) FROM duckdb_schemas() WHERE lower(database_name) = ?",
                [self.lake],
            ).fetchall()
            self._schemas = {str(r[0]) for r in rows}
        return self._schemas

    def _attached(self) -> set[str]:
        if self._catalogs is None:
            rows = self.connection.execute(
                "SELECT lower(database_name) FROM duckdb_databases()"
            ).fetchall()
            self._catalogs = {str(r[0]) for r in rows}
        return self._catalogs

    # -- the policy subquery -------------------------------------------------------------

    def _replace(self, node: dict[str, Any]) -> dict[str, Any] | None:
        resolved = self._resolve(node)
        if resolved is None:
            return None
        key, (catalog, schema, table) = resolved
        masked = self.masking.tables.get(key)
        if not masked:
            return None
        at = self.walk(node.get("at_clause"))
        source = f"{ident(catalog)}.{ident(schema)}.{ident(table)}"
        inner = self._serialize(f"SELECT * FROM {source}")
        inner["from_table"]["at_clause"] = copy.deepcopy(at)
        plain = self._deserialize(inner)
        columns = self.connection.execute(f"DESCRIBE {plain}").fetchall()
        select = []
        for name, sql_type, *_ in columns:
            quoted = ident(str(name))
            expression = masked.get(str(name).lower())
            select.append(
                f"{expression(quoted, str(sql_type))} AS {quoted}" if expression else quoted
            )
        query = self._serialize(f"SELECT {', '.join(select)} FROM {source}")
        query["from_table"]["at_clause"] = copy.deepcopy(at)
        self.changed = True
        return {
            "type": "SUBQUERY",
            "alias": node.get("alias") or node["table_name"],
            "sample": node.get("sample"),
            "query_location": node.get("query_location", 18446744073709551615),
            "subquery": {"node": query, "named_param_map": []},
            "column_name_alias": node.get("column_name_alias") or [],
        }

    def _serialize(self, sql: str) -> dict[str, Any]:
        row = self.connection.execute("SELECT json_serialize_sql(?::VARCHAR)", [sql]).fetchone()
        tree: dict[str, Any] = json.loads(row[0]) if row else {"error": True}
        if tree.get("error"):
            raise QueryRefused("this query reads personal data and could not be masked")
        node: dict[str, Any] = tree["statements"][0]["node"]
        return node

    def _deserialize(self, node: dict[str, Any]) -> str:
        tree = {"error": False, "statements": [{"node": node, "named_param_map": []}]}
        row = self.connection.execute(
            "SELECT json_deserialize_sql(?::JSON)", [json.dumps(tree)]
        ).fetchone()
        return str(row[0]) if row else ""


def _cte_names(node: Any) -> set[str]:
    return {name for name in _ctes(node)}


def _ctes(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        cte_map = node.get("cte_map")
        if isinstance(cte_map, dict):
            for entry in cte_map.get("map") or ():
                if isinstance(entry, dict) and isinstance(entry.get("key"), str):
                    yield entry["key"].lower()
        for value in node.values():
            yield from _ctes(value)
    elif isinstance(node, list):
        for item in node:
            yield from _ctes(item)


def _refuse_if_named(connection: duckdb.DuckDBPyConnection, sql: str, masking: Masking) -> None:
    """For a statement DuckDB cannot serialize: refuse it if any word of it names a masked
    table (conservatively: the table's own name, whatever its schema)."""
    import duckdb

    names = {key.rsplit(".", 1)[-1] for key in masking.tables}
    tokens = duckdb.tokenize(sql)
    for index, (position, kind) in enumerate(tokens):
        end = tokens[index + 1][0] if index + 1 < len(tokens) else len(sql)
        word = sql[position:end].strip().strip('"').lower()
        if kind in (duckdb.token_type.identifier, duckdb.token_type.keyword) and word in names:
            raise QueryRefused(
                "this statement reads a table that holds personal data, and only plain "
                "queries (SELECT, WITH, SUMMARIZE, DESCRIBE) of such tables can be masked"
            )
