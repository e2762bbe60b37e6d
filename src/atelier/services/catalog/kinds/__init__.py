"""The kinds of source Atelier can attach, the fields each takes, and how each is attached.

::

    options, secrets = clean("postgres", {"host": "db", "database": "crm"}, {"password": "…"})
    attachment = build("crm", "postgres", options, secrets)    # the SQL that attaches it

Each kind is one :class:`SourceKind` in its own module, found by name in :data:`KINDS`:

* ``postgres`` (:mod:`.postgres`), ``mysql`` (:mod:`.mysql`, MariaDB too) — a database
  server, attached ``READ_ONLY`` through a temporary secret;
* ``sqlite`` (:mod:`.sqlite`) — a database file;
* ``parquet`` (:mod:`.parquet`), ``csv`` (:mod:`.csv`) — a file, or a folder of them;
* ``s3`` (:mod:`.s3`) — a Parquet/CSV prefix read through DuckDB's ``httpfs`` extension,
  exposed as one view.

Non-secret fields are ``options`` (stored and shown); secret fields (passwords, keys) are
``secrets`` (stored apart, never shown). A kind checks what it is given in :meth:`clean`
before anything is stored, and turns a stored source into an attachment in :meth:`attach`.
"""

from __future__ import annotations

from typing import Any

from atelier.backends.warehouse import Attachment
from atelier.errors import InvalidInput
from atelier.services.catalog.kinds.base import SourceKind
from atelier.services.catalog.kinds.csv import CsvKind
from atelier.services.catalog.kinds.mysql import MysqlKind
from atelier.services.catalog.kinds.parquet import ParquetKind
from atelier.services.catalog.kinds.postgres import PostgresKind
from atelier.services.catalog.kinds.s3 import S3Kind, s3_url
from atelier.services.catalog.kinds.sqlite import SqliteKind

KINDS: dict[str, SourceKind] = {
    kind.name: kind
    for kind in (PostgresKind(), MysqlKind(), SqliteKind(), ParquetKind(), CsvKind(), S3Kind())
}
TYPES = tuple(KINDS)
#: Schemas that belong to the database server, not to the data.
SYSTEM_SCHEMAS = frozenset(
    {"information_schema", "pg_catalog", "pg_toast", "mysql", "performance_schema", "sys"}
)


def kind_of(kind: str) -> SourceKind:
    """The kind named ``kind``; a clear error for one that does not exist."""
    found = KINDS.get(kind)
    if found is None:
        raise InvalidInput(f"source type {kind!r} is not supported (use one of {', '.join(TYPES)})")
    return found


def clean(
    kind: str, options: dict[str, Any], secrets: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, str]]:
    """Validated, normalised ``(options, secrets)`` for a source of type ``kind``."""
    return kind_of(kind).clean(options, secrets)


def build(alias: str, kind: str, options: dict[str, Any], secrets: dict[str, str]) -> Attachment:
    """The read-only :class:`Attachment` of a stored source."""
    return kind_of(kind).attach(alias, options, secrets)


__all__ = [
    "KINDS",
    "SYSTEM_SCHEMAS",
    "TYPES",
    "SourceKind",
    "build",
    "clean",
    "kind_of",
    "s3_url",
]
