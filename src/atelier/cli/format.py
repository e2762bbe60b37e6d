"""How the CLI shows values: sizes, numbers, one-line errors (no heavy imports here)."""

from __future__ import annotations

import math
import re
from typing import Any

_POINTER = re.compile(r"LINE (\d+): ?(.*)\n( *)\^")


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
    """Bytes as ``12.3 MB``."""
    if value is None:
        return "—"
    amount = float(value)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if amount < 1024 or unit == "TB":
            return f"{amount:.0f} {unit}" if unit == "B" else f"{amount:.1f} {unit}"
        amount /= 1024
    return f"{value} B"  # pragma: no cover


def short(value: Any, width: int = 24) -> str:
    """``value`` as text of at most ``width`` characters (``—`` for None)."""
    text = "—" if value is None else str(value)
    return text if len(text) <= width else text[: width - 1] + "…"


def one_line(message: str) -> str:
    """DuckDB's multi-line message on one line, its ``LINE n: … ^`` pointer turned into
    ``(line n, column c)`` (the CLI prints errors on one line)."""
    where = ""
    match = _POINTER.search(message)
    if match:
        line, text, pad = match.groups()
        column = len(pad) - len(f"LINE {line}: ") + 1
        # DuckDB shortens long lines with "...", which moves the caret: keep the line only.
        where = f" (line {line})" if text.startswith("...") else f" (line {line}, column {column})"
        message = message[: match.start()] + message[match.end() :]
    return " ".join(part.strip() for part in message.splitlines() if part.strip()) + where
