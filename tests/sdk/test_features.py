"""``ws.features``, the same tests for the embedded and the remote client."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

from atelier.errors import Conflict, InvalidInput, NotFound
from atelier.sdk.client import Client
from atelier.services.workbench import Workbench
from tests.sdk.test_client import ws  # noqa: F401  (the client fixture, both kinds)

FEATURES_YAML = """
project: churn
entities:
  - {name: customer, keys: [cid]}
views:
  - name: spend
    entity: customer
    source: bank.tx
    timestamp: ts
    ttl: 2d
    description: What a customer spends
    features: [amount, {name: big, sql: "amount > 100"}]
    aggregations:
      - {column: amount, functions: [sum, count], windows: [7d]}
services:
  - {name: scoring, features: ["spend:amount_sum_7d"]}
"""
#: Entity rows: before any feature row, within the ttl, past the ttl (the window still
#: counts), an unknown customer, and a duplicate.
LABELS = pd.DataFrame(
    {
        "cid": [1, 1, 1, 9, 1],
        "event_timestamp": pd.to_datetime(
            ["2023-12-31", "2024-01-02", "2024-01-06", "2024-01-02", "2024-01-02"]
        ),
        "churned": [0, 0, 1, 0, 0],
    }
)


@pytest.fixture
def bank(workbench: Workbench, tmp_path: Path) -> Path:
    """Transactions in the warehouse; returns the folder holding features.yaml."""
    workbench.warehouse.run_write(
        lambda c: c.execute(
            "CREATE SCHEMA bank; CREATE TABLE bank.tx AS SELECT * FROM (VALUES "
            "(1, TIMESTAMP '2024-01-01 10:00', 50.0), (1, TIMESTAMP '2024-01-03 10:00', 150.0),"
            "(2, TIMESTAMP '2024-01-02 09:00', 7.5)) t(cid, ts, amount);"
            "CREATE TABLE bank.labels AS SELECT cid, event_timestamp::TIMESTAMP AS ts, churned "
            "FROM (VALUES (2, '2024-01-02 12:00', 1), (1, '2024-01-01 11:00', 0)) "
            "l(cid, event_timestamp, churned)"
        ),
        author="ada",
    )
    project = tmp_path / "churn"
    project.mkdir()
    (project / "features.yaml").write_text(FEATURES_YAML)
    return project


def test_apply_training_sets_online_and_catalog(ws: Client, bank: Path) -> None:  # noqa: F811
    diff = ws.features.apply(bank, dry_run=True)
    assert diff["applied"] is False and diff["project"] == "churn"
    assert [(c["kind"], c["action"]) for c in diff["changes"]] == [
        ("entity", "create"),
        ("view", "create"),
        ("service", "create"),
    ]
    assert ws.features.views() == []
    assert ws.features.apply(bank)["applied"] is True
    assert [v["name"] for v in ws.features.views(search="spends")] == ["spend"]
    detail = ws.features.describe("spend")
    assert detail["upstream"] == ["bank.tx"] and detail["versions"][0]["version"] == 1

    train = ws.features.training_set(LABELS, ["spend:amount", "spend:big", "scoring"])
    assert isinstance(train, pd.DataFrame)
    assert list(train.columns) == [*LABELS.columns, "amount", "big", "amount_sum_7d"]
    assert train["amount"].isna().tolist() == [True, False, True, True, False]
    assert train["amount"][1] == 50.0 and train["amount"][4] == 50.0
    assert train["amount_sum_7d"].fillna(-1).tolist() == [-1, 50.0, 200.0, -1, 50.0]
    assert train["event_timestamp"].equals(LABELS["event_timestamp"])
    lineage = train.attrs["atelier.training_set"]
    assert lineage["feature_views"] == {"spend": 1} and lineage["training_set"] is None

    polars = ws.features.training_set(
        pl.from_pandas(LABELS), "spend:*", format="polars", full_names=True
    )
    assert isinstance(polars, pl.DataFrame) and "spend__amount_count_7d" in polars.columns
    assert polars["spend__amount_count_7d"].to_list() == [0, 1, 2, 0, 1]

    saved = ws.features.training_set(
        "bank.labels", ["spend:amount"], format="arrow", save_as="ml.train"
    )
    assert isinstance(saved, pa.Table) and saved.column("amount").to_pylist() == [7.5, 50.0]
    meta = json.loads(saved.schema.metadata[b"atelier.training_set"])
    assert meta["training_set"] == "ml.train" and meta["entities"] == "bank.labels"
    assert ws.table("ml.train", version=meta["training_set_version"])["amount"].tolist() == [
        7.5,
        50.0,
    ]
    (recorded,) = ws.features.training_sets("ml.train")
    assert recorded["feature_views"] == {"spend": 1} and recorded["rows"] == 2

    done = ws.features.materialize(["spend"])
    assert [(d["view"], d["mode"], d["entities"]) for d in done] == [("spend", "full", 2)]
    online = ws.features.online({"cid": [2, 1, 3]}, ["spend:amount_count_7d"], format="arrow")
    assert online.column("amount_count_7d").to_pylist() == [0, 0, None]
    assert isinstance(ws.features.online(pd.DataFrame({"cid": [1]}), "scoring"), pd.DataFrame)

    (entry,) = [t for t in ws.tables() if t["kind"] == "feature view"]
    assert entry["name"] == "spend" and entry["upstream"] == ["bank.tx"]
    assert entry["link"] == "/features/spend" and entry["freshness"]["materialized_at"]
    assert [t["name"] for t in ws.tables("amount_sum_7d")] == ["spend"]


def test_feature_errors_are_the_same_for_both_clients(ws: Client, bank: Path) -> None:  # noqa: F811
    ws.features.apply(bank)
    with pytest.raises(NotFound, match="no feature 'nope'"):
        ws.features.training_set(LABELS, ["spend:nope"])
    with pytest.raises(NotFound, match="no feature view 'ghost'"):
        ws.features.describe("ghost")
    with pytest.raises(InvalidInput, match="no column 'cid'"):
        ws.features.training_set(LABELS.drop(columns="cid"), ["spend:amount"])
    with pytest.raises(InvalidInput, match="must be a pandas, polars or Arrow table"):
        ws.features.training_set([1, 2], ["spend:amount"])
    with pytest.raises(NotFound, match="never materialized"):
        ws.features.online({"cid": [1]}, ["spend:amount"])
    ws.features.training_set("bank.labels", ["spend:big"], save_as="ml.uses_big")
    dropped = FEATURES_YAML.replace(', {name: big, sql: "amount > 100"}', "")
    (bank / "features.yaml").write_text(dropped)
    with pytest.raises(Conflict, match=r"ml\.uses_big .* uses spend:big"):
        ws.features.apply(bank)
    assert ws.features.apply(bank, dry_run=True)["blocked"]


LIGHT = """
import sys
for heavy in ("duckdb", "sqlalchemy", "fastapi", "mlflow"):
    sys.modules[heavy] = None  # an import of it fails, as on a laptop with the light client
from atelier.sdk.features import load_definitions
from atelier.services.features.loader import to_dict
found = to_dict(load_definitions(sys.argv[1]))
print(found["project"], [v["name"] for v in found["views"]])
"""


def test_definitions_load_without_the_server_packages(tmp_path: Path) -> None:
    import subprocess
    import sys

    (tmp_path / "features.py").write_text(
        "from atelier.services.features import Entity, FeatureView\n"
        "PROJECT = 'churn'\n"
        "customer = Entity('customer', keys=['cid'])\n"
        "spend = FeatureView('spend', entity=customer, source='bank.tx', timestamp='ts', "
        "features=['amount'])\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", LIGHT, str(tmp_path)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "churn ['spend']"
