"""Where DuckLake keeps its catalog: a SQLite file (embedded) or a PostgreSQL database (team).

``catalog_url`` is a plain path, ``sqlite:///relative`` / ``sqlite:////absolute`` (SQLAlchemy's
spelling) or ``postgresql://user:password@host:port/dbname?sslmode=…&schema=…`` (``schema``: where
DuckLake keeps its tables; other parameters are passed to libpq). A PostgreSQL password
goes into a temporary DuckDB secret, never into the ATTACH string, so it does not show in
``duckdb_databases()`` or in error messages.
"""

from __future__ import annotations

import contextlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from urllib.parse import parse_qsl, unquote, urlsplit

from atelier.backends.warehouse.errors import WarehouseError
from atelier.backends.warehouse.sql import ident, literal

_POSTGRES_SCHEMES = ("postgresql", "postgres", "postgresql+psycopg", "postgresql+psycopg2")


@dataclass(frozen=True)
class Catalog:
    """A parsed ``catalog_url``."""

    kind: Literal["sqlite", "postgres"]
    # What follows ``ducklake:`` in the ATTACH string; never holds a password.
    target: str
    path: Path | None = None
    # PostgreSQL schema for DuckLake's own tables (``?schema=`` in the URL); None: the default.
    metadata_schema: str | None = None
    secret_fields: tuple[tuple[str, str], ...] = field(default=(), repr=False)

    @property
    def extension(self) -> str:
        """The DuckDB extension DuckLake needs to reach this catalog."""
        return self.kind

    @property
    def max_columns(self) -> int:
        """The most columns a table may have: DuckLake keeps small inserts in a catalog table
        with the table's columns plus three of its own, and SQLite allows 2,000 columns a
        table, PostgreSQL 1,600."""
        return (2000 if self.kind == "sqlite" else 1600) - 3

    @property
    def secrets(self) -> tuple[str, ...]:
        """Values to scrub from any error text."""
        return tuple(value for key, value in self.secret_fields if key == "PASSWORD" and value)

    def metadata_tables(self, alias: str) -> str:
        """Qualified prefix of the catalog tables (``ducklake_table``…) of lake ``alias``."""
        prefix = ident(f"__ducklake_metadata_{alias}")
        return f"{prefix}.{ident(self.metadata_schema)}" if self.metadata_schema else prefix

    def prepare(self) -> None:
        """Create a SQLite catalog file in WAL mode before DuckLake first opens it: readers then
        never block the writer, which cuts "database is locked" under concurrent processes."""
        if self.path is None or self.path.exists():
            return
        import sqlite3

        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        # Made readable by the owner only; SQLite gives its WAL and shared-memory files the
        # database file's mode.
        with contextlib.suppress(FileExistsError):
            os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        connection = sqlite3.connect(self.path)
        try:
            connection.execute("PRAGMA journal_mode=WAL")
        finally:
            connection.close()

    def attach_statements(self, alias: str, data_path: str | Path, *, read_only: bool) -> list[str]:
        """SQL that attaches this catalog as DuckLake database ``alias``; ``data_path``: a
        local folder or an s3:// URL."""
        statements: list[str] = []
        options = [f"DATA_PATH {literal(str(data_path).rstrip('/') + '/')}"]
        if self.secret_fields:
            secret = f"atelier_catalog_{alias}"
            body = ", ".join(f"{key} {literal(value)}" for key, value in self.secret_fields)
            statements.append(
                f"CREATE OR REPLACE TEMPORARY SECRET {ident(secret)} (TYPE postgres, {body})"
            )
            options.append(f"META_SECRET {literal(secret)}")
        if self.metadata_schema:
            options.append(f"METADATA_SCHEMA {literal(self.metadata_schema)}")
        if read_only:
            options.append("READ_ONLY")
        statements.append(
            f"ATTACH {literal('ducklake:' + self.target)} AS {ident(alias)} ({', '.join(options)})"
        )
        return statements


def parse_catalog_url(url: str | Path) -> Catalog:
    """Parse a SQLite path/URL or a PostgreSQL URL into a :class:`Catalog`."""
    text = str(url)
    scheme = text.split("://", 1)[0].lower() if "://" in text else ""
    if scheme in _POSTGRES_SCHEMES:
        return _postgres(text)
    if scheme and scheme != "sqlite":
        raise WarehouseError(
            f"unsupported warehouse catalog URL scheme {scheme!r}: "
            "use a SQLite file path or postgresql://user@host:port/dbname"
        )
    if text.startswith("sqlite:///"):
        text = text[len("sqlite:///") :]
    elif text.startswith("sqlite:"):
        text = text[len("sqlite:") :]
    if not text:
        raise WarehouseError("the warehouse catalog path is empty")
    path = Path(text).expanduser().resolve()
    return Catalog("sqlite", f"sqlite:{path}", path=path)


def _postgres(url: str) -> Catalog:
    parts = urlsplit(url)
    fields: list[tuple[str, str]] = []
    if parts.hostname:
        fields.append(("HOST", parts.hostname))
    if parts.port:
        fields.append(("PORT", str(parts.port)))
    database = unquote(parts.path.lstrip("/"))
    if not database:
        raise WarehouseError(
            "the warehouse catalog URL names no database: postgresql://user@host:port/dbname"
        )
    fields.append(("DATABASE", database))
    if parts.username:
        fields.append(("USER", unquote(parts.username)))
    if parts.password:
        fields.append(("PASSWORD", unquote(parts.password)))
    options: list[str] = []
    schema = None
    for key, value in parse_qsl(parts.query):
        if key == "password":
            fields.append(("PASSWORD", value))
        elif key == "schema":
            schema = value
        else:
            # sslmode, application_name, a socket directory as host…: libpq keywords.
            options.append(f"{key}={_libpq_value(value)}")
    return Catalog(
        "postgres",
        f"postgres:{' '.join(options)}",
        metadata_schema=schema,
        secret_fields=tuple(fields),
    )


def _libpq_value(value: str) -> str:
    if value and re.fullmatch(r"[^\s'\\]+", value):
        return value
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
