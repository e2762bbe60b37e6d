"""DuckDB's reading errors, retold for people: ``FILE: line N, column C (NAME): what is wrong``.

DuckDB's CSV errors carry the line, the column and a dozen lines of reader settings; users get
the first three and a hint of what to change. Work-file paths are replaced by the name of the
file the user gave.
"""

from __future__ import annotations

import csv
import gzip
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from atelier.errors import InvalidInput

_LINE = re.compile(r"CSV Error on Line: (\d+)")
_CONVERT = re.compile(
    r'Error when converting column "(?P<column>.*?)"\. Could not convert string "(?P<value>.*?)"'
    r" to '(?P<type>.+?)'"
)
_COUNT = re.compile(r"Expected Number of Columns: (\d+) Found: (\d+)")
_JSON_LINE = re.compile(r"in line (\d+)")
_JSON_NOISE = re.compile(r',? in file "[^"]*"|,? (?:at byte \d+ )?in line \d+')
_PREFIX = re.compile(r"^[A-Za-z ]*Error: ")


@dataclass(frozen=True)
class Place:
    """How to name places in the file: its label, the words for a line, and the line offset
    (an Excel sheet is written out from its first row, so CSV line 1 is sheet row N)."""

    label: str
    paths: tuple[str, ...] = ()
    line_word: str = "line"
    line_offset: int = 0

    def line(self, number: int) -> str:
        return f"{self.line_word} {number + self.line_offset}"


def explain(error: Exception, place: Place, columns: Sequence[str] = ()) -> InvalidInput:
    """An :class:`InvalidInput` for a DuckDB error met while reading ``place``."""
    text = str(error)
    for path in sorted(place.paths, key=len, reverse=True):
        text = text.replace(path, place.label)
    line = _LINE.search(text)
    convert = _CONVERT.search(text)
    count = _COUNT.search(text)
    where = place.label
    if line:
        where += f": {place.line(int(line.group(1)))}"
    if convert:
        name = convert.group("column")
        position = _position(name, columns)
        where += f", column {position}({name})" if position else f", column {name}"
        return InvalidInput(
            f"{where}: {convert.group('value')!r} is not a valid {convert.group('type')}; "
            f"correct the value or read the column as another type (e.g. {name}=VARCHAR)"
        )
    if count:
        return InvalidInput(
            f"{where}: expected {count.group(1)} columns, found {count.group(2)}; every row needs "
            "as many values as the header (check the delimiter and quoting)"
        )
    if "could not allocate" in text or "Out of Memory" in text:
        return InvalidInput(
            f"{place.label}: the reader ran out of memory ({_summary(text)}); "
            "ask an admin to raise the memory limit, or split the file"
        )
    if "Invalid unicode" in text:
        return InvalidInput(
            f"{where}: bytes that are not valid UTF-8; give the file's encoding "
            "(e.g. latin-1, cp1252 or utf-16)"
        )
    if line:
        return InvalidInput(f"{where}: {_summary(text, after_line=True)}")
    json_line = _JSON_LINE.search(text)
    if json_line and "JSON" in text:
        # 'Malformed JSON in file "x", at byte 13 in line 4: unexpected end' -> the reason.
        reason = _JSON_NOISE.sub("", _summary(text))
        return InvalidInput(f"{place.label}: {place.line(int(json_line.group(1)))}: {reason}")
    return InvalidInput(f"{place.label}: {_summary(text)}")


def _position(name: str, columns: Sequence[str]) -> str:
    try:
        return f"{list(columns).index(name) + 1} "
    except ValueError:
        return ""


def _summary(text: str, *, after_line: bool = False) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if after_line:
        # Line 1 says "CSV Error on Line", line 2 repeats the raw line: the reason follows.
        rest = [line for line in lines[1:] if not line.startswith("Original Line")]
        lines = rest or lines
    first = _PREFIX.sub("", lines[0]) if lines else "could not be read"
    first = first.rstrip(". ")
    return first[:1].lower() + first[1:] if first[:2] != first[:2].upper() else first


def find_ragged_row(
    path: Path, encoding: str, delimiter: str, quote: str, skip: int, limit: int = 100_000
) -> tuple[int, int, int] | None:
    """``(line, expected, found)`` of the first row whose number of values differs from the
    first row's, looking at up to ``limit`` rows; None if they all agree.

    DuckDB's sniffer reports only "could not detect the dialect" when a ragged row sits in its
    sample; this finds the row to tell the user.
    """
    with _text(path, encoding) as file:
        for _ in range(skip):
            file.readline()
        reader = csv.reader(file, delimiter=delimiter, quotechar=quote or None)
        expected = None
        for index, row in enumerate(reader):
            if index >= limit:
                break
            if not row:
                continue
            if expected is None:
                expected = len(row)
            elif len(row) != expected:
                return reader.line_num + skip, expected, len(row)
    return None


def has_data_rows(path: Path, encoding: str, delimiter: str, quote: str, lines: int) -> bool:
    """Whether any of the first ``lines`` rows holds more than one value (data, or a header,
    rather than a title line)."""
    with _text(path, encoding) as file:
        reader = csv.reader(file, delimiter=delimiter, quotechar=quote or None)
        for row in reader:
            if reader.line_num > lines:
                break
            if len(row) > 1:
                return True
    return False


def guess_delimiter(path: Path, encoding: str, skip: int) -> str | None:
    """The most frequent of ``, ; TAB |`` on the first line read, if any occurs."""
    with _text(path, encoding) as file:
        for _ in range(skip):
            file.readline()
        first = file.readline(1 << 16)
    counts = {d: first.count(d) for d in ",;\t|"}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else None


def _text(path: Path, encoding: str) -> TextIO:
    if path.suffix.lower() == ".gz":
        return gzip.open(path, "rt", encoding=encoding, errors="replace", newline="")
    return path.open(encoding=encoding, errors="replace", newline="")
