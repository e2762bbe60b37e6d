"""Formatting for the data pages: compact numbers and sizes, and histogram bars as inline SVG
geometry (drawn on the server, so the pages need no chart library and work offline)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from atelier.services.profile import ColumnProfile

WIDTH = 320
HEIGHT = 90


def number(value: Any, digits: int = 4) -> str:
    """``1234567`` -> ``1,234,567``; floats to ``digits`` significant digits; text as is."""
    if value is None:
        return "—"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if not math.isfinite(value):
        return str(value)
    if value != 0 and (abs(value) >= 1e12 or abs(value) < 1e-4):
        return f"{value:.{digits}g}"
    if value == int(value) and abs(value) < 1e15:
        return f"{int(value):,}"
    decimals = max(0, digits - 1 - math.floor(math.log10(abs(value))))
    return f"{value:,.{decimals}f}".rstrip("0").rstrip(".")


def size(value: int | None) -> str:
    if value is None:
        return "—"
    amount = float(value)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if amount < 1024 or unit == "TB":
            return f"{amount:.0f} {unit}" if unit == "B" else f"{amount:.1f} {unit}"
        amount /= 1024
    return f"{value} B"  # pragma: no cover


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
