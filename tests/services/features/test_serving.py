"""Materialization and online lookups, on the SQLite and Redis online stores."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import redis

from atelier.config.settings import FeatureSettings
from atelier.errors import InvalidInput, NotFound
from atelier.services.features import Aggregation, Entity, FeatureService, FeatureStore, FeatureView
from tests.services.features.conftest import apply, write

REDIS = "redis://127.0.0.1:6379/15"


def redis_up() -> bool:
    try:
        return bool(redis.Redis.from_url(REDIS, socket_timeout=1).ping())
    except redis.RedisError:
        return False


@pytest.fixture(params=["sqlite", "redis"])
def served(request: pytest.FixtureRequest, store: FeatureStore) -> Iterator[FeatureStore]:
    if request.param == "redis":
        if not redis_up():
            pytest.skip("no Redis on 127.0.0.1:6379")
        store.settings = FeatureSettings(online_store="redis", redis_url=REDIS)
    write(
        store,
        "CREATE SCHEMA s",
        """CREATE TABLE s.tx AS SELECT * FROM (VALUES
          (1, 'a', TIMESTAMP '2024-01-01', 1.5),
          (1, 'a', TIMESTAMP '2024-01-09', 2.5),
          (2, 'b', TIMESTAMP '2024-01-02', 7.0)) t(k, region, ts, amount)""",
        "ALTER TABLE s.tx ALTER amount TYPE DOUBLE",
    )
    account = Entity("account", ["k", "region"])
    view = FeatureView(
        # A unique name keeps runs apart in a shared Redis.
        f"tx_{uuid.uuid4().hex[:8]}",
        account,
        "ts",
        source="s.tx",
        ttl="3d",
        features=["amount"],
        aggregations=[Aggregation("amount", ["sum", "count"], ["7d"])],
    )
    apply(store, account, view, FeatureService("scoring", [f"{view.name}:amount_sum_7d"]))
    store.view_name = view.name  # type: ignore[attr-defined]
    yield store
    from atelier.backends.online import open_store

    backend = open_store(store.settings, store.root)
    backend.drop(view.name)
    backend.close()


def test_materialize_then_look_up(served: FeatureStore) -> None:
    name = served.view_name  # type: ignore[attr-defined]
    as_of = datetime(2024, 1, 10, tzinfo=UTC)
    with pytest.raises(NotFound, match="never materialized"):
        served.online({"k": [1], "region": ["a"]}, [f"{name}:amount"])
    (result,) = served.materialize([name], as_of=as_of)
    assert result["mode"] == "full" and result["entities"] == 2
    keys = {"k": [2, 1, 3], "region": ["b", "a", "a"]}
    table = served.online(keys, [f"{name}:amount_sum_7d", f"{name}:amount_count_7d"])
    assert table.column_names == ["k", "region", "amount_sum_7d", "amount_count_7d"]
    assert table.column("amount_sum_7d").to_pylist() == [None, 2.5, None]
    assert table.column("amount_count_7d").to_pylist() == [0, 1, None]
    # Row features are served within their ttl of now: these 2024 rows are long stale.
    assert served.online(keys, [f"{name}:amount"]).column("amount").to_pylist() == [None] * 3
    # A feature service stands for its features.
    assert served.online(keys, "scoring").column("amount_sum_7d").to_pylist()[1] == 2.5
    with pytest.raises(InvalidInput, match="key of view"):
        served.online({"k": [1]}, [f"{name}:amount"])


def test_incremental_picks_up_new_and_late_rows(served: FeatureStore) -> None:
    name = served.view_name  # type: ignore[attr-defined]
    served.materialize([name], as_of=datetime(2024, 1, 10, tzinfo=UTC))
    write(
        served,
        "INSERT INTO s.tx VALUES (2, 'b', TIMESTAMP '2024-01-08', 1.0)",  # late: before as_of
        "INSERT INTO s.tx VALUES (4, 'd', TIMESTAMP '2024-01-01', 9.0)",  # late and old
        "INSERT INTO s.tx VALUES (3, 'c', TIMESTAMP '2024-01-10 12:00', 4.0)",  # new
    )
    (result,) = served.materialize(
        [name], incremental=True, as_of=datetime(2024, 1, 11, tzinfo=UTC)
    )
    assert result["mode"] == "incremental" and result["entities"] == 4
    keys = {"k": [1, 2, 3, 4, 5], "region": ["a", "b", "c", "d", "e"]}
    table = served.online(keys, [f"{name}:amount_sum_7d", f"{name}:amount_count_7d"])
    assert table.column("amount_sum_7d").to_pylist() == [2.5, 1.0, 4.0, None, None]
    # Entity 4 is known (its only row arrived late, found in the lake's changes): zero rows
    # in the window; entity 5 is unknown: null.
    assert table.column("amount_count_7d").to_pylist() == [1, 1, 1, 0, None]
    assert served.view(name).materializations[0]["mode"] == "incremental"
