"""Result rows as JSON-safe values: numbers stay numbers (decimals become floats), dates and
times become ISO text, intervals readable text, nested values lists and objects."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from atelier.services.catalog.values import json_safe

if TYPE_CHECKING:
    import pyarrow


def json_rows(table: pyarrow.Table) -> list[list[Any]]:
    """The rows of ``table``, each a list of JSON-safe values in column order."""
    import pyarrow

    columns = []
    for column in table.columns:
        if pyarrow.types.is_interval(column.type):
            columns.append([_interval(v) for v in column.to_pylist()])
        else:
            columns.append(json_safe(column.to_pylist()))
    return [list(row) for row in zip(*columns, strict=True)]


def _interval(value: Any) -> str | None:
    if value is None:
        return None
    months, days, nanoseconds = value.months, value.days, value.nanoseconds
    parts = [f"{months} months" if months else "", f"{days} days" if days else ""]
    if nanoseconds or not (months or days):
        parts.append(f"{nanoseconds / 1e9:g} seconds")
    return " ".join(p for p in parts if p)
