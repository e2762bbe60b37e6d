"""Formatting for the data pages: compact numbers and sizes, and histogram bars as inline SVG
geometry (drawn on the server, so the pages need no chart library and work offline)."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any

# The templates call fmt.number and fmt.size beside the helpers below.
from atelier.contract.display import number, timestamp
from atelier.contract.display import size as size
from atelier.services.profile import ColumnProfile

WIDTH = 320
HEIGHT = 90


def bound(value: Any) -> str:
    """A number or a time (profiles carry temporal bounds as ISO-8601 text) as people read it."""
    if isinstance(value, str) and len(value) > 10:  # a date alone reads well as it is
        try:
            return timestamp(dt.datetime.fromisoformat(value))
        except ValueError:
            return value
    return number(value)


def percent(value: float) -> str:
    return f"{value * 100:.1f}%"


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str


def skewed(column: ColumnProfile) -> bool:
    """Whether a linear histogram of ``column`` hides rows: some non-empty bar would be under
    2% of the tallest, a sliver against the axis beside one spike."""
    counts = [b.count for b in column.histogram or () if b.count]
    return bool(counts) and min(counts) * 50 < max(counts)


def bars(column: ColumnProfile, scale: str = "linear") -> list[Bar]:
    """Histogram bars for numbers and times; bars of the top values for the rest.

    With ``scale="log"`` bar heights follow log(1 + count), so the few rows in the tail of a
    skewed column stay visible beside the spike (the labels keep the real counts)."""
    if scale not in ("linear", "log"):
        raise ValueError(f"unknown histogram scale {scale!r} (use 'linear' or 'log')")
    if column.histogram:
        items = [
            (f"{bound(b.low)} to {bound(b.high)}: {b.count:,}", b.count) for b in column.histogram
        ]
    elif column.top_values and column.top_exact:
        items = [(f"{value}: {count:,}", count or 0) for value, count in column.top_values]
    else:
        return []
    if scale == "log":
        heights = [math.log1p(count) for _, count in items]
    else:
        heights = [float(count) for _, count in items]
    peak = max(heights, default=0.0) or 1.0
    step = WIDTH / len(items)
    gap = 1.0 if step > 3 else 0.0
    result = []
    for i, ((label, _), value) in enumerate(zip(items, heights, strict=True)):
        height = (HEIGHT - 2) * value / peak
        result.append(
            Bar(
                x=round(i * step, 2),
                y=round(HEIGHT - height, 2),
                width=round(max(step - gap, 0.5), 2),
                height=round(height, 2),
                label=label,
            )
        )
    return result
