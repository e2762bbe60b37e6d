"""Feature views over tables of attached sources (a real SQLite file; PostgreSQL), and feature
views in the data catalog."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest

from atelier.errors import NotFound
from atelier.services.features import Aggregation, Definitions, Entity, FeatureView
from atelier.services.workbench import Workbench

ROWS = [
    (1, "2024-01-01 10:00:00", 10.0),
    (1, "2024-01-05 10:00:00", 30.0),
    (2, "2024-01-02 08:00:00", 5.0),
]
LABELS = [(1, "2024-01-04 00:00:00", 1), (1, "2024-01-06 00:00:00", 0), (3, "2024-01-06", 0)]


@contextmanager
def sqlite_source(tmp_path: Path) -> Iterator[tuple[str, dict[str, object]]]:
    path = tmp_path / "shop.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE events (cid INTEGER, ts TIMESTAMP, amount DOUBLE)")
        db.executemany("INSERT INTO events VALUES (?, ?, ?)", ROWS)
        db.execute("CREATE TABLE labels (cid INTEGER, ts TIMESTAMP, churned INTEGER)")
        db.executemany("INSERT INTO labels VALUES (?, ?, ?)", LABELS)
    db.close()
    yield "sqlite", {"path": str(path)}


@contextmanager
def postgres_source() -> Iterator[tuple[str, dict[str, object]]]:
    import psycopg

    from tests.conftest import fresh_postgres_database
    from tests.services.catalog.servers import server_options

    with fresh_postgres_database("atelier_features") as url:
        with psycopg.connect(url, autocommit=True) as connection:
            connection.execute("CREATE TABLE events (cid int, ts timestamp, amount float8)")
            connection.execute("CREATE TABLE labels (cid int, ts timestamp, churned int)")
            with connection.cursor() as cursor:
                cursor.executemany("INSERT INTO events VALUES (%s, %s, %s)", ROWS)
                cursor.executemany("INSERT INTO labels VALUES (%s, %s, %s)", LABELS)
        yield "postgres", server_options(url)


@pytest.fixture(params=["sqlite", "postgres"])
def shop(request: pytest.FixtureRequest, local: Workbench, tmp_path: Path) -> Iterator[str]:
    """Source ``shop`` with ``events`` and ``labels``; yields the source's schema."""
    opened = sqlite_source(tmp_path) if request.param == "sqlite" else postgres_source()
    with opened as (kind, options):
        local.sources.add("shop", kind, options=options, secrets={}, by="ada")
        yield "main" if kind == "sqlite" else "public"


def spend(schema: str) -> Definitions:
    customer = Entity("customer", ["cid"])
    doubled = FeatureView(
        "shop_doubled",
        customer,
        "ts",
        query=f"SELECT cid, ts, amount * 2 AS doubled FROM shop.{schema}.events",
        features=["doubled"],
    )
    view = FeatureView(
        "shop_spend",
        customer,
        "ts",
        source=f"shop.{schema}.events",
        ttl="2d",
        features=["amount"],
        aggregations=[Aggregation("amount", ["sum"], ["7d"])],
        description="Spend from the shop database",
    )
    return Definitions([customer], [view, doubled], project="shop")


def test_view_over_a_source_table(local: Workbench, shop: str) -> None:
    store = local.features
    plan = store.apply(spend(shop), by="ada")
    assert [c.action for c in plan.changes] == ["create"] * 3
    assert store.view("shop_spend").upstream == [f"shop.{shop}.events"]

    labels = f"shop.{shop}.labels"
    train = store.training_set(labels, ["shop_spend:amount", "shop_spend:amount_sum_7d"])
    frame = train.to_pandas()
    assert frame["cid"].tolist() == [1, 1, 3]
    # 2024-01-04: the 01-01 row is 3 days old (past the ttl); the window still counts it.
    assert frame["amount"].isna().tolist() == [True, False, True]
    assert frame["amount"][1] == 30.0
    assert frame["amount_sum_7d"].tolist()[:2] == [10.0, 40.0]
    assert pd.isna(frame["amount_sum_7d"][2])
    # A query over the source table: lineage to it, computed like any other view.
    assert store.view("shop_doubled").upstream == [f"shop.{shop}.events"]
    doubled = store.training_set(labels, ["shop_doubled:doubled"]).to_pandas()
    assert doubled["doubled"].fillna(-1).tolist() == [20.0, 60.0, -1]

    stats = store.statistics("shop_spend")
    assert stats["rows"] == 3 and stats["last_event"].startswith("2024-01-05T10:00:00")
    store.materialize(["shop_spend"], as_of=datetime(2024, 1, 6))
    online = store.online({"cid": [2, 1]}, ["shop_spend:amount_sum_7d"]).to_pylist()
    assert [row["amount_sum_7d"] for row in online] == [5.0, 40.0]

    entry = next(e for e in local.catalog.list() if e.name == "shop_spend")
    assert entry.name == "shop_spend" and entry.upstream == (f"shop.{shop}.events",)
    assert entry.link == "/features/shop_spend" and entry.rows == 3
    assert entry.freshness is not None
    assert entry.freshness["last_event"] == stats["last_event"]
    assert entry.freshness["materialized_at"] is not None
    assert [c.name for c in entry.columns] == ["amount", "amount_sum_7d"]
    # Searching for the source table finds the view that reads it.
    found = local.catalog.list(f"shop.{shop}.events")
    assert {"shop_spend", "shop_doubled"} <= {e.name for e in found}


def test_unknown_source_is_a_clear_error(local: Workbench) -> None:
    with pytest.raises(NotFound, match="no source named 'nowhere'"):
        local.features.apply(
            Definitions(
                [Entity("customer", ["cid"])],
                [FeatureView("v", "customer", "ts", source="nowhere.main.t", features=["x"])],
            ),
            project="p",
        )
