"""Sessions kept for the lake's own catalog reads (``Warehouse.inspect``): reused, never
shared, never stale, never handed to user SQL."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from atelier.backends.warehouse import Warehouse, lake
from atelier.errors import NotFound
from tests.conftest import count_lake_sessions


def test_catalog_reads_share_one_kept_session(
    warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    warehouse.run_write(lambda c: c.execute("CREATE TABLE t AS SELECT 1 AS x"))
    opened = count_lake_sessions(monkeypatch, warehouse)
    for _ in range(3):
        assert [t.name for t in warehouse.tables()] == ["t"]
        assert warehouse.table("t").row_count == 1
        assert len(warehouse.snapshots("t")) == 1
    assert opened == [False]
    assert len(warehouse._kept) == 1


def test_a_kept_session_sees_what_other_sessions_commit(
    warehouse: Warehouse, catalog_url: str, tmp_path: Path, extension_dir: Path
) -> None:
    other = Warehouse(catalog_url, tmp_path / "data", extension_directory=extension_dir)
    assert warehouse.tables() == []
    assert len(warehouse._kept) == 1
    other.run_write(lambda c: c.execute("CREATE TABLE t AS SELECT 1 AS x"))
    assert [(t.name, t.row_count) for t in warehouse.tables()] == [("t", 1)]
    other.run_write(lambda c: c.execute("INSERT INTO t VALUES (2), (3)"))
    assert warehouse.table("t").row_count == 3
    assert len(warehouse.snapshots("t")) == 2
    other.run_write(lambda c: c.execute("DROP TABLE t"))
    assert warehouse.tables() == []
    assert len(warehouse._kept) == 1  # all of it on the one kept session
    other.close()


def test_reads_at_once_never_share_a_session(warehouse: Warehouse) -> None:
    warehouse.run_write(lambda c: c.execute("CREATE TABLE t AS SELECT 1 AS x"))
    in_use: set[int] = set()
    shared: list[int] = []
    guard = threading.Lock()

    def read(connection: Any) -> int:
        with guard:
            if id(connection) in in_use:
                shared.append(id(connection))
            in_use.add(id(connection))
        try:
            row = connection.execute("SELECT count(*) FROM t").fetchone()
            return int(row[0])
        finally:
            with guard:
                in_use.discard(id(connection))

    answers: list[int] = []

    def reader() -> None:
        answers.extend(warehouse.inspect(read) for _ in range(8))

    threads = [threading.Thread(target=reader) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers == [1] * 32
    assert shared == []
    assert 1 <= len(warehouse._kept) <= lake.KEPT_SESSIONS


def test_a_failed_read_closes_its_session_and_a_lost_one_is_replaced(
    warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    warehouse.tables()
    opened = count_lake_sessions(monkeypatch, warehouse)

    def failing(connection: Any) -> None:
        raise ValueError("not this time")

    with pytest.raises(ValueError, match="not this time"):
        warehouse.inspect(failing)
    assert warehouse._kept == []  # the kept one was used and closed
    warehouse.tables()
    assert opened == [False]
    # A kept session that has gone bad (as when its catalog connection is lost): the read
    # runs again on a new one, and the caller sees only the answer.
    warehouse._kept[0].close()
    assert warehouse.tables() == []
    assert opened == [False, False]
    assert len(warehouse._kept) == 1


def test_no_such_table_keeps_the_session(
    warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A read that finds no such table got its answer: its session stays for the next read."""

    def columns_of_missing(connection: Any) -> None:
        connection.execute("SELECT * FROM duckdb_columns() WHERE table_name = 'missing'")
        raise NotFound("no table missing")

    warehouse.tables()
    opened = count_lake_sessions(monkeypatch, warehouse)
    for _ in range(3):
        with pytest.raises(NotFound, match="no table missing"):
            warehouse.inspect(columns_of_missing)
    assert opened == []
    assert len(warehouse._kept) == 1
    warehouse.close()
    with pytest.raises(NotFound):
        warehouse.inspect(columns_of_missing)  # on a new session, kept as well
    assert opened == [False]
    assert len(warehouse._kept) == 1


def test_user_sql_and_data_reads_never_take_a_kept_session(
    warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    warehouse.run_write(lambda c: c.execute("CREATE TABLE t AS SELECT 1 AS x"))
    warehouse.tables()
    kept = list(warehouse._kept)
    opened = count_lake_sessions(monkeypatch, warehouse)
    with warehouse.user_connection() as user:
        assert user.execute("SELECT x FROM t").fetchall() == [(1,)]
    assert warehouse.read("t").num_rows == 1
    assert opened == [True, False]
    assert warehouse._kept == kept


def test_closing_and_forking_drop_the_kept_sessions(
    warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    warehouse.tables()
    opened = count_lake_sessions(monkeypatch, warehouse)
    warehouse.close()
    assert warehouse._kept == []
    warehouse.tables()  # a read after closing opens a new one
    assert opened == [False]
    # In a forked child (another process id) the parent's sessions are neither used nor
    # closed: they share the parent's catalog connections.
    parents = list(warehouse._kept)
    monkeypatch.setattr(lake.os, "getpid", lambda: -1)
    warehouse.tables()
    assert opened == [False, False]
    assert lake._INHERITED[-1:] == parents
    assert parents[0].execute("SELECT 42").fetchone() == (42,)  # still open
    warehouse.close()
    lake._INHERITED.remove(parents[0])
    parents[0].close()
