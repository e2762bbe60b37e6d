"""Entity keys and records as JSON: what every online store writes and reads back."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from atelier.backends.online.base import Record

if TYPE_CHECKING:
    import pyarrow as pa


def encode_key(values: Sequence[Any]) -> str:
    return json.dumps([_plain(v) for v in values], separators=(",", ":"))


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, date):
        return value.isoformat()
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    return value


def to_records(table: pa.Table) -> list[Record]:
    """Rows of ``table`` as JSON-safe lists; timestamps as integers in their unit."""
    import pyarrow as pa

    columns = []
    for column in table.columns:
        kind = column.type
        if pa.types.is_timestamp(kind) or pa.types.is_duration(kind):
            column = column.cast(pa.int64())
        elif pa.types.is_date32(kind):
            column = column.cast(pa.int32())
        columns.append([_plain(v) for v in column.to_pylist()])
    return [list(row) for row in zip(*columns, strict=True)] if columns else []


def from_values(values: list[Any], kind: pa.DataType) -> pa.Array:
    """The inverse of :func:`to_records` for one column."""
    import pyarrow as pa

    if pa.types.is_timestamp(kind) or pa.types.is_duration(kind):
        return pa.array(values, pa.int64()).cast(kind)
    if pa.types.is_date32(kind):
        return pa.array(values, pa.int32()).cast(kind)
    if pa.types.is_decimal(kind):
        return pa.array([None if v is None else Decimal(v) for v in values], kind)
    return pa.array(values, kind)
