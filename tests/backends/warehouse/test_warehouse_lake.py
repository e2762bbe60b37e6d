"""The lake on both catalogs: writes, snapshots with who/when/rows, time travel, table listing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import duckdb
import pytest

from atelier.backends.warehouse import Warehouse
from atelier.backends.warehouse.tables import table_columns
from atelier.errors import NotFound


def _create_events(warehouse: Warehouse) -> None:
    warehouse.run_write(
        lambda c: c.execute(
            "CREATE TABLE events AS SELECT range AS id, 'v' || range AS label FROM range(1000)"
        ),
        author="ada",
        message="first load",
        extra_info='{"source": "upload"}',
    )


def test_write_then_read(warehouse: Warehouse) -> None:
    _create_events(warehouse)

    table = warehouse.read("events")

    assert table.num_rows == 1000
    assert table.column_names == ["id", "label"]


def test_connect_gives_a_trusted_connection_on_the_lake(warehouse: Warehouse) -> None:
    with warehouse.connect() as connection:
        connection.execute("CREATE TABLE t (x INTEGER)")
        connection.execute("INSERT INTO t VALUES (1), (2)")
        row = connection.execute("SELECT current_database(), sum(x) FROM t").fetchone()

    assert row == ("lake", 3)


def test_snapshots_record_author_message_time_and_rows(warehouse: Warehouse) -> None:
    before = datetime.now(UTC) - timedelta(minutes=5)
    _create_events(warehouse)
    warehouse.run_write(
        lambda c: c.execute("DELETE FROM events WHERE id < 10"), author="bob", message="dedupe"
    )
    warehouse.run_write(
        lambda c: c.execute("UPDATE events SET label = 'x' WHERE id < 15"), author="carol"
    )
    warehouse.run_write(lambda c: c.execute("ALTER TABLE events ADD COLUMN note VARCHAR"))
    # Another table's writes are not this table's versions.
    warehouse.run_write(lambda c: c.execute("CREATE TABLE other AS SELECT 1 AS x"))

    versions = warehouse.snapshots("events")

    assert [(v.author, v.message) for v in versions] == [
        ("ada", "first load"),
        ("bob", "dedupe"),
        ("carol", None),
        (None, None),
    ]
    assert versions[0].extra_info == '{"source": "upload"}'
    assert [(v.rows_inserted, v.rows_deleted, v.rows_updated) for v in versions] == [
        (1000, 0, 0),
        (0, 10, 0),
        (0, 0, 5),
        (0, 0, 0),
    ]
    ids = [v.snapshot_id for v in versions]
    assert ids == sorted(ids)
    assert all(before <= v.time <= datetime.now(UTC) for v in versions)
    assert "tables_altered" in versions[-1].changes


def test_time_travel_by_version(warehouse: Warehouse) -> None:
    _create_events(warehouse)
    warehouse.run_write(lambda c: c.execute("DELETE FROM events WHERE id >= 100"))
    first, second = warehouse.snapshots("events")

    assert warehouse.read("events", version=first.snapshot_id).num_rows == 1000
    assert warehouse.read("events", version=second.snapshot_id).num_rows == 100
    assert warehouse.read("events").num_rows == 100


def test_failed_write_leaves_nothing_behind(warehouse: Warehouse) -> None:
    _create_events(warehouse)

    def half_then_fail(connection: duckdb.DuckDBPyConnection) -> None:
        connection.execute("INSERT INTO events VALUES (5000, 'half')")
        connection.execute("SELECT * FROM no_such_table")

    with pytest.raises(duckdb.CatalogException):
        warehouse.run_write(half_then_fail, author="mallory")

    assert warehouse.read("events").num_rows == 1000
    assert [v.author for v in warehouse.snapshots("events")] == ["ada"]


def test_run_write_returns_the_function_result(warehouse: Warehouse) -> None:
    def create(connection: duckdb.DuckDBPyConnection) -> int:
        connection.execute("CREATE TABLE t AS SELECT * FROM range(7)")
        row = connection.execute("SELECT count(*) FROM t").fetchone()
        assert row is not None
        return int(row[0])

    assert warehouse.run_write(create) == 7


def test_tables_lists_columns_rows_and_size(warehouse: Warehouse) -> None:
    _create_events(warehouse)
    warehouse.run_write(
        lambda c: c.execute(
            'CREATE SCHEMA sales; CREATE TABLE sales."Order Lines" (id BIGINT NOT NULL, '
            "amount DECIMAL(10, 2), placed_at TIMESTAMP); "
            "INSERT INTO sales.\"Order Lines\" VALUES (1, 9.99, '2024-01-01 10:00:00')"
        )
    )

    listed = warehouse.tables()

    assert [(t.schema, t.name) for t in listed] == [("main", "events"), ("sales", "Order Lines")]
    events, lines = listed
    assert [(c.name, c.type) for c in events.columns] == [("id", "BIGINT"), ("label", "VARCHAR")]
    assert events.row_count == 1000
    assert events.size_bytes > 0 and events.file_count == 1
    assert [(c.name, c.type, c.nullable) for c in lines.columns] == [
        ("id", "BIGINT", False),
        ("amount", "DECIMAL(10,2)", True),
        ("placed_at", "TIMESTAMP", True),
    ]
    # One row is small enough for DuckLake to keep it inlined in the catalog, not in a file.
    assert lines.row_count == 1
    assert warehouse.tables(schema="sales") == [lines]
    assert warehouse.table("Order Lines", schema="sales") == lines


def test_one_tables_columns_without_its_statistics(warehouse: Warehouse) -> None:
    """``table_columns`` (existence checks, column lists) reads the catalog once; a view or a
    table of another schema is not the table."""
    _create_events(warehouse)
    warehouse.run_write(
        lambda c: c.execute(
            "CREATE VIEW labels AS SELECT label FROM events; CREATE SCHEMA other; "
            "CREATE TABLE other.events (x INTEGER)"
        )
    )
    with warehouse.connect() as connection:
        columns = table_columns(connection, warehouse.alias, "main", "events")
        assert columns == warehouse.table("events").columns
        assert [c.name for c in columns] == ["id", "label"]
        assert table_columns(connection, warehouse.alias, "main", "labels") == ()
        assert table_columns(connection, warehouse.alias, "main", "nope") == ()
        assert [c.name for c in table_columns(connection, warehouse.alias, "other", "events")] == [
            "x"
        ]
    assert [t.name for t in warehouse.tables()] == ["events", "events"]
    assert warehouse.table("events", schema="other").columns[0].name == "x"


def test_unknown_table_is_not_found(warehouse: Warehouse) -> None:
    with pytest.raises(NotFound):
        warehouse.table("nope")
    with pytest.raises(NotFound):
        warehouse.snapshots("nope")


def test_a_user_connection_works_on_a_lake_never_written(warehouse: Warehouse) -> None:
    with warehouse.user_connection() as connection:
        assert connection.execute("SHOW TABLES").fetchall() == []
