"""Entity frames in, Arrow out: pandas, polars or Arrow tables become one Arrow table, and
event timestamps become exact nanoseconds since the epoch (UTC).

Timestamps are never rounded: nanosecond values stay nanoseconds end to end, time zone-aware
values are compared in UTC and naive ones are taken as UTC; a column that cannot be read as
exact nanoseconds (text, numbers, dates past 2262) is refused with the reason.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from atelier.errors import InvalidInput

if TYPE_CHECKING:
    import pyarrow as pa

#: Column names the engine adds; input frames may not use them.
RESERVED_PREFIX = "__atl_"


def to_arrow(data: Any, what: str = "entity frame") -> pa.Table:
    """An Arrow table from a pyarrow Table/RecordBatch, a pandas or a polars DataFrame."""
    import pyarrow as pa

    if isinstance(data, pa.Table):
        table = data
    elif isinstance(data, pa.RecordBatch):
        table = pa.Table.from_batches([data])
    elif type(data).__module__.startswith("pandas"):
        table = _from_pandas(data)
    elif type(data).__module__.startswith("polars"):
        table = data.to_arrow()
    elif isinstance(data, dict):
        table = pa.table(data)
    else:
        raise InvalidInput(
            f"the {what} must be a pandas, polars or Arrow table (or a warehouse table name), "
            f"not {type(data).__name__}"
        )
    for name in table.column_names:
        if name.startswith(RESERVED_PREFIX):
            raise InvalidInput(f"the {what} may not have a column named {name!r}")
    if len(set(table.column_names)) != len(table.column_names):
        raise InvalidInput(f"the {what} has two columns with the same name")
    return table


def _from_pandas(frame: Any) -> pa.Table:
    import warnings

    import pyarrow as pa

    with warnings.catch_warnings():
        # pyarrow reads zone-aware columns through Series.values, which pandas 3.1 deprecates
        # because it drops the zone; what it reads are the UTC instants, and Arrow keeps the
        # zone from the dtype, so nothing is lost.
        warnings.filterwarnings(
            "ignore", message="Series.values returning an ndarray that drops timezone"
        )
        return pa.Table.from_pandas(frame, preserve_index=False)


def timestamp_column(table: pa.Table, given: str | None) -> str:
    """The entity frame's event time column: ``given``, else ``event_timestamp``, else its only
    timestamp column."""
    import pyarrow as pa

    if given is not None:
        if given not in table.column_names:
            raise InvalidInput(f"the entity frame has no column {given!r}")
        return given
    if "event_timestamp" in table.column_names:
        return "event_timestamp"
    found: list[str] = [
        str(f.name)
        for f in table.schema
        if pa.types.is_timestamp(f.type) or pa.types.is_date(f.type)
    ]
    if len(found) == 1:
        return found[0]
    raise InvalidInput(
        "say which column of the entity frame holds the event time (timestamp=...): "
        + ("it has none of timestamp type" if not found else f"it has {', '.join(found)}")
    )


def event_ns(table: pa.Table, column: str) -> pa.Array:
    """``column`` as int64 nanoseconds since the epoch, UTC, exactly."""
    import pyarrow as pa
    import pyarrow.compute as pc

    values = table.column(column).combine_chunks()
    kind = values.type
    if pa.types.is_date(kind):
        values = pc.cast(values, pa.timestamp("s"))
        kind = values.type
    if not pa.types.is_timestamp(kind):
        raise InvalidInput(
            f"event time column {column!r} is {kind}, not a timestamp: convert it first "
            "(e.g. pandas.to_datetime)"
        )
    try:
        # Arrow keeps zone-aware values as UTC instants, so dropping the zone is exact.
        nanos = pc.cast(values, pa.timestamp("ns", tz=kind.tz), safe=True)
    except pa.ArrowInvalid as error:
        raise InvalidInput(
            f"event time column {column!r} has values outside the nanosecond range "
            f"(1677-09-21 to 2262-04-11): {error}"
        ) from None
    return nanos.view(pa.int64())


def check_storable(table: pa.Table) -> None:
    """Refuse columns DuckLake would round: zone-aware timestamps with sub-microsecond parts
    (DuckDB keeps TIMESTAMPTZ in microseconds; naive TIMESTAMP_NS keeps nanoseconds)."""
    import pyarrow as pa

    for field in table.schema:
        if pa.types.is_timestamp(field.type) and field.type.tz and field.type.unit == "ns":
            ints = table.column(field.name).combine_chunks().view(pa.int64()).fill_null(0)
            if (ints.to_numpy() % 1000).any():
                raise InvalidInput(
                    f"column {field.name!r} has nanosecond timestamps with a time zone, which "
                    "the warehouse stores in microseconds: make them naive UTC (tz_localize"
                    "(None)) to keep the nanoseconds, or round them yourself"
                )
