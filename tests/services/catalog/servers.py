"""Real database servers for source tests: a fresh PostgreSQL database with a schema and a
table, and a uniquely named table in the MariaDB/MySQL test database; both removed afterwards.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from atelier.backends.warehouse import SourceSpec, attachment
from atelier.backends.warehouse.extensions import open_connection
from tests.conftest import fresh_postgres_database, required_env

MYSQL_ENV = "ATELIER_TEST_MYSQL_URL"


def server_options(url: str) -> dict[str, Any]:
    """Source options (no password) from a ``scheme://user@host:port/db`` URL."""
    parts = urlsplit(url)
    options: dict[str, Any] = {"host": parts.hostname or "127.0.0.1"}
    if parts.port:
        options["port"] = parts.port
    if parts.username:
        options["user"] = unquote(parts.username)
    database = unquote(parts.path.lstrip("/"))
    if database:
        options["database"] = database
    return options


@contextmanager
def postgres_source() -> Iterator[dict[str, Any]]:
    """A fresh database holding ``crm.customers`` (3 rows); yields the source options."""
    import psycopg

    with fresh_postgres_database("atelier_src") as url:
        with psycopg.connect(url, autocommit=True) as connection:
            connection.execute("CREATE SCHEMA crm")
            connection.execute(
                "CREATE TABLE crm.customers (id int PRIMARY KEY, name text, score float8)"
            )
            connection.execute(
                "INSERT INTO crm.customers VALUES (1, 'ada', 1.5), (2, 'grace', 2.5), "
                "(3, 'edsger', NULL)"
            )
        yield server_options(url)


@contextmanager
def mysql_table(extension_dir: Path) -> Iterator[tuple[dict[str, Any], str]]:
    """A uniquely named table (2 rows) in the MariaDB test database; yields the source options
    and the table name. The table is dropped afterwards."""
    url = required_env(MYSQL_ENV)
    options = server_options(url)
    table = f"atelier_{uuid.uuid4().hex[:10]}"
    spec = SourceSpec(
        "mysql",
        host=options["host"],
        port=options.get("port"),
        database=options.get("database"),
        user=options.get("user"),
    )
    writer = attachment("m", spec)
    connection = open_connection(extension_dir, ["mysql"])
    try:
        for statement in writer.statements:
            connection.execute(statement.replace(", READ_ONLY)", ")"))
        connection.execute(f"CREATE TABLE m.{table} (id INTEGER, name VARCHAR(20))")
        connection.execute(f"INSERT INTO m.{table} VALUES (1, 'ada'), (2, 'grace')")
        yield options, table
    finally:
        connection.execute(f"DROP TABLE IF EXISTS m.{table}")
        connection.close()
