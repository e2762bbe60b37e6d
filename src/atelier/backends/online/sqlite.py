"""The default online store: a SQLite file in the workspace (``data/online_features.sqlite``).

Each write is one transaction, so readers see a view's old records or all of its new ones.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from atelier.backends.online.base import OnlineStore, Record, schema_from_text, schema_text
from atelier.config.settings import FeatureSettings

if TYPE_CHECKING:
    import pyarrow as pa


class SqliteOnlineStore(OnlineStore):
    name = "sqlite"

    def __init__(self, settings: FeatureSettings, root: Path) -> None:
        self.path = root / "data" / "online_features.sqlite"

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(self.path, timeout=30)
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute(
            "CREATE TABLE IF NOT EXISTS views (view TEXT PRIMARY KEY, schema TEXT NOT NULL)"
        )
        connection.execute(
            "CREATE TABLE IF NOT EXISTS records (view TEXT NOT NULL, key TEXT NOT NULL, "
            "record TEXT NOT NULL, PRIMARY KEY (view, key)) WITHOUT ROWID"
        )
        return connection

    def _write(
        self, view: str, schema: pa.Schema, rows: Iterable[tuple[str, Record]], *, clear: bool
    ) -> int:
        connection = self._connect()
        count = 0
        try:
            with connection:  # one transaction: readers see the old records or all new ones
                if clear:
                    connection.execute("DELETE FROM records WHERE view = ?", [view])
                connection.execute(
                    "INSERT OR REPLACE INTO views VALUES (?, ?)", [view, schema_text(schema)]
                )
                batch: list[tuple[str, str, str]] = []
                for key, record in rows:
                    batch.append((view, key, json.dumps(record, separators=(",", ":"))))
                    if len(batch) >= 10_000:
                        connection.executemany(
                            "INSERT OR REPLACE INTO records VALUES (?,?,?)", batch
                        )
                        count += len(batch)
                        batch.clear()
                connection.executemany("INSERT OR REPLACE INTO records VALUES (?,?,?)", batch)
                count += len(batch)
        finally:
            connection.close()
        return count

    def replace(self, view: str, schema: pa.Schema, rows: Iterable[tuple[str, Record]]) -> int:
        return self._write(view, schema, rows, clear=True)

    def upsert(self, view: str, schema: pa.Schema, rows: Iterable[tuple[str, Record]]) -> int:
        return self._write(view, schema, rows, clear=False)

    def read(self, view: str, keys: Sequence[str]) -> tuple[pa.Schema | None, list[Record | None]]:
        connection = self._connect()
        try:
            row = connection.execute("SELECT schema FROM views WHERE view = ?", [view]).fetchone()
            if row is None:
                return None, [None] * len(keys)
            found: dict[str, Record] = {}
            unique = list(dict.fromkeys(keys))
            for start in range(0, len(unique), 500):
                chunk = unique[start : start + 500]
                marks = ",".join("?" * len(chunk))
                for key, record in connection.execute(
                    f"SELECT key, record FROM records WHERE view = ? AND key IN ({marks})",
                    [view, *chunk],
                ):
                    found[key] = json.loads(record)
            return schema_from_text(row[0]), [found.get(k) for k in keys]
        finally:
            connection.close()

    def drop(self, view: str) -> None:
        connection = self._connect()
        try:
            with connection:
                connection.execute("DELETE FROM records WHERE view = ?", [view])
                connection.execute("DELETE FROM views WHERE view = ?", [view])
        finally:
            connection.close()
