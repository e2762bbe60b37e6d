"""User SQL on a restricted connection: lake queries work, everything that escapes is refused."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from atelier.backends.warehouse import QueryRefused, UserConnection, Warehouse
from atelier.backends.warehouse.extensions import open_connection, wheel_file
from atelier.backends.warehouse.restricted import restrict

Refusal = (QueryRefused, duckdb.PermissionException)


@pytest.fixture
def lake(warehouse: Warehouse) -> Warehouse:
    warehouse.run_write(
        lambda c: c.execute("CREATE TABLE events AS SELECT range AS id FROM range(1000)"),
        author="ada",
    )
    warehouse.run_write(lambda c: c.execute("DELETE FROM events WHERE id >= 500"), author="bob")
    return warehouse


@pytest.fixture
def user(lake: Warehouse) -> Iterator[UserConnection]:
    with lake.user_connection() as connection:
        yield connection


def _data_file(lake: Warehouse) -> str:
    with lake.connect() as connection:
        row = connection.execute("SELECT data_file FROM ducklake_list_files('lake', 'events')")
        found = row.fetchone()
    assert found is not None
    return str(found[0])


def test_queries_over_lake_tables_work(user: UserConnection) -> None:
    assert user.execute("SELECT count(*), sum(id) FROM events").fetchall() == [(500, 124750)]
    assert user.execute("SELECT count(*) FROM lake.main.events WHERE id < ?", [10]).fetchall() == [
        (10,)
    ]
    assert user.execute("SHOW TABLES").fetchall() == [("events",)]
    assert user.execute("DESCRIBE events").fetchall()[0][:2] == ("id", "BIGINT")
    assert user.execute("WITH e AS (FROM events) SELECT max(id) FROM e").fetchall() == [(499,)]
    assert user.execute("EXPLAIN ANALYZE SELECT count(*) FROM events").fetchall()
    assert user.execute("SELECT 1; SELECT 2").fetchall() == [(2,)]


def test_time_travel_works(lake: Warehouse, user: UserConnection) -> None:
    created, deleted = (v.snapshot_id for v in lake.snapshots("events"))

    old = user.execute(f"SELECT count(*), sum(id) FROM events AT (VERSION => {created})")
    assert old.fetchall() == [(1000, 499500)]
    new = user.execute(f"SELECT count(*) FROM events AT (VERSION => {deleted})")
    assert new.fetchall() == [(500,)]
    history = user.execute("SELECT author FROM lake.snapshots() WHERE author IS NOT NULL")
    assert sorted(row[0] for row in history.fetchall()) == ["ada", "bob"]


def test_results_come_as_arrow_and_pandas(user: UserConnection) -> None:
    assert user.execute("SELECT * FROM events").to_arrow_table().num_rows == 500
    assert len(user.execute("SELECT * FROM events LIMIT 3").df()) == 3


def test_server_files_cannot_be_read(user: UserConnection, tmp_path: Path) -> None:
    secret = tmp_path / "secret.csv"
    secret.write_text("password\nhunter2\n")
    duckdb.sql(f"COPY (SELECT 'hunter2' AS password) TO '{tmp_path / 'secret.parquet'}'")

    for sql in [
        "SELECT * FROM read_csv('/etc/passwd')",
        f"SELECT * FROM read_csv('{secret}')",
        f"SELECT * FROM '{secret}'",
        f"SELECT * FROM read_parquet('{tmp_path / 'secret.parquet'}')",
        "SELECT * FROM read_text('/etc/hostname')",
        "SELECT * FROM glob('/etc/*')",
    ]:
        with pytest.raises(Refusal):
            user.execute(sql).fetchall()


def test_scanner_functions_that_bypass_the_sandbox_are_refused(
    user: UserConnection, tmp_path: Path
) -> None:
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as db:
        db.execute("CREATE TABLE secrets (value TEXT)")
    for sql in [
        f"SELECT * FROM sqlite_scan('{other}', 'secrets')",
        f"SELECT * FROM system.main.sqlite_scan('{other}', 'secrets')",
        f"SELECT * FROM sqlite_attach('{other}')",
        "SELECT * FROM postgres_query('__ducklake_metadata_lake', 'SELECT 1')",
        "SELECT * FROM postgres_scan('dbname=postgres', 'public', 'x')",
        "SELECT * FROM postgres_attach('dbname=postgres')",
        "SELECT * FROM mysql_query('x', 'SELECT 1')",
        "SELECT * FROM query('SELECT 1')",
        "SELECT * FROM query_table('events')",
        "SELECT 1 WHERE 1 IN (SELECT * FROM sqlite_query('x', 'SELECT 1'))",
        "SELECT * FROM ducklake_cleanup_old_files('lake', cleanup_all => true)",
    ]:
        with pytest.raises(QueryRefused, match="not available"):
            user.execute(sql)


def test_attach_install_load_copy_and_set_are_refused(
    lake: Warehouse, user: UserConnection, tmp_path: Path
) -> None:
    lake_file = _data_file(lake)
    for sql in [
        f"ATTACH '{tmp_path / 'x.db'}' AS x",
        "ATTACH ':memory:' AS x",
        "DETACH lake",
        "INSTALL httpfs",
        "LOAD httpfs",
        f"LOAD '{wheel_file('httpfs')}'",
        f"COPY (SELECT 1) TO '{tmp_path / 'out.csv'}'",
        # The lake's folder is readable (DuckLake needs it), so this one matters most:
        f"COPY (SELECT 42 AS id) TO '{lake_file}' (FORMAT parquet)",
        f"EXPLAIN ANALYZE COPY (SELECT 42 AS id) TO '{lake_file}' (FORMAT parquet)",
        f"EXPORT DATABASE '{tmp_path / 'export'}'",
        "SET enable_external_access = true",
        "SET threads = 1",
        "RESET lock_configuration",
        "PRAGMA threads = 1",
        "USE memory",
        "CREATE TEMP MACRO m() AS TABLE SELECT 1",
        "INSERT INTO events VALUES (1)",
        "DELETE FROM events",
        "CREATE TABLE t (x INTEGER)",
        "CALL lake.set_commit_message('x', 'y')",
        "SELECT 1; COPY (SELECT 1) TO 'out.csv'",
    ]:
        with pytest.raises(QueryRefused):
            user.execute(sql)
    assert not (tmp_path / "out.csv").exists()
    assert user.execute("SELECT count(*) FROM events").fetchall() == [(500,)]


def test_lock_holds_even_without_the_statement_check(tmp_path: Path, extension_dir: Path) -> None:
    """Defence in depth: DuckDB itself refuses once the connection is restricted."""
    connection = open_connection(extension_dir)
    try:
        restrict(connection, allowed_directories=[str(tmp_path / "lake")])
        with pytest.raises(duckdb.PermissionException):
            connection.execute("SELECT * FROM read_csv('/etc/passwd')")
        with pytest.raises(duckdb.PermissionException):
            connection.execute(f"COPY (SELECT 1) TO '{tmp_path / 'out.csv'}'")
        with pytest.raises(duckdb.PermissionException):
            connection.execute("INSTALL httpfs")
        with pytest.raises(duckdb.PermissionException):
            connection.execute(f"LOAD '{wheel_file('httpfs')}'")
        with pytest.raises(duckdb.Error, match="locked"):
            connection.execute("SET enable_external_access = true")
        with pytest.raises(duckdb.Error, match="locked"):
            connection.execute("SET allowed_directories = ['/']")
    finally:
        connection.close()


def test_settings_apply_before_the_lock(lake: Warehouse) -> None:
    with lake.user_connection(settings={"memory_limit": "512MB", "threads": 2}) as user:
        rows = user.execute(
            "SELECT current_setting('memory_limit'), current_setting('threads')"
        ).fetchall()
        with pytest.raises(QueryRefused):
            user.execute("SET memory_limit = '8GB'")
    assert rows == [("488.2 MiB", 2)]
