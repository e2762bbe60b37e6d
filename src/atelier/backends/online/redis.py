"""The Redis online store (``features.redis_url``): one string per entity and view, for
serving from several machines."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from atelier.backends.online.base import (
    OnlineStore,
    OnlineStoreError,
    Record,
    schema_from_text,
    schema_text,
)
from atelier.config.settings import FeatureSettings

if TYPE_CHECKING:
    import pyarrow as pa


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
