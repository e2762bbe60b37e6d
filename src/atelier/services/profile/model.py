"""What a profile holds: per-column statistics, top values and histogram bins, JSON-safe."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from atelier.services.catalog import json_safe

ColumnKind = Literal["numeric", "temporal", "boolean", "text", "other"]


@dataclass(frozen=True)
class Bin:
    """``count`` values in ``[low, high)`` (the last bin includes ``high``). Temporal bins have
    ISO-8601 text bounds; integer columns with few values get one bin per value."""

    low: Any
    high: Any
    count: int

    def as_dict(self) -> dict[str, Any]:
        return {"low": json_safe(self.low), "high": json_safe(self.high), "count": self.count}


@dataclass(frozen=True)
class ColumnProfile:
    """One column. ``distinct`` is exact when ``distinct_exact``, else a HyperLogLog estimate;
    ``q25``/``q50``/``q75`` are approximate quantiles; ``top_values`` are ``(value, count)``
    pairs, counts None when only the values are known (``approx_top_k`` on many values)."""

    name: str
    type: str
    kind: ColumnKind
    count: int
    nulls: int
    distinct: int | None
    distinct_exact: bool
    min: Any = None
    max: Any = None
    mean: Any = None
    std: float | None = None
    q25: Any = None
    q50: Any = None
    q75: Any = None
    top_values: tuple[tuple[Any, int | None], ...] = ()
    histogram: tuple[Bin, ...] = ()
    note: str | None = None

    @property
    def null_fraction(self) -> float:
        total = self.count + self.nulls
        return self.nulls / total if total else 0.0

    @property
    def top_exact(self) -> bool:
        return all(count is not None for _, count in self.top_values)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "kind": self.kind,
            "count": self.count,
            "nulls": self.nulls,
            "null_fraction": self.null_fraction,
            "distinct": self.distinct,
            "distinct_exact": self.distinct_exact,
            "min": json_safe(self.min),
            "max": json_safe(self.max),
            "mean": json_safe(self.mean),
            "std": json_safe(self.std),
            "quantiles": {
                "q25": json_safe(self.q25),
                "q50": json_safe(self.q50),
                "q75": json_safe(self.q75),
            },
            "top_values": [
                {"value": json_safe(value), "count": count} for value, count in self.top_values
            ],
            "top_exact": self.top_exact,
            "histogram": [b.as_dict() for b in self.histogram],
            "note": self.note,
        }


@dataclass(frozen=True)
class Profile:
    """A table's profile, as it is now or at ``version``."""

    table: str
    version: int | None
    rows: int
    columns: tuple[ColumnProfile, ...] = field(default=())

    def column(self, name: str) -> ColumnProfile:
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(name)

    def as_dict(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "version": self.version,
            "rows": self.rows,
            "columns": [c.as_dict() for c in self.columns],
        }
