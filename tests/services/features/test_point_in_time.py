"""Hand-built cases for each point-in-time rule, checked on every join plan."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pyarrow as pa
import pytest

from atelier.errors import InvalidInput, NotFound
from atelier.services.features import Aggregation, Derived, Entity, FeatureStore, FeatureView, Plan
from tests.services.features.conftest import apply, write

PLANS = [
    Plan("asof", "window", False),
    Plan("asof", "range", True),
    Plan("range", "range", True),
    Plan("range", "window", False),
    Plan("range", "range", False, one_pass=True),
]
T0 = pd.Timestamp("2024-01-10")
NS = pd.Timedelta(1, "ns")
customer = Entity("customer", ["cid"])


@pytest.fixture
def events(store: FeatureStore) -> FeatureStore:
    """Customer 1: rows on Jan 1, 5 and 10 (two versions on Jan 5); customer 2: one row a
    nanosecond after midnight on Jan 3."""
    write(
        store,
        "CREATE SCHEMA s",
        """CREATE TABLE s.events AS SELECT * FROM (VALUES
          (1, TIMESTAMP_NS '2024-01-01 00:00:00', TIMESTAMP '2024-01-01', 1.0),
          (1, TIMESTAMP_NS '2024-01-05 00:00:00', TIMESTAMP '2024-01-05', 5.0),
          (1, TIMESTAMP_NS '2024-01-05 00:00:00', TIMESTAMP '2024-01-06', 55.0),
          (1, TIMESTAMP_NS '2024-01-10 00:00:00', TIMESTAMP '2024-01-10', 10.0),
          (2, TIMESTAMP_NS '2024-01-03 00:00:00.000000001', TIMESTAMP '2024-01-03', 3.0)
        ) t(cid, ts, created, v)""",
    )
    apply(
        store,
        customer,
        FeatureView(
            "ev",
            customer,
            "ts",
            source="s.events",
            created="created",
            ttl="2d",
            features=["v", Derived("double", sql="v * 2")],
            aggregations=[Aggregation("v", ["count", "sum", "last", "max"], ["3d"])],
        ),
        FeatureView(
            "ev_forever",
            customer,
            "ts",
            source="s.events",
            created="created",
            features=[Derived("v_any", sql="v")],
        ),
    )
    return store


def frame(*rows: tuple[int, pd.Timestamp]) -> pd.DataFrame:
    return pd.DataFrame(
        {"cid": [r[0] for r in rows], "event_timestamp": [r[1] for r in rows]}
    ).astype({"event_timestamp": "datetime64[ns]"})


def values(store: FeatureStore, entities: pd.DataFrame, features: list[str], plan: Plan) -> list:
    table = store.training_set(entities, features, plan=plan).table
    return [tuple(row[c] for c in table.column_names[2:]) for row in table.to_pylist()]


@pytest.mark.parametrize(
    "plan", PLANS, ids=lambda p: f"{p.rows}-{p.windows}-{p.filter_keys}-{p.one_pass}"
)
def test_ttl_boundary_to_the_nanosecond(events: FeatureStore, plan: Plan) -> None:
    jan10 = pd.Timestamp("2024-01-10")
    jan5 = pd.Timestamp("2024-01-05")
    rows = values(
        events,
        frame(
            (1, jan5 + pd.Timedelta(days=2)),  # exactly ttl old: still valid
            (1, jan5 + pd.Timedelta(days=2) + pd.Timedelta(seconds=1)),  # a second past
            (1, jan5 + pd.Timedelta(days=2) + NS),  # a nanosecond past
            (1, jan10 - NS),  # just before the next row
            (1, jan10),  # the row's own time counts
        ),
        ["ev:v"],
        plan,
    )
    assert rows == [(55.0,), (None,), (None,), (None,), (10.0,)]


@pytest.mark.parametrize(
    "plan", PLANS, ids=lambda p: f"{p.rows}-{p.windows}-{p.filter_keys}-{p.one_pass}"
)
def test_ties_duplicates_unknown_and_edges(events: FeatureStore, plan: Plan) -> None:
    entities = frame(
        (1, pd.Timestamp("2024-01-05 12:00")),  # tie on Jan 5: newest created (55) wins
        (1, pd.Timestamp("2024-01-05 12:00")),  # duplicate entity row: answered twice
        (9, pd.Timestamp("2024-01-05")),  # unknown entity
        (1, pd.Timestamp("2023-12-31 23:59:59")),  # before the first row
        (1, pd.Timestamp("2024-03-01")),  # long after the last row: past the ttl
        (2, pd.Timestamp("2024-01-03")),  # a nanosecond before customer 2's only row
        (2, pd.Timestamp("2024-01-03") + NS),  # exactly at it
    )
    rows = values(events, entities, ["ev:v", "ev:double", "ev_forever:v_any"], plan)
    assert rows == [
        (55.0, 110.0, 55.0),
        (55.0, 110.0, 55.0),
        (None, None, None),
        (None, None, None),
        (None, None, 10.0),  # no ttl on ev_forever: the last value, however old
        (None, None, None),
        (3.0, 6.0, 3.0),
    ]


@pytest.mark.parametrize(
    "plan", PLANS, ids=lambda p: f"{p.rows}-{p.windows}-{p.filter_keys}-{p.one_pass}"
)
def test_windows_at_their_edges(events: FeatureStore, plan: Plan) -> None:
    features = ["ev:v_count_3d", "ev:v_sum_3d", "ev:v_last_3d", "ev:v_max_3d"]
    rows = values(
        events,
        frame(
            (1, pd.Timestamp("2024-01-04")),  # Jan 1 is exactly 3 days old: out
            (1, pd.Timestamp("2024-01-04") - NS),  # a nanosecond earlier it is in
            (1, pd.Timestamp("2024-01-07")),  # Jan 5 (newest version only) in the window
            (1, pd.Timestamp("2024-01-10")),  # Jan 10 counts at its own time; Jan 5 is out
            (1, pd.Timestamp("2024-01-08")),  # a gap: Jan 5 gone, Jan 10 not yet
            (9, pd.Timestamp("2024-01-08")),  # unknown: zero rows, no values
        ),
        features,
        plan,
    )
    assert rows == [
        (0, None, None, None),
        (1, 1.0, 1.0, 1.0),
        (1, 55.0, 55.0, 55.0),
        (1, 10.0, 10.0, 10.0),
        (0, None, None, None),
        (0, None, None, None),
    ]


def test_several_views_with_different_ttls_and_input_columns_kept(events: FeatureStore) -> None:
    entities = frame((1, pd.Timestamp("2024-01-09")), (2, pd.Timestamp("2024-01-04")))
    entities["label"] = [True, False]
    result = events.training_set(entities, ["ev:*", "ev_forever:v_any"])
    table = result.table
    assert table.column_names == [
        "cid",
        "event_timestamp",
        "label",
        "v",
        "double",
        "v_count_3d",
        "v_sum_3d",
        "v_last_3d",
        "v_max_3d",
        "v_any",
    ]
    assert table.column("v").to_pylist() == [None, 3.0]  # Jan 5 is 4 days old on Jan 9
    assert table.column("v_any").to_pylist() == [55.0, 3.0]
    assert table.column("label").to_pylist() == [True, False]
    assert result.view_versions == {"ev": 1, "ev_forever": 1}
    assert b"atelier.training_set" in table.schema.metadata


def test_nanoseconds_survive_and_zones_compare_in_utc(events: FeatureStore) -> None:
    moment = pd.Timestamp("2024-01-03 00:00:00.000000001")
    entities = pd.DataFrame(
        {
            "cid": [2, 2],
            "event_timestamp": pd.Series([moment - NS, moment])
            .dt.tz_localize("UTC")
            .dt.tz_convert("Europe/Paris"),
        }
    )
    table = events.training_set(entities, ["ev:v"]).table
    assert table.column("v").to_pylist() == [None, 3.0]
    assert table.schema.field("event_timestamp").type == pa.timestamp("ns", tz="Europe/Paris")
    back = table.column("event_timestamp").to_pandas()
    assert back.iloc[1] == moment.tz_localize("UTC")


def test_polars_arrow_and_table_inputs(events: FeatureStore) -> None:
    import polars as pl

    when = dt.datetime(2024, 1, 6)
    polars_frame = pl.DataFrame({"cid": [1], "when": [when]})
    assert events.training_set(polars_frame, ["ev:v"], timestamp="when").to_polars()["v"][0] == 55.0
    arrow = pa.table({"cid": [1], "event_timestamp": pa.array([when], pa.timestamp("us"))})
    assert events.training_set(arrow, ["ev:v"]).table.column("v")[0].as_py() == 55.0
    write(
        events,
        "CREATE TABLE s.labels AS SELECT 1 AS cid, TIMESTAMP '2024-01-06' AS event_timestamp",
    )
    assert events.training_set("s.labels", ["ev:v"]).table.column("v")[0].as_py() == 55.0


def test_clear_errors(events: FeatureStore) -> None:
    good = frame((1, T0))
    with pytest.raises(InvalidInput, match="not a timestamp"):
        events.training_set(pd.DataFrame({"cid": [1], "event_timestamp": ["x"]}), ["ev:v"])
    with pytest.raises(InvalidInput, match="no column 'cid'"):
        events.training_set(good.rename(columns={"cid": "id"}), ["ev:v"])
    with pytest.raises(NotFound, match="no feature 'nope'"):
        events.training_set(good, ["ev:nope"])
    with pytest.raises(NotFound, match="no feature view 'other'"):
        events.training_set(good, ["other:v"])
    with pytest.raises(InvalidInput, match="full_names"):
        events.training_set(good, ["ev:v", "ev_forever:v_any", "ev@1:v"])
    with pytest.raises(InvalidInput, match="full_names"):
        events.training_set(good.assign(v=1), ["ev:v"])
    pinned = events.training_set(good, ["ev:v", "ev@1:double"])
    assert pinned.table.column_names[-2:] == ["v", "double"]


@pytest.mark.parametrize("plan", [None, *PLANS], ids=str)
def test_empty_frames_and_missing_times(events: FeatureStore, plan: Plan | None) -> None:
    empty = frame()
    result = events.training_set(empty, ["ev:v", "ev:v_count_3d"], plan=plan).table
    assert result.num_rows == 0 and result.column_names[-2:] == ["v", "v_count_3d"]
    missing = frame((1, pd.NaT), (1, pd.Timestamp("2024-01-06")))
    result = events.training_set(missing, ["ev:v", "ev:v_count_3d"], plan=plan).table
    assert result.column("v").to_pylist() == [None, 55.0]
    assert result.column("v_count_3d").to_pylist() == [0, 1]
