"""Values as JSON carries them: what the API's JSON answers hold (rows of a query, sample rows
of a table, statistics), and what the CLI prints with ``--json``. Numbers stay numbers (non-finite
floats and decimals aside), dates and times become ISO text, intervals readable text, bytes
base64, nested values lists and objects. No pandas, and pyarrow only when rows are converted.
"""

from __future__ import annotations

import base64
import math
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from uuid import UUID

if TYPE_CHECKING:
    import pyarrow


def json_safe(value: Any) -> Any:
    """``value`` as JSON-friendly Python: numbers stay numbers (non-finite floats become the
    strings ``"NaN"``/``"Infinity"``/``"-Infinity"``, which JSON cannot hold), dates become ISO
    text, bytes become base64 text, containers are converted item by item."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, Decimal):
        return json_safe(float(value))
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return str(value)
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, dict):
        return {str(json_safe(k)): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [json_safe(item) for item in value]
    return str(value)


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
