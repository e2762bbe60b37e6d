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

A table marked personal as a whole also has a default expression (``personal``) for its
columns that have no rule of their own. Columns ``bank.customers.email`` qualified by schema
and table are read from the subquery too: the qualification is shortened to the subquery's
alias.

The plan also lists what the person may read raw (``raw``: tagged columns covered by a grant);
:func:`raw_reads` finds which of them a statement references, by the same walk and name
resolution, so that each raw read of personal data can be audited.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
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


#: In :attr:`Masking.raw`, the entry standing for every column of a table marked personal
#: that has no tag of its own (read raw under a grant on the table); its kind is
#: :data:`UNTAGGED`.
EVERY_COLUMN = "*"
UNTAGGED = "personal"


@dataclass(frozen=True)
class Masking:
    """What one user connection masks, and what it lets the person read raw.

    ``tables`` maps a table (``schema.table`` in the lake, ``source.schema.table`` in an
    attached source; lower case) to its masked columns (lower case) and their expressions.
    ``personal`` maps a table marked personal as a whole to the expression of its columns
    that have neither a rule in ``tables`` nor an entry in ``raw``.
    ``variables`` (name -> bytes) are set on the connection before it is locked.
    ``raw`` maps a table to the tagged columns the person may read raw and their kinds
    (:data:`EVERY_COLUMN` for the untagged columns of a personal table); nothing is masked
    for them, they are what the audit of raw reads watches.
    ``reads`` collects the raw columns actually read through this plan (see :class:`RawReads`).
    """

    tables: Mapping[str, Mapping[str, Expression]] = field(default_factory=dict)
    variables: Mapping[str, bytes] = field(default_factory=dict)
    personal: Mapping[str, Expression] = field(default_factory=dict)
    raw: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    reads: RawReads = field(default_factory=lambda: RawReads(), compare=False)

    def __bool__(self) -> bool:
        """Whether anything is masked (a plan that only watches raw reads changes no SQL)."""
        return bool(self.tables) or bool(self.personal)

    def masks(self, table: str) -> bool:
        return bool(self.tables.get(table)) or table in self.personal

    def expression(self, table: str, column: str) -> Expression | None:
        """The mask of ``column`` (lower case) in ``table``, None when it is read as it is."""
        found = (self.tables.get(table) or {}).get(column)
        if found is not None:
            return found
        default = self.personal.get(table)
        if default is None or column in (self.raw.get(table) or {}):
            return None
        return default

    def raw_kinds(self, table: str, columns: Iterable[str]) -> dict[str, str]:
        """Which of ``columns`` (a table's names, any case) are read raw, with their kinds."""
        raw = self.raw.get(table) or {}
        every = EVERY_COLUMN in raw
        found: dict[str, str] = {}
        for name in columns:
            lower = name.lower()
            if lower in raw:
                found[lower] = raw[lower]
            elif every and self.expression(table, lower) is None:
                found[lower] = UNTAGGED
        return found

    def prepare(self, connection: duckdb.DuckDBPyConnection) -> None:
        """Set the plan's variables (before ``lock_configuration``)."""
        for name, value in self.variables.items():
            connection.execute(f"SET VARIABLE {ident(name)} = ?::BLOB", [value])


class RawReads:
    """The raw columns of personal data read through one plan: table -> column -> kind.
    Filled by the reads (:func:`raw_reads`, ``masked_read``), emptied by whoever records them
    in the audit log (:meth:`take`). One plan serves one person's read, in one thread."""

    def __init__(self) -> None:
        self._found: dict[str, dict[str, str]] = {}

    def __bool__(self) -> bool:
        return bool(self._found)

    def note(self, table: str, columns: Mapping[str, str]) -> None:
        if columns:
            self._found.setdefault(table, {}).update(columns)

    def take(self) -> dict[str, dict[str, str]]:
        found, self._found = self._found, {}
        return found


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
    rewriter.qualified = rewriter.qualifications(tree)
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
        #: ``(schema, table)`` and ``(catalog, schema, table)`` (lower case) of the masked
        #: tables named without an alias -> the alias of their subquery.
        self.qualified: dict[tuple[str, ...], str] = {}
        self._schemas: set[str] | None = None
        self._catalogs: set[str] | None = None
        self._columns: dict[str, list[str]] = {}

    def qualifications(self, tree: Any) -> dict[tuple[str, ...], str]:
        """How the statement may qualify columns of its masked tables named without an alias
        (``bank.customers.email``): the subquery that replaces such a table answers to its
        table name only, so those qualifications are shortened to it."""
        found: dict[tuple[str, ...], str] = {}
        aliases: dict[str, str] = {}
        for node in _nodes(tree):
            if node.get("type") != "BASE_TABLE" or not isinstance(node.get("table_name"), str):
                continue
            if node.get("alias"):
                continue
            resolved = self._resolve(node)
            if resolved is None or not self.masking.masks(resolved[0]):
                continue
            catalog, schema, table = resolved[1]
            written = str(node["table_name"])
            if aliases.setdefault(table, resolved[0]) != resolved[0]:
                # Both subqueries would answer to the same name.
                raise QueryRefused(
                    f"two tables named {table} that hold personal data are read without an "
                    "alias: give each an alias (FROM bank.customers AS c)"
                )
            for prefix in ((schema, table), (catalog, schema, table)):
                found[prefix] = written
        return found

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
        if kind == "COLUMN_REF" and self.qualified:
            names = node.get("column_names")
            if isinstance(names, list) and len(names) >= 3:
                lower = tuple(str(name).lower() for name in names)
                for size in (3, 2):
                    alias = self.qualified.get(lower[:size])
                    if alias is not None and len(names) > size:
                        self.changed = True
                        return {**node, "column_names": [alias, *names[size:]]}
        return {key: self.walk(value) for key, value in node.items()}

    # -- which table a reference reads ---------------------------------------------------

    def _resolve(self, node: dict[str, Any]) -> tuple[str, tuple[str, str, str]] | None:
        catalog = str(node.get("catalog_name") or "").lower()
        schema = str(node.get("schema_name") or "").lower()
        table = str(node["table_name"]).lower()
        if not catalog and not schema:
            if table in self.ctes:
                if self.masking.masks(f"main.{table}"):
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

    def columns(self, key: str) -> list[str]:
        """The column names of table ``key`` now; the tagged ones when it cannot be read."""
        import duckdb

        if key not in self._columns:
            known = [c for c in self.masking.raw.get(key) or {} if c != EVERY_COLUMN]
            catalog, schema, table = self._parts(key)
            try:
                rows = self.connection.execute(
                    f"DESCRIBE {ident(catalog)}.{ident(schema)}.{ident(table)}"
                ).fetchall()
            except duckdb.Error:  # a table gone or unreadable: its tags remain
                rows = []
            self._columns[key] = [str(r[0]) for r in rows] or known
        return self._columns[key]

    def _parts(self, key: str) -> tuple[str, str, str]:
        parts = key.split(".")
        if len(parts) == 3:
            return parts[0], parts[1], parts[2]
        return self.lake, parts[0], parts[-1]

    # -- the policy subquery -------------------------------------------------------------

    def _replace(self, node: dict[str, Any]) -> dict[str, Any] | None:
        resolved = self._resolve(node)
        if resolved is None:
            return None
        key, (catalog, schema, table) = resolved
        if not self.masking.masks(key):
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
            expression = self.masking.expression(key, str(name).lower())
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


def raw_reads(
    connection: duckdb.DuckDBPyConnection, sql: str, masking: Masking, lake: str
) -> dict[str, dict[str, str]]:
    """The columns of ``masking.raw`` that ``sql`` (one statement, before its rewrite) reads:
    table -> column -> kind, also noted in ``masking.reads``.

    Conservative by design, so that no form of query reads a raw column unseen: a column
    counts when its name is written anywhere in the statement (whatever alias, CTE or
    subquery it passes through, and even when another table has a column of that name), and
    every raw column of a table counts when the statement reads whole rows of it: ``*`` or
    ``COLUMNS(…)`` qualified by the table's alias or unqualified in a ``SELECT`` whose
    ``FROM`` reads the table, the alias as a value (a row), renamed columns, ``#n``,
    ``PIVOT``/``UNPIVOT``, a natural join, or a DuckLake row function naming it.
    ``DESCRIBE`` reads no values and does not count. A statement DuckDB cannot parse into a
    tree counts every raw column of each raw table whose name it contains."""
    if not masking.raw:
        return {}
    row = connection.execute("SELECT json_serialize_sql(?::VARCHAR)", [sql]).fetchone()
    tree = json.loads(row[0]) if row else {"error": True}
    walker = _Rewriter(connection, masking, lake, set())
    found: dict[str, dict[str, str]] = {}
    if tree.get("error"):
        names = {key.rsplit(".", 1)[-1]: key for key in masking.raw}
        for word in _words(sql):
            if word in names:
                key = names[word]
                found[key] = masking.raw_kinds(key, walker.columns(key))
    else:
        walker.ctes = _cte_names(tree)
        found = _RawWalk(walker).read(tree)
    found = {table: columns for table, columns in found.items() if columns}
    for table, columns in found.items():
        masking.reads.note(table, columns)
    return found


class _RawWalk:
    """One pass over a statement's tree: the raw tables it names (each reference with its
    handle: alias or table name), the names it writes, and which references it reads whole.

    An unqualified ``*`` (or ``COLUMNS(…)``, ``#n``) reads the tables in the ``FROM`` of its
    own ``SELECT`` (through joins, not into subqueries, whose own ``SELECT`` decides)."""

    def __init__(self, resolver: _Rewriter) -> None:
        self.resolver = resolver
        #: Each reference to a raw table: [key, handle, read whole].
        self.refs: list[list[Any]] = []
        self._seen: dict[int, int | None] = {}
        self._scopes: list[list[int]] = []
        #: Every part of every column name written (``c.email``: ``c`` and ``email``).
        self.names: set[str] = set()
        #: Names written alone, which may be a table's alias standing for its rows.
        self.rows: set[str] = set()
        #: The aliases (or names) qualifying a ``*`` (``c.*``).
        self.whole: set[str] = set()
        self.named: set[str] = set()

    def read(self, tree: Any) -> dict[str, dict[str, str]]:
        self.visit(tree)
        masking = self.resolver.masking
        found: dict[str, dict[str, str]] = {}
        for key, handle, whole in self.refs:
            columns = self.resolver.columns(key)
            if whole or handle in self.whole or handle in self.rows:
                chosen = columns
            else:
                chosen = [c for c in columns if c.lower() in self.names]
            found.setdefault(key, {}).update(masking.raw_kinds(key, chosen))
        for key in self.named:
            found.setdefault(key, {}).update(masking.raw_kinds(key, self.resolver.columns(key)))
        return found

    def _register(self, node: dict[str, Any]) -> int | None:
        """The index of a raw table's reference in :attr:`refs` (None for another table)."""
        if id(node) in self._seen:
            return self._seen[id(node)]
        index = None
        resolved = self.resolver._resolve(node)
        if resolved is not None and resolved[0] in self.resolver.masking.raw:
            handle = str(node.get("alias") or node["table_name"]).lower()
            # FROM t AS c(i, e): the columns are renamed, so their names tell nothing.
            self.refs.append([resolved[0], handle, bool(node.get("column_name_alias"))])
            index = len(self.refs) - 1
        self._seen[id(node)] = index
        return index

    def _direct(self, ref: Any) -> list[int]:
        """The raw tables a ``FROM`` item reads directly (through joins and pivots)."""
        if not isinstance(ref, dict):
            return []
        kind = ref.get("type")
        if kind == "BASE_TABLE" and isinstance(ref.get("table_name"), str):
            index = self._register(ref)
            return [] if index is None else [index]
        if kind == "JOIN":
            return self._direct(ref.get("left")) + self._direct(ref.get("right"))
        if kind == "PIVOT":
            return self._direct(ref.get("source"))
        return []

    def _read_whole(self, indexes: list[int]) -> None:
        for index in indexes:
            self.refs[index][2] = True

    def visit(self, node: Any) -> None:
        if isinstance(node, list):
            for item in node:
                self.visit(item)
            return
        if not isinstance(node, dict):
            return
        kind = node.get("type")
        if kind == "SHOW_REF" and node.get("show_type") == "DESCRIBE":
            return  # column names and types only, no values
        if kind == "SELECT_NODE":
            self._scopes.append(self._direct(node.get("from_table")))
            try:
                for value in node.values():
                    self.visit(value)
            finally:
                self._scopes.pop()
            return
        if kind == "BASE_TABLE" and isinstance(node.get("table_name"), str):
            self._register(node)
        elif kind == "COLUMN_REF":
            names = [str(name).lower() for name in node.get("column_names") or ()]
            self.names.update(names)
            if len(names) == 1:  # SELECT c FROM t AS c: the whole row, as a struct
                self.rows.update(names)
        elif kind == "STAR" and node.get("relation_name"):
            self.whole.add(str(node["relation_name"]).lower())
        elif kind in ("STAR", "POSITIONAL_REFERENCE"):
            self._read_whole(self._scopes[-1] if self._scopes else list(range(len(self.refs))))
        elif kind == "PIVOT":  # PIVOT/UNPIVOT name columns as strings
            self._read_whole(self._direct(node.get("source")))
        elif kind == "JOIN":
            if node.get("ref_type") == "NATURAL":  # joined on every common name
                self._read_whole(self._direct(node))
            self.names.update(str(name).lower() for name in node.get("using_columns") or ())
        elif kind == "TABLE_FUNCTION" and isinstance(node.get("function"), dict):
            function = str(node["function"].get("function_name", "")).lower()
            if function in ROW_FUNCTIONS:
                self.named.update(self._named_tables(node["function"]))
        for value in node.values():
            self.visit(value)

    def _named_tables(self, function: dict[str, Any]) -> set[str]:
        """The raw tables a row function's arguments name (all of them when none is)."""
        words: set[str] = set()
        for item in _nodes(function):
            value = item.get("value")
            if isinstance(value, dict) and isinstance(value.get("value"), str):
                words.update(part.lower() for part in str(value["value"]).split("."))
        raw = self.resolver.masking.raw
        named = {key for key in raw if key.rsplit(".", 1)[-1] in words}
        return named or set(raw)


def _nodes(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _nodes(value)
    elif isinstance(node, list):
        for item in node:
            yield from _nodes(item)


def _words(sql: str) -> set[str]:
    import duckdb

    tokens = duckdb.tokenize(sql)
    found: set[str] = set()
    for index, (position, kind) in enumerate(tokens):
        end = tokens[index + 1][0] if index + 1 < len(tokens) else len(sql)
        if kind in (duckdb.token_type.identifier, duckdb.token_type.keyword):
            found.add(sql[position:end].strip().strip('"').lower())
    return found


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
    names = {key.rsplit(".", 1)[-1] for key in (*masking.tables, *masking.personal)}
    if _words(sql) & names:
        raise QueryRefused(
            "this statement reads a table that holds personal data, and only plain "
            "queries (SELECT, WITH, SUMMARIZE, DESCRIBE) of such tables can be masked"
        )
