"""Sizes (``"2GB"``, ``"512MiB"``) and durations (``"90s"``, ``"1h30m"``) as people write them."""

from __future__ import annotations

import re

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]i?b|b)?\s*$", re.IGNORECASE)
_SIZE_UNITS = {
    "b": 1,
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
    "tb": 1000**4,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
    "tib": 1024**4,
}
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([dhms])", re.IGNORECASE)
_DURATION_UNITS = {"d": 86400, "h": 3600, "m": 60, "s": 1}


def parse_size(text: str | int) -> int:
    """Bytes in ``text``: a number of bytes, or a number with B, KB, MB, GB, TB (powers of
    1000) or KiB, MiB, GiB, TiB (powers of 1024). Raises ValueError with what is accepted."""
    if isinstance(text, int):
        if text < 0:
            raise ValueError("a size cannot be negative")
        return text
    match = _SIZE.match(text)
    if not match:
        raise ValueError(
            f"{text!r} is not a size: write e.g. 512MB, 2GB or 4GiB (KB/MB/GB/TB are powers of "
            "1000, KiB/MiB/GiB/TiB powers of 1024)"
        )
    number, unit = match.groups()
    return int(float(number) * _SIZE_UNITS[(unit or "b").lower()])


def parse_duration(text: str | float) -> float:
    """Seconds in ``text``: a number of seconds, or parts like ``90s``, ``30m``, ``2h``,
    ``1d``, ``1h30m``. Raises ValueError with what is accepted."""
    if isinstance(text, int | float):
        if text < 0:
            raise ValueError("a duration cannot be negative")
        return float(text)
    stripped = text.strip()
    try:
        return parse_duration(float(stripped))
    except ValueError:
        pass
    parts = _DURATION_PART.findall(stripped)
    if not parts or _DURATION_PART.sub("", stripped).strip():
        raise ValueError(f"{text!r} is not a duration: write e.g. 90s, 30m, 2h, 1d or 1h30m")
    return float(sum(float(n) * _DURATION_UNITS[u.lower()] for n, u in parts))


def format_size(size: int) -> str:
    """``2000000000`` -> ``2.0 GB`` (powers of 1000, as profiles are usually written)."""
    value = float(size)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")


def format_duration(seconds: float) -> str:
    """``5400`` -> ``1h30m``; ``2.5`` -> ``2.5s``."""
    if seconds < 60:
        return f"{seconds:.1f}s" if seconds % 1 else f"{seconds:.0f}s"
    whole = round(seconds)
    out = ""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, whole = divmod(whole, size)
        if count:
            out += f"{count}{unit}"
    return out
