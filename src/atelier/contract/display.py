"""How Atelier shows numbers, times and sizes to people, the same in the portal and the CLI."""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal
from typing import Any


def number(value: Any, digits: int = 6) -> str:
    """A value as a person reads it.

    Whole numbers get thousands separators (``1234567`` -> ``1,234,567``). Floats keep every
    digit before the point and are rounded to ``digits`` significant digits after it, so
    ``288309.5`` reads ``288,309.5`` and ``0.123456789`` reads ``0.123457``; very large and
    very small magnitudes use scientific notation. Times go through :func:`timestamp`;
    other values are shown as text.
    """
    if value is None:
        return "—"
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return timestamp(value)
    if isinstance(value, Decimal):
        value = float(value)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if not math.isfinite(value):
        return str(value)
    if value == 0:
        return "0"
    if abs(value) >= 1e15 or abs(value) < 1e-4:
        mantissa, exp = f"{value:.{max(digits - 1, 1)}e}".split("e")
        mantissa = mantissa.rstrip("0").rstrip(".")
        return f"{mantissa}e{int(exp)}"
    exponent = math.floor(math.log10(abs(value)))
    # Whole-number digits are never rounded away; at least one decimal for values with a
    # fraction beyond the significant digits (288,309.5), none when it rounds to zero.
    decimals = max(digits - 1 - exponent, 1)
    text = f"{value:,.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def timestamp(value: dt.datetime | dt.date | dt.time | None, *, precise: bool = False) -> str:
    """``2026-12-06 01:45:26``, with the UTC offset when the time has one other than UTC.

    Times are shown to the second; ``precise=True`` adds milliseconds where sub-second
    differences matter (event times, durations). Microseconds are never shown.
    """
    if value is None:
        return "—"
    if isinstance(value, dt.datetime):
        text = value.strftime("%Y-%m-%d %H:%M:%S")
        if precise and value.microsecond:
            text += f".{value.microsecond // 1000:03d}"
        offset = value.utcoffset()
        if offset:
            minutes = int(offset.total_seconds() // 60)
            sign = "+" if minutes >= 0 else "-"
            text += f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
        return text
    if isinstance(value, dt.time):
        text = value.strftime("%H:%M:%S")
        if precise and value.microsecond:
            text += f".{value.microsecond // 1000:03d}"
        return text
    return value.isoformat()


def size(value: int | None) -> str:
    """Bytes as ``12.3 MB``."""
    if value is None:
        return "—"
    amount = float(value)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if amount < 1024 or unit == "TB":
            return f"{amount:.0f} {unit}" if unit == "B" else f"{amount:.1f} {unit}"
        amount /= 1024
    return f"{value} B"  # pragma: no cover
