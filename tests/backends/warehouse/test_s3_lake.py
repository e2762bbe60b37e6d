"""The lake's Parquet files on S3 (moto's server) with a PostgreSQL catalog: writes, reads,
time travel, concurrent writers, and user SQL that can neither see the credentials nor read
the bucket outside the lake."""

from __future__ import annotations

import multiprocessing
import uuid
from pathlib import Path

import duckdb
import pytest

from atelier.backends.storage import ObjectStore
from atelier.backends.warehouse import QueryRefused, Warehouse, WarehouseError
from tests.s3_server import SECRET_ACCESS_KEY, S3Server

# More rows than DuckLake inlines into the catalog: every write makes a Parquet file.
ROWS = 500


@pytest.fixture
def pg_catalog(postgres_url: str) -> str:
    return f"{postgres_url}{'&' if '?' in postgres_url else '?'}schema=lake_{uuid.uuid4().hex[:12]}"


@pytest.fixture
def store(s3_server: S3Server) -> ObjectStore:
    return s3_server.new_store()


@pytest.fixture
def lake(pg_catalog: str, store: ObjectStore, extension_dir: Path) -> Warehouse:
    warehouse = Warehouse(
        pg_catalog, store.url("lake"), extension_directory=extension_dir, storage=store
    )
    warehouse.run_write(
        lambda c: c.execute(f"CREATE TABLE events AS SELECT range AS n FROM range({ROWS})"),
        author="ada",
    )
    return warehouse


def test_tables_live_in_the_bucket_and_travel_in_time(lake: Warehouse, store: ObjectStore) -> None:
    lake.run_write(
        lambda c: c.execute(f"INSERT INTO events SELECT range + {ROWS} FROM range({ROWS})"),
        author="ada",
        message="more",
    )
    keys = store.keys_under(store.url("lake"))
    assert len([k for k in keys if k.endswith(".parquet")]) == 2
    assert all(k.startswith("team/lake/main/events/") for k in keys)
    assert lake.data_url == f"s3://{store.bucket}/team/lake"

    versions = lake.snapshots("events")
    assert [v.rows_inserted for v in versions] == [ROWS, ROWS]
    assert lake.read("events").num_rows == 2 * ROWS
    assert lake.read("events", version=versions[0].snapshot_id).num_rows == ROWS
    with lake.user_connection() as user:
        first = versions[0].snapshot_id
        rows = user.execute(
            f"SELECT count(*), max(n) FROM events AT (VERSION => {first})"
        ).fetchall()
        assert rows == [(ROWS, ROWS - 1)]
        assert user.execute("SELECT count(*) FROM events").fetchall() == [(2 * ROWS,)]


def test_staging_folders_are_removed_from_the_bucket(lake: Warehouse, store: ObjectStore) -> None:
    staged = lake.staging_location("main", "events", "upload-x")
    with lake.connect() as connection:
        connection.execute(f"COPY (SELECT 1 AS n) TO '{staged}/data.parquet' (FORMAT parquet)")
    assert store.keys_under(staged) == ["team/lake/main/events/upload-x/data.parquet"]
    lake.discard_staged(staged)
    assert store.keys_under(staged) == []
    with pytest.raises(WarehouseError, match="not a staging folder"):
        lake.discard_staged(store.url("mlflow"))


def test_user_sql_cannot_see_the_credentials(lake: Warehouse) -> None:
    with lake.user_connection() as user:
        with pytest.raises(QueryRefused):
            user.execute("SELECT * FROM duckdb_secrets()")
        with pytest.raises(QueryRefused):
            user.execute("SELECT * FROM which_secret('s3://x/y', 's3')")
        with pytest.raises(QueryRefused):
            user.execute("SET allow_unredacted_secrets = true")
        # Below Atelier's own check, DuckDB itself holds the line.
        raw = user.connection
        shown = raw.execute("SELECT type, secret_string FROM duckdb_secrets()").fetchall()
        assert all(SECRET_ACCESS_KEY not in row[1] for row in shown)
        s3 = [row[1] for row in shown if row[0] == "s3"]
        assert len(s3) == 1 and "secret=redacted" in s3[0]
        assert f"scope={lake.data_url}/;" in s3[0]
        with pytest.raises(duckdb.Error, match="unredacted secrets is disabled"):
            raw.execute("SELECT * FROM duckdb_secrets(redact => false)")
        with pytest.raises(duckdb.Error, match="configuration has been locked"):
            raw.execute("SET allow_unredacted_secrets = true")


def test_user_sql_reads_nothing_of_the_bucket_outside_the_lake(
    lake: Warehouse, store: ObjectStore
) -> None:
    client = store.client()
    client.put_object(Bucket=store.bucket, Key="team/mlflow/1/secret.csv", Body=b"a\n42\n")
    client.put_object(Bucket=store.bucket, Key="team/lake2/x.csv", Body=b"a\n42\n")
    outside = [store.url("mlflow", "1", "secret.csv"), f"s3://{store.bucket}/team/lake2/x.csv"]
    with lake.user_connection() as user:
        for url in [*outside, store.url("lake", "main", "events", "*.parquet")]:
            with pytest.raises(QueryRefused):
                user.execute(f"SELECT * FROM read_csv('{url}')")
            with pytest.raises(QueryRefused):
                user.execute(f"SELECT * FROM '{url}'")
        for url in outside:
            with pytest.raises(duckdb.PermissionException):
                user.connection.execute(f"SELECT * FROM read_csv('{url}')")
        with pytest.raises(QueryRefused):
            user.execute(f"COPY (SELECT 1) TO '{store.url('lake', 'x.parquet')}'")
    assert not any(k.endswith("x.parquet") for k in store.keys_under(store.url("lake")))


def test_an_s3_lake_needs_its_store(pg_catalog: str, extension_dir: Path) -> None:
    with pytest.raises(WarehouseError, match=r"is on S3: configure \[storage\]"):
        Warehouse(pg_catalog, "s3://bucket/lake", extension_directory=extension_dir)
    lake = Warehouse(
        pg_catalog,
        "s3://bucket/lake",
        extension_directory=extension_dir,
        storage=ObjectStore("bucket"),
    )
    with pytest.raises(WarehouseError, match="not in a folder"):
        _ = lake.data_path


def test_a_refused_bucket_fails_without_showing_the_credentials(
    pg_catalog: str, store: ObjectStore, extension_dir: Path
) -> None:
    # moto accepts any key, so a bucket that does not exist stands in for a refusal.
    missing = ObjectStore(
        "atelier-no-such-bucket",
        prefix="team",
        endpoint=store.endpoint,
        url_style="path",
        access_key_id="nobody",
        secret_access_key="not-the-secret-9f1c",
    )
    lake = Warehouse(
        pg_catalog, missing.url("lake"), extension_directory=extension_dir, storage=missing
    )
    with pytest.raises(Exception) as caught:
        lake.run_write(lambda c: c.execute(f"CREATE TABLE t AS SELECT range n FROM range({ROWS})"))
    assert "not-the-secret-9f1c" not in str(caught.value)
    assert "atelier-no-such-bucket" in str(caught.value)


WORKERS = 4
APPENDS = 6


def _append(catalog: str, store: ObjectStore, extension_dir: str, worker: int) -> None:
    lake = Warehouse(catalog, store.url("lake"), extension_directory=extension_dir, storage=store)
    for n in range(APPENDS):
        first = (worker + 1) * 1_000_000 + n * 1000
        sql = f"INSERT INTO events SELECT {first} + range FROM range(100)"
        lake.run_write(lambda c, sql=sql: c.execute(sql), author=f"worker-{worker}")


def test_concurrent_writers_on_a_postgres_catalog_and_s3(
    lake: Warehouse, pg_catalog: str, store: ObjectStore, extension_dir: Path
) -> None:
    context = multiprocessing.get_context("spawn")
    processes = [
        context.Process(target=_append, args=(pg_catalog, store, str(extension_dir), worker))
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
    total = ROWS + WORKERS * APPENDS * 100
    with lake.connect() as connection:
        rows = connection.execute("SELECT count(*), count(DISTINCT n) FROM events").fetchall()
    assert rows == [(total, total)]
    versions = lake.snapshots("events")
    assert sum(v.rows_inserted for v in versions) == total
    assert sum(v.author == "worker-3" for v in versions) == APPENDS
    parquet = [k for k in store.keys_under(store.url("lake")) if k.endswith(".parquet")]
    assert len(parquet) == 1 + WORKERS * APPENDS
