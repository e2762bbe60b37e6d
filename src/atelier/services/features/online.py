"""Online stores: the latest feature values per entity, for lookups by key while serving.

A store implements :class:`OnlineStore` (``replace``, ``upsert``, ``read``, ``drop``) and is
registered by name in :data:`STORES`; ``features.online_store`` in the settings picks one:

* ``sqlite`` — a SQLite file in the workspace (``data/online_features.sqlite``), the default;
* ``redis`` — ``features.redis_url``; one string per entity and view.

A record is a JSON list ``[event_ns, value, ...]`` in the order of the view's columns, stored
with the view's column names and Arrow types so values come back with their types.
"""

from __future__ import annotations

import json
import sqlite3
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from atelier.config.settings import FeatureSettings
from atelier.errors import AtelierError

if TYPE_CHECKING:
    import pyarrow as pa

Record = list[Any]


class OnlineStoreError(AtelierError):
    status_code = 503


def encode_key(values: Sequence[Any]) -> str:
    return json.dumps([_plain(v) for v in values], separators=(",", ":"))


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, date):
        return value.isoformat()
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    return value


def to_records(table: pa.Table) -> list[Record]:
    """Rows of ``table`` as JSON-safe lists; timestamps as integers in their unit."""
    import pyarrow as pa

    columns = []
    for column in table.columns:
        kind = column.type
        if pa.types.is_timestamp(kind) or pa.types.is_duration(kind):
            column = column.cast(pa.int64())
        elif pa.types.is_date32(kind):
            column = column.cast(pa.int32())
        columns.append([_plain(v) for v in column.to_pylist()])
    return [list(row) for row in zip(*columns, strict=True)] if columns else []


def from_values(values: list[Any], kind: pa.DataType) -> pa.Array:
    """The inverse of :func:`to_records` for one column."""
    import pyarrow as pa

    if pa.types.is_timestamp(kind) or pa.types.is_duration(kind):
        return pa.array(values, pa.int64()).cast(kind)
    if pa.types.is_date32(kind):
        return pa.array(values, pa.int32()).cast(kind)
    if pa.types.is_decimal(kind):
        return pa.array([None if v is None else Decimal(v) for v in values], kind)
    return pa.array(values, kind)


class OnlineStore(ABC):
    """Latest values per (view, entity key). ``schema``: the view's column names and types."""

    name: ClassVar[str]

    def __init__(self, settings: FeatureSettings, root: Path) -> None:
        self.settings = settings
        self.root = root

    @abstractmethod
    def replace(self, view: str, schema: pa.Schema, rows: Iterable[tuple[str, Record]]) -> int:
        """Make ``rows`` the view's only records (a full materialization); return the count."""

    @abstractmethod
    def upsert(self, view: str, schema: pa.Schema, rows: Iterable[tuple[str, Record]]) -> int:
        """Write ``rows`` over the view's records with the same keys."""

    @abstractmethod
    def read(self, view: str, keys: Sequence[str]) -> tuple[pa.Schema | None, list[Record | None]]:
        """The records of ``keys`` (None where unknown) and the view's schema (None: never
        materialized)."""

    @abstractmethod
    def drop(self, view: str) -> None: ...

    def close(self) -> None:
        return None


def schema_text(schema: pa.Schema) -> str:
    return str(schema.serialize().to_pybytes().hex())


def schema_from_text(text: str) -> pa.Schema:
    import pyarrow as pa

    return pa.ipc.read_schema(pa.py_buffer(bytes.fromhex(text)))


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


class RedisOnlineStore(OnlineStore):
    """``atelier:features:<view>`` holds the schema, ``atelier:features:<view>:<key>`` a
    record. A full materialization writes every record, then removes the keys it did not
    write."""

    name = "redis"
    PREFIX = "atelier:features:"

    def __init__(self, settings: FeatureSettings, root: Path) -> None:
        import redis

        self.client = redis.Redis.from_url(settings.redis_url, socket_timeout=10)
        self.url = settings.redis_url

    def _guard(self, fn: Any) -> Any:
        import redis

        try:
            return fn()
        except redis.RedisError as error:
            raise OnlineStoreError(f"the Redis online store is not reachable: {error}") from None

    def _write(
        self, view: str, schema: pa.Schema, rows: Iterable[tuple[str, Record]], *, clear: bool
    ) -> int:
        prefix = f"{self.PREFIX}{view}:"
        written: set[str] = set()

        def run() -> int:
            self.client.set(f"{self.PREFIX}{view}", schema_text(schema))
            pipe = self.client.pipeline(transaction=False)
            count = 0
            for key, record in rows:
                pipe.set(prefix + key, json.dumps(record, separators=(",", ":")))
                if clear:
                    written.add(prefix + key)
                count += 1
                if count % 5_000 == 0:
                    pipe.execute()
            pipe.execute()
            if clear:
                stale = [
                    k
                    for k in self.client.scan_iter(match=_escape(prefix) + "*", count=5_000)
                    if k.decode() not in written
                ]
                for start in range(0, len(stale), 5_000):
                    self.client.delete(*stale[start : start + 5_000])
            return count

        result: int = self._guard(run)
        return result

    def replace(self, view: str, schema: pa.Schema, rows: Iterable[tuple[str, Record]]) -> int:
        return self._write(view, schema, rows, clear=True)

    def upsert(self, view: str, schema: pa.Schema, rows: Iterable[tuple[str, Record]]) -> int:
        return self._write(view, schema, rows, clear=False)

    def read(self, view: str, keys: Sequence[str]) -> tuple[pa.Schema | None, list[Record | None]]:
        def run() -> tuple[pa.Schema | None, list[Record | None]]:
            schema = self.client.get(f"{self.PREFIX}{view}")
            if schema is None:
                return None, [None] * len(keys)
            values = self.client.mget([f"{self.PREFIX}{view}:{k}" for k in keys]) if keys else []
            records = [json.loads(v) if v is not None else None for v in values]
            text = schema.decode() if isinstance(schema, bytes) else str(schema)
            return schema_from_text(text), records

        result: tuple[pa.Schema | None, list[Record | None]] = self._guard(run)
        return result

    def drop(self, view: str) -> None:
        def run() -> None:
            prefix = f"{self.PREFIX}{view}:"
            keys = list(self.client.scan_iter(match=_escape(prefix) + "*", count=5_000))
            for start in range(0, len(keys), 5_000):
                self.client.delete(*keys[start : start + 5_000])
            self.client.delete(f"{self.PREFIX}{view}")

        self._guard(run)

    def close(self) -> None:
        self.client.close()


def _escape(pattern: str) -> str:
    for char in "\\*?[]":
        pattern = pattern.replace(char, "\\" + char)
    return pattern


STORES: dict[str, type[OnlineStore]] = {
    SqliteOnlineStore.name: SqliteOnlineStore,
    RedisOnlineStore.name: RedisOnlineStore,
}


def open_store(settings: FeatureSettings, root: Path) -> OnlineStore:
    """The online store the settings name."""
    return STORES[settings.online_store](settings, root)
