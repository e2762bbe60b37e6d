"""Excel workbooks (.xlsx): one sheet streamed into a UTF-8 CSV work file for DuckDB to read.

openpyxl's read-only mode parses the sheet row by row, so memory stays flat however large
the sheet. Cells keep their meaning on the way: dates formatted without a time become
``YYYY-MM-DD`` (DuckDB infers DATE), other date cells full timestamps, booleans
``true``/``false``; DuckDB's sniffer then infers column types as it does for any CSV.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from atelier.errors import InvalidInput

_TIME_FORMAT = re.compile(r"[hs]", re.IGNORECASE)


@dataclass(frozen=True)
class Sheet:
    """The converted sheet: its name, every sheet's name, and where its first row was."""

    name: str
    sheets: tuple[str, ...]
    first_row: int


def sheet_to_csv(
    path: Path, sheet: str | None, target: Path, label: str, *, max_rows: int | None = None
) -> Sheet:
    """Write ``sheet`` (a name, or a 1-based position; default the first) of workbook ``path``
    to ``target`` as CSV, stopping after ``max_rows`` rows if given."""
    import openpyxl
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (InvalidFileException, KeyError, OSError, ValueError) as error:
        raise InvalidInput(f"{label}: not a readable Excel workbook ({error})") from None
    except Exception as error:  # zipfile.BadZipFile and friends: all mean "not a workbook"
        raise InvalidInput(f"{label}: not a readable Excel workbook ({error})") from None
    try:
        names = tuple(workbook.sheetnames)
        name = _choose(names, sheet, label)
        worksheet = workbook[name]
        first = _write(worksheet, target, label, name, max_rows)
    finally:
        workbook.close()
    return Sheet(name, names, first)


def _choose(names: tuple[str, ...], sheet: str | None, label: str) -> str:
    if not names:
        raise InvalidInput(f"{label}: the workbook has no sheets")
    if sheet is None:
        return names[0]
    if sheet in names:
        return sheet
    if sheet.isdigit() and 1 <= int(sheet) <= len(names):
        return names[int(sheet) - 1]
    raise InvalidInput(
        f"{label}: no sheet {sheet!r}: the workbook has {', '.join(repr(n) for n in names)}"
    )


def _write(worksheet: Any, target: Path, label: str, sheet: str, max_rows: int | None) -> int:
    first = 0
    width = 0
    pending_blank = 0
    written = 0
    with target.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        for number, row in enumerate(worksheet.iter_rows(), start=worksheet.min_row or 1):
            values = [_text(cell) for cell in row]
            while values and values[-1] == "":
                values.pop()
            if not values:
                # Blank rows count only between data rows, never before or after them.
                pending_blank += 1 if first else 0
                continue
            if not first:
                first, width = number, len(values)
            elif len(values) > width:
                raise InvalidInput(
                    f"{label}: sheet {sheet!r}, row {number}: a value in column {len(values)}, "
                    f"beyond the {width} columns of row {first}"
                )
            for _ in range(pending_blank):
                writer.writerow([""] * width)
            pending_blank = 0
            writer.writerow(values + [""] * (width - len(values)))
            written += 1
            if max_rows is not None and written >= max_rows:
                break
    if not first:
        raise InvalidInput(f"{label}: sheet {sheet!r} is empty")
    return first


def _text(cell: Any) -> str:
    value = getattr(cell, "value", None)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        has_time = _TIME_FORMAT.search(str(getattr(cell, "number_format", "") or ""))
        if not has_time and value.time() == dt.time(0):
            return value.date().isoformat()
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return str(int(value))
    return str(value)
