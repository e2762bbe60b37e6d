"""The tables a feature view reads, from its definition alone (nothing is run)."""

from __future__ import annotations

import json
import threading
from typing import Any

from atelier.services.features.definitions import FeatureView

_parsers = threading.local()


def serialize(sql: str) -> dict[str, Any]:
    """DuckDB's parse tree of ``sql`` (``json_serialize_sql``; ``{"error": true, ...}`` when it
    cannot be serialized), parsed on an in-memory connection of this thread's, opened once:
    parsing reads nothing."""
    import duckdb

    con = getattr(_parsers, "connection", None)
    if con is None:
        con = _parsers.connection = duckdb.connect()
    row = con.execute("SELECT json_serialize_sql(?::VARCHAR)", [sql]).fetchone()
    tree: dict[str, Any] = json.loads(row[0]) if row else {"error": True}
    return tree


def upstream_tables(view: FeatureView) -> list[str]:
    """Tables the view reads (those named in its query, for a query source): ``schema.table``
    in the warehouse, ``source.schema.table`` in an attached source."""
    if view.source is not None:
        return [view.source if "." in view.source else f"main.{view.source}"]
    tree = serialize(str(view.query))
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "BASE_TABLE" and node.get("table_name"):
                name = f"{node.get('schema_name') or 'main'}.{node['table_name']}"
                if node.get("catalog_name"):
                    name = f"{node['catalog_name']}.{name}"
                if name not in found:
                    found.append(name)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(tree if not tree.get("error") else {})
    return found
