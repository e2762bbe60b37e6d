"""Definitions: files, diffs, versions, ownership and refusals, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest

from atelier.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from atelier.services.features import (
    Aggregation,
    Definitions,
    Derived,
    Entity,
    FeatureView,
)
from atelier.services.features.definitions import duration_ns, format_duration
from atelier.services.workbench import Workbench
from tests.services.features.conftest import write

FEATURES_PY = """
from atelier.services.features import Aggregation, Derived, Entity, FeatureService, FeatureView

PROJECT = "churn"
customer = Entity("customer", ["customer_id"], description="a bank customer")


def band(amount):
    return "big" if abs(amount) > 100 else "small"


spend = FeatureView(
    "spend",
    customer,
    "ts",
    source="bank.tx",
    ttl="30d",
    features=["amount", Derived("outgoing", sql="amount < 0"),
              Derived("band", python=band, inputs=["amount"], dtype="VARCHAR")],
    aggregations=[Aggregation("amount", ["sum", "count"], ["7d", "30d"])],
    owner="ada",
    tags=["finance"],
)
churn_model = FeatureService("churn_model", ["spend:amount_sum_7d", "spend:band"])
"""

FEATURES_YAML = """
project: churn
entities:
  - name: customer
    keys: [customer_id]
views:
  - name: spend
    entity: customer
    source: bank.tx
    timestamp: ts
    ttl: 30d
    features: [amount, {name: outgoing, sql: "amount < 0"}]
    aggregations:
      - {column: amount, functions: [sum], windows: [7d]}
"""


@pytest.fixture
def bank(workbench: Workbench) -> Workbench:
    write(
        workbench.features,
        "CREATE SCHEMA bank",
        """CREATE TABLE bank.tx AS SELECT * FROM (VALUES
           (1, TIMESTAMP '2024-01-01 10:00', -20.5),
           (1, TIMESTAMP '2024-01-03 10:00', 250.0),
           (2, TIMESTAMP '2024-01-02 09:00', 12.0)) t(customer_id, ts, amount)""",
    )
    return workbench


def test_durations() -> None:
    assert duration_ns("90d", "x") == 90 * 86_400 * 10**9
    assert duration_ns(timedelta(hours=1, microseconds=1), "x") == 3_600_000_001_000
    assert duration_ns(0, "x") is None
    assert format_duration(36 * 3600 * 10**9) == "36h"
    assert format_duration(1_500_000_000) == "1500ms"
    with pytest.raises(InvalidInput, match="not a duration"):
        duration_ns("2 weeks", "ttl")


def test_definitions_are_validated() -> None:
    with pytest.raises(InvalidInput, match="either source= or query="):
        FeatureView("v", "e", "ts", features=["x"])
    with pytest.raises(InvalidInput, match="unknown function"):
        Aggregation("x", ["median"], ["7d"])
    with pytest.raises(InvalidInput, match="twice"):
        FeatureView("v", "e", "ts", source="t", features=["x", "x"])
    with pytest.raises(InvalidInput, match="named function"):
        Derived("f", python=lambda x: x, inputs=["x"])
    view = FeatureView(
        "v",
        Entity("e", ["k"]),
        "ts",
        source="s.t",
        ttl="1d",
        features=["x"],
        aggregations=[Aggregation("x", ["avg"], ["7d", 86_400])],
    )
    assert view.feature_names() == ["x", "x_avg_7d", "x_avg_1d"]
    assert FeatureView.from_spec(view.spec()).spec() == view.spec()


def test_apply_python_file_with_diff_versions_and_lineage(bank: Workbench, tmp_path: Path) -> None:
    store = bank.features
    (tmp_path / "features.py").write_text(FEATURES_PY)
    definitions = store.load(tmp_path)
    plan = store.apply(definitions, by="ada", dry_run=True)
    assert plan.project == "churn" and not plan.applied
    assert [c.line().split("\n")[0] for c in plan.pending] == [
        "+ entity customer",
        "+ view spend (version 1)",
        "+ service churn_model",
    ]
    assert store.views() == []  # a dry run writes nothing
    store.apply(definitions, by="ada")
    again = store.apply(store.load(tmp_path), by="ada", dry_run=True)
    assert again.pending == [] and again.text() == "no changes"
    labels = pd.DataFrame(
        {
            "customer_id": [1, 2],
            "event_timestamp": pd.to_datetime(["2024-01-03 12:00", "2024-01-02 00:00"]),
        }
    )
    result = store.training_set(labels, "churn_model", save_as="ml.train", by="ada")
    assert result.table.column("band").to_pylist() == ["big", None]
    assert result.table.column("amount_sum_7d").to_pylist() == [229.5, None]
    assert result.name == "ml.train" and result.version is not None
    saved = bank.warehouse.read("train", schema="ml")
    assert saved.column("amount_sum_7d").to_pylist() == [229.5, None]
    # Changing a window removes amount_sum_7d, which the training set and service use.
    (tmp_path / "features.py").write_text(FEATURES_PY.replace('["7d", "30d"]', '["14d", "30d"]'))
    with pytest.raises(Conflict, match=r"training set ml\.train .* uses spend:amount_sum_7d"):
        store.apply(store.load(tmp_path), by="ada")
    # A change that keeps every used feature gets a new version; the old one stays readable.
    (tmp_path / "features.py").write_text(FEATURES_PY.replace('ttl="30d"', 'ttl="60d"'))
    plan = store.apply(store.load(tmp_path), by="ada")
    assert plan.pending[0].details == ("ttl: '30d' -> '60d'",) and plan.pending[0].version == 2
    info = store.view("spend")
    assert info.version == 2 and [v["version"] for v in info.versions] == [2, 1]
    assert info.upstream == ["bank.tx"] and info.services == ["churn_model"]
    assert info.training_sets[0]["name"] == "ml.train"
    assert store.training_sets()[0]["feature_views"] == {"spend": 1}
    stats = store.statistics("spend")
    assert stats["rows"] == 3 and stats["features"]["amount"]["max"] == 250.0


def test_yaml_projects_and_sharing(bank: Workbench, tmp_path: Path) -> None:
    store = bank.features
    (tmp_path / "features.yaml").write_text(FEATURES_YAML)
    store.apply(store.load(tmp_path / "features.yaml"), by="ada")
    assert [v.name for v in store.views(project="churn")] == ["spend"]
    other = Definitions(
        views=[FeatureView("spend", "customer", "ts", source="bank.tx", features=["amount"])]
    )
    with pytest.raises(Conflict, match="belongs to project 'churn'"):
        store.apply(other, project="fraud", by="bob")
    private = Definitions(
        views=[
            FeatureView(
                "secret", "customer", "ts", source="bank.tx", features=["amount"], shared=False
            )
        ]
    )
    store.apply(private, project="fraud", by="bob")
    labels = pd.DataFrame({"customer_id": [1], "event_timestamp": pd.to_datetime(["2024-01-05"])})
    with pytest.raises(PermissionDenied, match="not shared"):
        store.training_set(labels, ["secret:amount"], project="churn")
    assert store.training_set(labels, ["secret:amount"], project="fraud").rows == 1
    assert [v.name for v in store.views(search="amount secret")] == ["secret"]


def test_bad_definitions_are_refused_with_the_reason(bank: Workbench) -> None:
    store = bank.features
    customer = Entity("customer", ["customer_id"])
    cases = [
        (FeatureView("v", customer, "ts", source="bank.nope", features=["x"]), "cannot read"),
        (
            FeatureView("v", customer, "amount", source="bank.tx", features=["x"]),
            "must be a TIMESTAMP",
        ),
        (FeatureView("v", customer, "ts", source="bank.tx", features=["nope"]), "'nope' is not in"),
        (
            FeatureView(
                "v", customer, "ts", query="SELECT * FROM read_csv('/etc/passwd')", features=["x"]
            ),
            "read_csv|passwd|Permission|cannot read",
        ),
        (
            FeatureView(
                "v",
                customer,
                "ts",
                source="bank.tx",
                features=[Derived("x", sql="sqlite_scan('a', 'b')")],
            ),
            "not available",
        ),
    ]
    for view, message in cases:
        with pytest.raises(InvalidInput, match=message):
            store.apply(Definitions([customer], [view]), project="p", by="ada")
    with pytest.raises(InvalidInput, match="neither defined here"):
        store.apply(
            Definitions(
                [], [FeatureView("v", "ghost", "ts", source="bank.tx", features=["amount"])]
            ),
            project="p",
        )
    with pytest.raises(NotFound):
        store.view("v")
