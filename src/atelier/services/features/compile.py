"""A feature view made ready to run on one DuckDB connection: its source as a relation with
the event time in exact nanoseconds, its user SQL checked, its Python features registered.

User SQL (query sources, SQL features) runs on the warehouse's restricted connection and passes
the same check as the SQL page's (:func:`~atelier.backends.warehouse.guard.check_user_sql`), so
a definition cannot read files or reach other databases.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from atelier.backends.warehouse import QueryRefused
from atelier.backends.warehouse.guard import check_user_sql
from atelier.backends.warehouse.sql import ident
from atelier.errors import InvalidInput
from atelier.services.features.definitions import Derived, FeatureView, python_function
from atelier.services.features.info import upstream_tables

if TYPE_CHECKING:
    import duckdb

TS = "__atl_ts"
ROW = "__atl_row"
_TIME_TYPES = ("TIMESTAMP", "TIMESTAMP_NS", "TIMESTAMP_MS", "TIMESTAMP_S", "DATE")


@dataclass
class Compiled:
    """``relation``: SQL of the view's rows with ``__atl_ts`` (BIGINT ns, UTC) added and rows
    without a time left out; ``columns``: the source's columns and their DuckDB types."""

    view: FeatureView
    relation: str
    columns: dict[str, str]
    table: str | None
    udfs: dict[str, str] = field(default_factory=dict)

    def expression(self, feature: Derived) -> str:
        """SQL computing a row feature from the source row's (unqualified) columns."""
        if feature.is_column:
            return ident(feature.name)
        if feature.sql is not None:
            return f"({feature.sql})"
        args = ", ".join(ident(column) for column in feature.inputs)
        return f"{self.udfs[feature.name]}({args})"

    def input_expression(self, column: str) -> str:
        """SQL of what an aggregation aggregates: a source column or a row feature."""
        if column == "*":
            return "1"
        for feature in self.view.row_features():
            if feature.name == column and not feature.is_column:
                return self.expression(feature)
        return ident(column)

    def order_for_ties(self, alias: str) -> str:
        """ORDER BY items that break ties between rows of one entity and time: the newest
        ``created`` first, then a hash of the source row's own columns. The hash is a pure
        function of the feature row (no entity row, plan or scan order enters it), so every
        join plan, and every duplicate of an entity row, picks the same row."""
        created = self.view.created
        first = f"{alias}.{ident(created)} DESC NULLS LAST, " if created else ""
        row = ", ".join(f"{alias}.{ident(column)}" for column in self.columns)
        return f"{first}hash({row}) DESC"


def source_relation(view: FeatureView) -> tuple[str, str | None]:
    """``(SQL relation, warehouse table name or None)`` of the view's source: None for a
    query or a table of an attached source (``source.schema.table``)."""
    if view.source is not None:
        parts = view.source.split(".", 2)
        if len(parts) == 1:
            parts = ["main", *parts]
        relation = ".".join(ident(p) for p in parts)
        return relation, ".".join(parts) if len(parts) == 2 else None
    return f"({view.query})", None


def compile_view(
    con: duckdb.DuckDBPyConnection, view: FeatureView, *, read: bool = False
) -> Compiled:
    """Check ``view`` against its source on ``con`` and return it ready to run. With
    ``read`` (about to compute), a source that reads attached sources (their tables, or a
    query over them) is first copied into a temporary table: the joins read their source more
    than once, and DuckDB's scanners of other databases cannot be planned twice in one query
    (and a remote database is read only once)."""
    import duckdb

    relation, table = source_relation(view)
    if view.query is not None:
        _check_sql(con, view.query, f"the query of view {view.name!r}")
    if read and _reads_sources(con, view):
        copy = ident(f"__atl_source_{view.name}")
        try:
            con.execute(f"CREATE OR REPLACE TEMP TABLE {copy} AS SELECT * FROM {relation}")
        except duckdb.Error as error:
            where = f"table {view.source}" if view.source else "its query"
            raise InvalidInput(
                f"feature view {view.name!r}: cannot read {where}: {error}"
            ) from None
        relation = copy
    try:
        described = con.execute(f"DESCRIBE SELECT * FROM {relation}").fetchall()
    except duckdb.Error as error:
        where = f"table {view.source}" if view.source else "its query"
        raise InvalidInput(f"feature view {view.name!r}: cannot read {where}: {error}") from None
    columns = {str(row[0]): str(row[1]) for row in described}

    def need(column: str, role: str) -> str:
        if column not in columns:
            raise InvalidInput(
                f"feature view {view.name!r}: {role} column {column!r} is not in its source "
                f"(it has {', '.join(columns)})"
            )
        return columns[column]

    for key in view.keys:
        need(key, "key")
    kind = need(view.timestamp, "timestamp")
    if not (kind in _TIME_TYPES or kind.startswith("TIMESTAMP WITH TIME ZONE")):
        raise InvalidInput(
            f"feature view {view.name!r}: timestamp column {view.timestamp!r} is {kind}; "
            "it must be a TIMESTAMP (any precision, with or without time zone) or a DATE"
        )
    if view.created is not None:
        need(view.created, "created")
    stamp = ident(view.timestamp)
    ns = f"epoch_ns(CAST({stamp} AS TIMESTAMP))" if kind == "DATE" else f"epoch_ns({stamp})"
    if kind in ("TIMESTAMP_MS", "TIMESTAMP_S"):
        ns = f"epoch_ns(CAST({stamp} AS TIMESTAMP))"
    compiled = Compiled(
        view,
        f"(SELECT *, {ns} AS {TS} FROM {relation} WHERE {stamp} IS NOT NULL)",
        columns,
        table,
    )
    for feature in view.row_features():
        if feature.is_column:
            need(feature.name, "feature")
        elif feature.sql is not None:
            _check_sql(con, f"SELECT ({feature.sql}) FROM {relation}", f"feature {feature.name!r}")
            _check_row_only(con, view, feature)
        else:
            compiled.udfs[feature.name] = _register_python(con, view, feature, need)
    derived = {f.name for f in view.row_features()}
    for aggregation in view.aggregations:
        if aggregation.column != "*" and aggregation.column not in derived:
            need(aggregation.column, "aggregated")
    for feature in view.row_features():
        if not feature.is_column:
            _probe(con, compiled, compiled.expression(feature), f"feature {feature.name!r}")
    return compiled


def _reads_sources(con: duckdb.DuckDBPyConnection, view: FeatureView) -> bool:
    """Whether the view reads a database attached to ``con`` other than the warehouse."""
    if view.source is not None:
        return view.source.count(".") >= 2
    attached = {
        str(row[0])
        for row in con.execute(
            "SELECT database_name FROM duckdb_databases() WHERE database_name <> current_database()"
        ).fetchall()
    }
    return any(name.split(".")[0] in attached for name in upstream_tables(view))


def _register_python(
    con: duckdb.DuckDBPyConnection, view: FeatureView, feature: Derived, need: object
) -> str:
    import duckdb

    types = [need(column, f"input of {feature.name!r}") for column in feature.inputs]  # type: ignore[operator]
    fn = python_function(str(feature.python), feature.name)
    name = f"__atl_py_{view.name}_{feature.name}"

    def call(*args: object) -> object:
        try:
            return fn(*args)
        except Exception as error:
            raise ValueError(f"Python feature {feature.name!r} failed: {error!r}") from None

    try:
        con.create_function(name, call, types, feature.dtype, side_effects=False)
    except duckdb.Error as error:
        raise InvalidInput(f"Python feature {feature.name!r}: {error}") from None
    return name


def _check_sql(con: duckdb.DuckDBPyConnection, sql: str, what: str) -> None:
    try:
        check_user_sql(con, sql)
    except QueryRefused as error:
        raise InvalidInput(f"{what}: {error}") from None


def _check_row_only(con: duckdb.DuckDBPyConnection, view: FeatureView, feature: Derived) -> None:
    """Refuse a SQL feature that reads a table (a subquery ``(SELECT max(email) FROM
    bank.customers)``): a row feature is an expression over its view's row, and the view's
    source is the one read through the reader's masking. Joins belong in the view's query."""
    import json

    row = con.execute("SELECT json_serialize_sql(?::VARCHAR)", [f"SELECT ({feature.sql})"])
    found = row.fetchone()
    tree = json.loads(found[0]) if found else {"error": True}
    if tree.get("error"):
        raise InvalidInput(f"view {view.name!r}, feature {feature.name!r}: cannot parse its SQL")
    stack: list[object] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, dict):
            if node.get("type") in ("BASE_TABLE", "TABLE_FUNCTION"):
                name = node.get("table_name") or "a table function"
                raise InvalidInput(
                    f"view {view.name!r}, feature {feature.name!r}: a SQL feature is an "
                    f"expression over the view's row and may not read a table ({name}); "
                    "join it in the view's query instead"
                )
            stack.extend(node.values())


def _probe(con: duckdb.DuckDBPyConnection, compiled: Compiled, sql: str, what: str) -> None:
    import duckdb

    try:
        con.execute(f"DESCRIBE SELECT {sql} FROM {compiled.relation}").fetchall()
    except duckdb.Error as error:
        raise InvalidInput(f"view {compiled.view.name!r}, {what}: {error}") from None


def feature_types(con: duckdb.DuckDBPyConnection, compiled: Compiled) -> dict[str, str]:
    """The DuckDB type of each feature of the view (what a training set column will be)."""
    from atelier.services.features.engine import aggregate_sql

    view = compiled.view
    rows = [(f.name, compiled.expression(f)) for f in view.row_features()]
    aggregates = [
        (name, aggregate_sql(function, compiled.input_expression(aggregation.column), TS, "true"))
        for name, aggregation, function, _ in view.aggregate_features()
    ]
    types: dict[str, str] = {}
    for items in (rows, aggregates):
        if items:
            select = ", ".join(f"{sql} AS {ident(name)}" for name, sql in items)
            described = con.execute(f"DESCRIBE SELECT {select} FROM {compiled.relation}")
            types |= {str(row[0]): str(row[1]) for row in described.fetchall()}
    return types
