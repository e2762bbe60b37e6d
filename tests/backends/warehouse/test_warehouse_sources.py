"""Attached sources: real PostgreSQL, MariaDB and SQLite, and Parquet/CSV folders, read-only."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote, urlsplit

import duckdb
import pytest

from atelier.backends.warehouse import (
    QueryRefused,
    SourceError,
    SourceSpec,
    Warehouse,
    attachment,
)
from atelier.backends.warehouse.extensions import open_connection


@pytest.fixture
def lake(tmp_path: Path, extension_dir: Path) -> Warehouse:
    return Warehouse(
        tmp_path / "catalog.sqlite", tmp_path / "data", extension_directory=extension_dir
    )


def _server_spec(kind: str, url: str, **overrides: object) -> SourceSpec:
    parts = urlsplit(url)
    fields: dict[str, object] = {
        "host": parts.hostname,
        "port": parts.port,
        "database": unquote(parts.path.lstrip("/")),
        "user": unquote(parts.username) if parts.username else None,
        "password": unquote(parts.password) if parts.password else None,
    }
    fields.update(overrides)
    return SourceSpec(kind, **fields)  # type: ignore[arg-type]


@pytest.fixture
def postgres_source(postgres_url: str) -> str:
    """A table in the module's PostgreSQL database."""
    import psycopg

    with psycopg.connect(postgres_url, autocommit=True) as connection:
        connection.execute("CREATE TABLE IF NOT EXISTS customers (id int, name text)")
        connection.execute("TRUNCATE customers")
        connection.execute("INSERT INTO customers VALUES (1, 'ada'), (2, 'grace')")
    return postgres_url


@pytest.fixture
def mysql_source(mysql_url: str, extension_dir: Path) -> Iterator[tuple[str, str]]:
    """A fresh table in the MariaDB/MySQL test database, created and dropped through DuckDB."""
    url = mysql_url
    table = f"atelier_{uuid.uuid4().hex[:10]}"
    spec = _server_spec("mysql", url)
    writer = attachment("m", spec)
    statements = [s.replace(", READ_ONLY)", ")") for s in writer.statements]
    connection = open_connection(extension_dir, ["mysql"])
    try:
        for statement in statements:
            connection.execute(statement)
        connection.execute(f"CREATE TABLE m.{table} (id INTEGER, name VARCHAR(20))")
        connection.execute(f"INSERT INTO m.{table} VALUES (1, 'ada'), (2, 'grace')")
        yield url, table
    finally:
        connection.execute(f"DROP TABLE IF EXISTS m.{table}")
        connection.close()


def test_postgres_source_attaches_read_only(lake: Warehouse, postgres_source: str) -> None:
    source = attachment("crm", _server_spec("postgres", postgres_source))

    with lake.user_connection([source]) as user:
        rows = user.execute("SELECT * FROM crm.public.customers ORDER BY id").fetchall()
        with pytest.raises(QueryRefused):
            user.execute("INSERT INTO crm.public.customers VALUES (3, 'eve')")
    with lake.connect([source]) as trusted, pytest.raises(duckdb.Error, match="read-only"):
        trusted.execute("INSERT INTO crm.public.customers VALUES (3, 'eve')")

    assert rows == [(1, "ada"), (2, "grace")]


def test_mysql_source_attaches_read_only(lake: Warehouse, mysql_source: tuple[str, str]) -> None:
    url, table = mysql_source
    source = attachment("shop", _server_spec("mysql", url))

    with lake.user_connection([source]) as user:
        rows = user.execute(f"SELECT * FROM shop.{table} ORDER BY id").fetchall()
    with lake.connect([source]) as trusted, pytest.raises(duckdb.Error, match="read-only"):
        trusted.execute(f"INSERT INTO shop.{table} VALUES (3, 'eve')")

    assert rows == [(1, "ada"), (2, "grace")]


def test_sqlite_source_attaches_read_only(lake: Warehouse, tmp_path: Path) -> None:
    path = tmp_path / "legacy.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE orders (id INTEGER, total REAL)")
        db.execute("INSERT INTO orders VALUES (1, 9.5), (2, 20.0)")
    source = attachment("legacy", SourceSpec("sqlite", path=str(path)))

    with lake.user_connection([source]) as user:
        rows = user.execute("SELECT * FROM legacy.orders ORDER BY id").fetchall()
    with lake.connect([source]) as trusted, pytest.raises(duckdb.Error, match="read-only"):
        trusted.execute("INSERT INTO legacy.orders VALUES (3, 1.0)")

    assert rows == [(1, 9.5), (2, 20.0)]


def test_file_sources_become_views(lake: Warehouse, tmp_path: Path) -> None:
    folder = tmp_path / "exports"
    (folder / "clicks" / "day=1").mkdir(parents=True)
    duckdb.sql(f"COPY (SELECT 1 AS id) TO '{folder / 'users.parquet'}'")
    duckdb.sql(f"COPY (SELECT 7 AS n) TO '{folder / 'clicks' / 'day=1' / 'a.parquet'}'")
    (tmp_path / "rates.csv").write_text("currency,rate\nEUR,1.1\n")
    parquet = attachment("exports", SourceSpec("parquet", path=str(folder)))
    csv = attachment("rates", SourceSpec("csv", path=str(tmp_path / "rates.csv")))

    with lake.user_connection([parquet, csv]) as user:
        assert user.execute("SELECT * FROM exports.users").fetchall() == [(1,)]
        assert user.execute("SELECT n, day FROM exports.clicks").fetchall() == [(7, 1)]
        assert user.execute("SELECT * FROM rates.rates").fetchall() == [("EUR", 1.1)]
        # The folder is readable through the views, not the rest of tmp_path.
        with pytest.raises(QueryRefused):
            user.execute(f"SELECT * FROM read_csv('{tmp_path / 'other.csv'}')")


def test_source_errors_never_show_the_password(lake: Warehouse) -> None:
    for kind in ("postgres", "mysql"):
        spec = SourceSpec(
            kind,
            host="127.0.0.1",
            port=1,
            database="x",
            user="u",
            password="pa'ss-word-42",
        )
        assert "pa'ss" not in repr(spec)
        with pytest.raises(SourceError) as caught, lake.user_connection([attachment("src", spec)]):
            pass
        assert "src" in str(caught.value)
        assert "pa'ss-word-42" not in str(caught.value)
        assert caught.value.__cause__ is None and caught.value.__context__ is None


def test_secrets_are_invisible_to_user_sql(lake: Warehouse, postgres_source: str) -> None:
    spec = _server_spec("postgres", postgres_source, password="not-needed-with-trust")

    with lake.user_connection([attachment("crm", spec)]) as user:
        visible = str(user.execute("SELECT * FROM duckdb_tables()").fetchall())
        # The functions that describe databases and secrets are not for user SQL at all.
        for sql in ("SELECT * FROM duckdb_databases()", "SELECT * FROM duckdb_secrets()"):
            with pytest.raises(QueryRefused, match="not available"):
                user.execute(sql)

    assert "not-needed-with-trust" not in visible


def test_a_missing_file_source_is_reported(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="does not exist"):
        attachment("x", SourceSpec("sqlite", path=str(tmp_path / "nope.db")))
