"""The warehouse tables that logged predictions land in: ``predictions.<model>``.

One row per prediction: its id (returned to the caller, referenced by feedback), time,
model and version, caller, app, the inputs and probabilities as JSON text, the prediction and
its probability, and the time the model took. Each shipment is one DuckLake snapshot for all
the tables it touches; a replayed shipment skips the ids that are there already.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from atelier.backends.warehouse.sql import ident

if TYPE_CHECKING:
    import duckdb
    import pyarrow

    from atelier.backends.warehouse import Warehouse

SCHEMA = "predictions"
COLUMNS = (
    ("prediction_id", "VARCHAR"),
    ("predicted_at", "TIMESTAMPTZ"),
    ("model", "VARCHAR"),
    ("model_version", "INTEGER"),
    ("caller", "VARCHAR"),
    ("app", "VARCHAR"),
    ("inputs", "VARCHAR"),
    ("prediction", "VARCHAR"),
    ("probability", "DOUBLE"),
    ("probabilities", "VARCHAR"),
    ("latency_ms", "DOUBLE"),
)


def table_name(model: str) -> str:
    """The table of ``model``'s predictions in schema ``predictions`` (a plain identifier)."""
    name = re.sub(r"[^a-z0-9_]+", "_", model.lower()).strip("_") or "model"
    return name if name[0].isalpha() else f"m_{name}"


def create_statements(schema: str, table: str, columns: Sequence[tuple[str, str]]) -> list[str]:
    body = ", ".join(f"{ident(name)} {kind}" for name, kind in columns)
    return [
        f"CREATE SCHEMA IF NOT EXISTS {ident(schema)}",
        f"CREATE TABLE IF NOT EXISTS {ident(schema)}.{ident(table)} ({body})",
    ]


def arrow_rows(
    records: Sequence[dict[str, Any]], columns: Sequence[tuple[str, str]]
) -> pyarrow.Table:
    import pyarrow as pa

    types = {
        "VARCHAR": pa.string(),
        "INTEGER": pa.int32(),
        "BIGINT": pa.int64(),
        "DOUBLE": pa.float64(),
        "BOOLEAN": pa.bool_(),
        "TIMESTAMPTZ": pa.timestamp("us", tz="UTC"),
    }
    schema = pa.schema([(name, types[kind]) for name, kind in columns])
    data = {name: [record.get(name) for record in records] for name, _ in columns}
    for name, kind in columns:
        if kind == "TIMESTAMPTZ":
            from datetime import datetime

            data[name] = [
                datetime.fromisoformat(v) if isinstance(v, str) else v for v in data[name]
            ]
    return pa.table(data, schema=schema)


def insert(
    connection: duckdb.DuckDBPyConnection,
    schema: str,
    table: str,
    rows: pyarrow.Table,
    key: str,
    *,
    skip_existing: bool,
) -> None:
    """Append ``rows`` to ``schema.table``; with ``skip_existing``, rows whose ``key`` is in
    the table already are left out (a replay after a partial failure)."""
    view = f"atelier_batch_{table}"
    connection.register(view, rows)
    try:
        target = f"{ident(schema)}.{ident(table)}"
        names = ", ".join(ident(name) for name in rows.column_names)
        where = (
            f" WHERE {ident(key)} NOT IN (SELECT {ident(key)} FROM {target})"
            if skip_existing
            else ""
        )
        connection.execute(
            f"INSERT INTO {target} ({names}) SELECT {names} FROM {ident(view)}{where}"
        )
    finally:
        connection.unregister(view)


class PredictionTables:
    """Ships journaled predictions into ``predictions.<model>``, one snapshot per shipment."""

    def __init__(self, warehouse: Warehouse) -> None:
        self.warehouse = warehouse

    def ship(self, records: Sequence[dict[str, Any]], replay: bool) -> None:
        groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for record in records:
            groups[table_name(str(record.get("model", "")))].append(record)
        batches = {table: arrow_rows(rows, COLUMNS) for table, rows in groups.items()}

        def write(connection: duckdb.DuckDBPyConnection) -> None:
            for table, rows in batches.items():
                for statement in create_statements(SCHEMA, table, COLUMNS):
                    connection.execute(statement)
                insert(connection, SCHEMA, table, rows, "prediction_id", skip_existing=replay)

        self.warehouse.run_write(
            write,
            author="atelier",
            message=f"{len(records)} predictions logged",
        )
