"""What detection and uploads return: plain values, ready for JSON."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

#: ``progress(stage, percent)``: stage is "preparing", "reading" or "committing"; percent is
#: a number from 0 to 100 while reading, None when unknown.
Progress = Callable[[str, float | None], None]


@dataclass(frozen=True)
class Column:
    name: str
    type: str

    def as_dict(self) -> dict[str, str]:
        return {"name": self.name, "type": self.type}


@dataclass(frozen=True)
class Preview:
    """What a file looks like to Atelier: the options it would be read with (detected or
    given), its columns with their inferred types, and its first rows as text."""

    file: str
    format: str
    options: dict[str, Any]
    columns: list[Column]
    rows: list[list[str | None]]
    upload_id: str | None = None
    size: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "upload_id": self.upload_id,
            "file": self.file,
            "size": self.size,
            "format": self.format,
            "options": self.options,
            "columns": [c.as_dict() for c in self.columns],
            "rows": self.rows,
        }


@dataclass(frozen=True)
class UploadResult:
    """A committed upload: the table, the version it made (``table_version``: the table's own
    number, 1 for a new table; ``version``: the lake-wide DuckLake snapshot id), and how many
    rows it wrote."""

    table: str
    version: int
    rows: int
    mode: str
    columns: list[Column] = field(default_factory=list)
    #: Ragged rows left out, with ``ragged = "skip"``.
    skipped: int = 0
    table_version: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "version": self.version,
            "table_version": self.table_version,
            "rows": self.rows,
            "mode": self.mode,
            "columns": [c.as_dict() for c in self.columns],
            "skipped": self.skipped,
        }
