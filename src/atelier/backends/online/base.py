"""The one base class of the online stores, and how a store keeps a view's schema."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from atelier.config.settings import FeatureSettings
from atelier.errors import AtelierError

if TYPE_CHECKING:
    import pyarrow as pa

Record = list[Any]


class OnlineStoreError(AtelierError):
    status_code = 503


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
