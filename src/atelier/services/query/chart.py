"""The chart of a query result: a Vega-Lite spec, built here and drawn by vega-embed.

The default picks the first date or text column as x and the first numeric column as y: a line
over dates, bars over categories; two numeric columns and nothing else make a scatter plot.
Another text column with few values colours the marks (one line or bar segment per value).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Literal

from atelier.services.query.result import Column

VegaType = Literal["quantitative", "temporal", "nominal"]
MARKS = ("bar", "line", "point", "area")
SCHEMA = "https://vega.github.io/schema/vega-lite/v6.json"
#: A text column with more values than this would make an unreadable legend.
MAX_COLORS = 12

_NUMERIC = re.compile(
    r"^(U?(TINY|SMALL|BIG|HUGE)?INT(EGER)?|U?HUGEINT|FLOAT|DOUBLE|REAL|DECIMAL.*|NUMERIC.*)$"
)
_TEMPORAL = re.compile(r"^(DATE|TIMESTAMP.*)$")


def vega_type(duckdb_type: str) -> VegaType:
    """How Vega-Lite should read a column of DuckDB type ``duckdb_type``."""
    name = duckdb_type.upper().strip()
    if _NUMERIC.match(name):
        return "quantitative"
    if _TEMPORAL.match(name):
        return "temporal"
    return "nominal"


def default_axes(columns: Sequence[Column]) -> tuple[str, str, str] | None:
    """``(x, y, mark)`` for a result, or None when it has nothing to plot."""
    kinds = [(c.name, vega_type(c.type)) for c in columns]
    numeric = [name for name, kind in kinds if kind == "quantitative"]
    other = [(name, kind) for name, kind in kinds if kind != "quantitative"]
    if other and numeric:
        x, kind = other[0]
        return x, numeric[0], "line" if kind == "temporal" else "bar"
    if len(numeric) >= 2:
        return numeric[0], numeric[1], "point"
    return None


def field(name: str) -> str:
    """A column name as a Vega-Lite field: dots and brackets would mean nesting otherwise."""
    return re.sub(r"([\\.\[\]])", r"\\\1", name)


def default_color(columns: Sequence[Column], rows: Sequence[Sequence[Any]], x: str) -> str | None:
    """The first text column other than x with at most :data:`MAX_COLORS` values, if any."""
    for index, column in enumerate(columns):
        if (
            column.name != x
            and vega_type(column.type) == "nominal"
            and len({_hashable(row[index]) for row in rows}) <= MAX_COLORS
        ):
            return column.name
    return None


def chart_spec(
    columns: Sequence[Column],
    rows: Sequence[Sequence[Any]],
    *,
    x: str | None = None,
    y: str | None = None,
    mark: str | None = None,
    color: str | None = None,
) -> dict[str, Any] | None:
    """A Vega-Lite spec plotting JSON-safe ``rows``; x, y, mark and color default to
    :func:`default_axes` and :func:`default_color`. None when there is nothing to plot."""
    default = default_axes(columns)
    if default is None and not (x and y):
        return None
    dx, dy, dmark = default or (x, y, "point")
    x, y, mark = x or dx, y or dy, mark or dmark
    types = {c.name: vega_type(c.type) for c in columns}
    if x not in types or y not in types or mark not in MARKS:
        return None
    color = color or default_color(columns, rows, x)
    names = [c.name for c in columns]
    encoding: dict[str, Any] = {
        # sort None keeps the query's own ORDER BY for categories.
        "x": {"field": field(x), "type": types[x], "title": x}
        | ({"sort": None} if types[x] == "nominal" else {}),
        "y": {"field": field(y), "type": types[y], "title": y},
    }
    if color in types:
        encoding["color"] = {"field": field(color), "type": types[color], "title": color}
    return {
        "$schema": SCHEMA,
        "data": {"values": [dict(zip(names, row, strict=True)) for row in rows]},
        "mark": {"type": mark, "tooltip": True},
        "encoding": encoding,
        "width": "container",
        "height": 320,
    }


def _hashable(value: Any) -> Any:
    return repr(value) if isinstance(value, list | dict) else value
