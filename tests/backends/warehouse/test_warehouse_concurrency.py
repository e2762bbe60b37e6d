"""Several processes append to one table at once: no error reaches them, no row is lost,
whether each write opens the lake or runs on a session the process keeps (an upload's)."""

from __future__ import annotations

import contextlib
import multiprocessing
from pathlib import Path

import duckdb
import pytest

from atelier.backends.warehouse import Warehouse

WORKERS = 4
APPENDS = 25


def _append_rows(
    catalog_url: str, data_path: str, extension_dir: str, worker: int, kept: bool
) -> None:
    warehouse = Warehouse(catalog_url, data_path, extension_directory=extension_dir)
    with warehouse.connect() if kept else contextlib.nullcontext() as session:
        for n in range(APPENDS):

            def append(connection: duckdb.DuckDBPyConnection, n: int = n) -> None:
                connection.execute("INSERT INTO events VALUES (?, ?)", [worker, n])

            warehouse.run_write(append, author=f"worker-{worker}", connection=session)


@pytest.mark.parametrize("kept", [False, True], ids=["opened", "kept"])
def test_concurrent_appends_from_processes(
    catalog_url: str, tmp_path: Path, extension_dir: Path, kept: bool
) -> None:
    warehouse = Warehouse(catalog_url, tmp_path / "data", extension_directory=extension_dir)
    warehouse.run_write(lambda c: c.execute("CREATE TABLE events (worker INTEGER, n INTEGER)"))
    # spawn: a forked child would inherit DuckDB's threads and locks mid-flight.
    context = multiprocessing.get_context("spawn")
    processes = [
        context.Process(
            target=_append_rows,
            args=(catalog_url, str(tmp_path / "data"), str(extension_dir), worker, kept),
        )
        for worker in range(WORKERS)
    ]
    for process in processes:
        process.start()
    try:
        for process in processes:
            process.join(timeout=240)
    finally:
        for process in processes:
            if process.is_alive():
                process.kill()
                process.join()

    assert [p.exitcode for p in processes] == [0] * WORKERS
    with warehouse.connect() as connection:
        total, distinct = connection.execute(
            "SELECT count(*), count(DISTINCT (worker, n)) FROM events"
        ).fetchall()[0]
    assert (total, distinct) == (WORKERS * APPENDS, WORKERS * APPENDS)
    versions = warehouse.snapshots("events")
    assert sum(v.rows_inserted for v in versions) == WORKERS * APPENDS
    assert sum(v.author == "worker-0" for v in versions) == APPENDS
