"""A workspace configured with ``[storage]`` and a PostgreSQL catalog: uploads, SQL, time
travel and saved training sets keep their Parquet files in the bucket, not on local disk."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from atelier.backends.storage import ObjectStore
from atelier.config import Workspace
from atelier.errors import ConfigError
from atelier.services.features import Entity, FeatureView
from atelier.services.workbench import Workbench
from tests.conftest import new_workspace
from tests.s3_server import S3Server
from tests.services.features.conftest import apply


@pytest.fixture(scope="module")
def store(s3_server: S3Server) -> ObjectStore:
    return s3_server.new_store(prefix="teams/ml")


@pytest.fixture(scope="module")
def wb(
    tmp_path_factory: pytest.TempPathFactory,
    postgres_url: str,
    s3_server: S3Server,
    store: ObjectStore,
) -> Iterator[Workbench]:
    """One workspace for the module (each test uses tables of its own)."""
    schema = f"lake_{uuid.uuid4().hex[:12]}"
    environ = {
        **s3_server.environment(store),
        "ATELIER_WAREHOUSE_CATALOG_URL": f"{postgres_url}?schema={schema}",
    }
    workbench = Workbench(
        Workspace.open(new_workspace(tmp_path_factory.mktemp("s3ws")), environ=environ)
    )
    yield workbench
    workbench.close()


def _csv(path: Path, start: int, rows: int) -> Path:
    day = dt.date(2024, 1, 1)
    lines = ["customer,day,amount"] + [
        f"{i % 7},{day + dt.timedelta(days=i % 30)},{i}.5" for i in range(start, start + rows)
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_uploads_sql_and_time_travel_on_s3(
    wb: Workbench, store: ObjectStore, tmp_path: Path
) -> None:
    assert wb.warehouse.data_url == store.url("lake")
    first = wb.ingest.upload(_csv(tmp_path / "a.csv", 0, 300), "sales.orders_a", by="ada")
    second = wb.ingest.upload(
        _csv(tmp_path / "b.csv", 300, 200), "sales.orders_a", mode="append", by="ada"
    )
    assert (first.rows, second.rows) == (300, 200)

    keys = store.keys_under(store.url("lake", "sales", "orders_a"))
    uploads = [k for k in keys if k.endswith("/data.parquet")]
    assert len(uploads) == 2
    assert all(k.startswith("teams/ml/lake/sales/orders_a/upload-") for k in uploads)
    assert not list(wb.workspace.root.rglob("*.parquet"))

    now = wb.query.run(
        "SELECT count(*) AS n, sum(amount) AS total FROM sales.orders_a", user="ada"
    ).to_pandas()
    assert now["n"][0] == 500
    assert now["total"][0] == sum(i + 0.5 for i in range(500))
    then = wb.query.run(
        f"SELECT count(*) AS n FROM sales.orders_a AT (VERSION => {first.version})",
        user="ada",
    ).to_pandas()
    assert then["n"][0] == 300
    assert [v.rows_inserted for v in wb.warehouse.snapshots("orders_a", schema="sales")][-2:] == [
        300,
        200,
    ]

    # A failed upload leaves nothing behind in the bucket.
    bad = tmp_path / "bad.csv"
    bad.write_text("customer,day\n1,2024-01-01\n")
    with pytest.raises(Exception, match="column"):
        wb.ingest.upload(bad, "sales.orders_a", mode="append", by="ada")
    assert store.keys_under(store.url("lake", "sales", "orders_a")) == keys


def test_training_sets_are_saved_in_the_bucket(
    wb: Workbench, store: ObjectStore, tmp_path: Path
) -> None:
    wb.ingest.upload(_csv(tmp_path / "a.csv", 0, 300), "sales.orders_c", by="ada")
    customer = Entity("customer", ["customer"])
    view = FeatureView("orders", customer, "day", source="sales.orders_c", features=["amount"])
    apply(wb.features, customer, view)
    entities = pd.DataFrame(
        {"customer": list(range(7)) * 50, "event_timestamp": [pd.Timestamp("2024-02-01")] * 350}
    )
    result = wb.features.training_set(entities, ["orders:amount"], save_as="ml.churn", by="ada")
    assert result.table.num_rows == 350
    assert result.table.column("amount").null_count == 0
    saved = wb.warehouse.read("churn", schema="ml")
    assert saved.num_rows == 350
    keys = store.keys_under(store.url("lake", "ml", "churn"))
    assert keys and all(k.endswith(".parquet") for k in keys)


def test_storage_without_credentials_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID", raising=False)
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY", raising=False)
    workspace = Workspace.open(
        new_workspace(tmp_path / "ws"), environ={"ATELIER_STORAGE_BUCKET": "atelier-data"}
    )
    workbench = Workbench(workspace)
    try:
        with pytest.raises(ConfigError, match="no credentials for bucket 'atelier-data'"):
            _ = workbench.warehouse
    finally:
        workbench.close()
