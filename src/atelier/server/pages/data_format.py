"""Formatting for the data pages: compact numbers and sizes, and histogram bars as inline SVG
geometry (drawn on the server, so the pages need no chart library and work offline)."""

from __future__ import annotations

from dataclasses import dataclass

# The templates call fmt.number and fmt.size beside the helpers below.
from atelier.contract.display import number
from atelier.contract.display import size as size
from atelier.services.profile import ColumnProfile

WIDTH = 320
HEIGHT = 90


def percent(value: float) -> str:
    return f"{value * 100:.1f}%"


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str


def bars(column: ColumnProfile) -> list[Bar]:
    """Histogram bars for numbers and times; bars of the top values for the rest."""
    if column.histogram:
        items = [
            (f"{number(b.low)} to {number(b.high)}: {b.count:,}", b.count) for b in column.histogram
        ]
    elif column.top_values and column.top_exact:
        items = [(f"{value}: {count:,}", count or 0) for value, count in column.top_values]
    else:
        return []
    peak = max((count for _, count in items), default=0) or 1
    step = WIDTH / len(items)
    gap = 1.0 if step > 3 else 0.0
    result = []
    for i, (label, count) in enumerate(items):
        height = (HEIGHT - 2) * count / peak
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
