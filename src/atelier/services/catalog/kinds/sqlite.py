"""SQLite: a database file on the server, attached ``READ_ONLY``."""

from __future__ import annotations

from pathlib import Path

from atelier.errors import InvalidInput
from atelier.services.catalog.kinds.base import FileKind


class SqliteKind(FileKind):
    name = "sqlite"

    def check_path(self, path: Path) -> Path:
        path = super().check_path(path)
        if not path.is_file():
            raise InvalidInput(f"option path: {path} is not a SQLite database file")
        return path
