"""The data half of the SDK, the same tests for the embedded and the remote client."""

from pathlib import Path

import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

from atelier.errors import Conflict, InvalidInput
from atelier.sdk.client import Client
from tests.sdk.test_client import ws  # noqa: F401  (the client fixture, both kinds)


def test_upload_query_versions_and_catalog(ws: Client, tmp_path: Path) -> None:  # noqa: F811
    first = ws.upload(pd.DataFrame({"id": [1, 2], "city": ["Oslo", "Lyon"]}), "trips")
    assert first["rows"] == 2
    second = ws.upload(pl.DataFrame({"id": [3], "city": ["Rome"]}), "trips", mode="append")
    assert second["version"] > first["version"]

    now = ws.table("trips")
    assert isinstance(now, pd.DataFrame) and sorted(now["id"]) == [1, 2, 3]
    then = ws.table("trips", version=first["version"], format="arrow")
    assert isinstance(then, pa.Table) and then.num_rows == 2
    counted = ws.sql("SELECT count(*) AS n FROM trips", format="polars")
    assert isinstance(counted, pl.DataFrame) and counted["n"][0] == 3

    assert "main.trips" in [t["name"] for t in ws.tables("trips")]
    detail = ws.describe("main.trips")
    assert detail["rows"] == 3 and len(detail["versions"]) == 2
    profile = ws.profile("main.trips")
    assert {c["name"] for c in profile["columns"]} == {"id", "city"}

    csv = tmp_path / "more.csv"
    csv.write_text("id,city\n4,Kyiv\n5,Porto\n")
    stages: list[str] = []
    added = ws.upload(csv, "trips", mode="append", progress=lambda stage, _: stages.append(stage))
    assert added["rows"] == 2 and added["skipped"] == 0
    assert stages and stages[-1] in ("committing", "loading")
    assert len(ws.table("trips")) == 5

    entry = ws.update_table("main.trips", description="Trips", tags=["travel"])
    assert (entry["description"], entry["tags"]) == ("Trips", ["travel"])
    with ws.sql_batches("SELECT id FROM trips ORDER BY id") as reader:
        ids = [i for batch in reader for i in batch.column(0).to_pylist()]
    assert ids == [1, 2, 3, 4, 5]


def test_data_errors_are_clear(ws: Client, tmp_path: Path) -> None:  # noqa: F811
    ws.upload(pa.table({"x": [1]}), "once")
    with pytest.raises(Conflict):
        ws.upload(pa.table({"x": [2]}), "once")
    with pytest.raises(InvalidInput, match="no such file"):
        ws.upload(tmp_path / "missing.csv", "t")
    with pytest.raises(InvalidInput, match="cannot upload a dict"):
        ws.upload({"x": 1}, "t")
    with pytest.raises(atelier_error(), match=r"(?i)does not exist|not found|catalog error"):
        ws.sql("SELECT * FROM no_such_table")
    with pytest.raises(atelier_error(), match=r"(?i)refused|not allowed|not available|disabled"):
        ws.sql("SELECT * FROM read_csv('/etc/passwd')")
    assert ws.sources() == []
    with pytest.raises(atelier_error(), match="no source named 'crm'"):
        ws.source_tables("crm")
    with pytest.raises(atelier_error(), match=r"no table main\.nope"):
        ws.update_table("main.nope", tags=["x"])


def atelier_error() -> type[Exception]:
    from atelier.errors import AtelierError

    return AtelierError
