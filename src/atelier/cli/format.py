"""How the CLI shows values: sizes, numbers, one-line errors (no heavy imports here)."""

from __future__ import annotations

import re
from typing import Any

from atelier.contract.display import number, size

__all__ = ["number", "one_line", "short", "size"]

_POINTER = re.compile(r"LINE (\d+): ?(.*)\n( *)\^")


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
