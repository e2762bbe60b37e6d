"""The bounds the engine puts on a view's own time column (for the scan to skip files and row
groups) never drop a row that the answer needs, whatever the column's type; the frame's
statistics counted in Arrow are those SQL counts."""

from __future__ import annotations

import duckdb
import pandas as pd
import pyarrow as pa
import pytest

from atelier.services.features import Entity, FeatureStore, FeatureView, Plan
from atelier.services.features.compile import Compiled
from atelier.services.features.definitions import FeatureView as View
from atelier.services.features.engine import Frame, _raw_time_bounds, distinct_keys
from tests.services.features.conftest import apply, write

PLANS = [
    None,
    Plan("asof", "window", False),
    Plan("asof", "window", True),
    Plan("range", "range", False),
    Plan("range", "range", False, one_pass=True),
]
TYPES = {
    "t_date": "DATE",
    "t_s": "TIMESTAMP_S",
    "t_us": "TIMESTAMP",
    "t_ns": "TIMESTAMP_NS",
    "t_tz": "TIMESTAMPTZ",
}
customer = Entity("customer", ["cid"])


@pytest.fixture
def typed(store: FeatureStore) -> FeatureStore:
    """Per customer, a row every 6 hours of January (every fifth missing), a second version
    of some rows (newer or without ``created``) and null values; the same instant in each
    time type."""
    columns = ", ".join(f"CAST(ts AS {kind}) AS {name}" for name, kind in TYPES.items())
    write(
        store,
        "SET TimeZone = 'UTC'",
        "CREATE SCHEMA s",
        f"""CREATE TABLE s.typed AS
            WITH base AS (
              SELECT c AS cid, TIMESTAMP '2024-01-01' + to_hours(6 * h) AS ts, h
              FROM range(1, 4) a(c), range(124) b(h) WHERE (h + c) % 5 <> 0),
            versions AS (
              SELECT cid, ts, h, ts + INTERVAL 1 MINUTE AS created, 0 AS v FROM base
              UNION ALL SELECT cid, ts, h, ts + INTERVAL 2 MINUTE, 1 FROM base WHERE h % 7 = 0
              UNION ALL SELECT cid, ts, h, NULL, 2 FROM base WHERE h % 11 = 0)
            SELECT cid, {columns}, created,
                   CASE WHEN (h + v) % 9 = 0 THEN NULL ELSE cid * 1000 + h + v / 10 END AS x
            FROM versions""",
    )
    apply(
        store,
        customer,
        *[
            FeatureView(
                f"by_{name}",
                customer,
                name,
                source="s.typed",
                created="created",
                ttl="2d",
                features=["x"],
            )
            for name in TYPES
        ],
    )
    return store


def _expected(rows: pd.DataFrame, column: str, entities: pd.DataFrame) -> list[float | None]:
    """Brute force: the newest row of the key within [event - 2 days, event], newest
    ``created`` first (nulls last)."""
    times = pd.to_datetime(rows[column], utc=True).dt.tz_localize(None)
    found: list[float | None] = []
    for cid, event in zip(entities["cid"], entities["event_timestamp"], strict=True):
        mine = rows[
            (rows["cid"] == cid) & (times <= event) & (times >= event - pd.Timedelta(days=2))
        ]
        if mine.empty:
            found.append(None)
            continue
        newest = pd.to_datetime(mine[column], utc=True).max()
        at = mine[pd.to_datetime(mine[column], utc=True) == newest]
        at = at.sort_values("created", na_position="first")
        value = at["x"].iloc[-1]
        found.append(None if pd.isna(value) else float(value))
    return found


def test_a_narrow_frame_gets_every_row_it_needs_in_every_time_type(typed: FeatureStore) -> None:
    # A frame spanning two days in the middle of the month: the bounds cut most files' rows,
    # and its edges sit on feature rows and exactly a ttl after them.
    events = [
        "2024-01-12 00:00:00",
        "2024-01-12 00:00:00.000000001",
        "2024-01-12 05:59:59.999999999",
        "2024-01-13 06:00:00",
        "2024-01-14 00:00:00",
        "2024-01-14 00:00:00",
    ]
    entities = pd.DataFrame(
        {
            "cid": [1, 2, 3, 1, 2, 4],
            "event_timestamp": pd.to_datetime(events, format="ISO8601").astype("datetime64[ns]"),
        }
    )
    rows = typed.warehouse.read("typed", schema="s").to_pandas()
    for name in TYPES:
        want = _expected(rows, name, entities)
        assert any(v is not None for v in want)
        for plan in PLANS:
            table = typed.training_set(entities, [f"by_{name}:x"], plan=plan).table
            assert table.column("x").to_pylist() == want, (name, plan)


KINDS = ["DATE", "TIMESTAMP_S", "TIMESTAMP_MS", "TIMESTAMP", "TIMESTAMP_NS"]


@pytest.mark.parametrize("kind", [*KINDS, "TIMESTAMP WITH TIME ZONE"])
def test_bounds_on_the_column_hold_the_exact_bounds(kind: str) -> None:
    """A value exactly at either bound (in the column's own type, cut to its unit) passes
    the conditions put on the column; a value days outside does not."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'America/New_York'")
    view = View("v", Entity("e", ["k"]), "t", source="s.t", features=["x"])
    compiled = Compiled(view, "s", {"k": "BIGINT", "t": kind, "x": "DOUBLE"}, None)
    low = pd.Timestamp("2024-03-10 07:30:00.123456789").value
    high = pd.Timestamp("2024-03-12 23:59:59.999999999").value
    bounds = _raw_time_bounds(compiled, low, high)
    assert len(bounds) == 2
    test = " AND ".join(bounds)
    for ns, inside in (
        (low, True),
        (high, True),
        (low - 3 * 86_400 * 10**9, False),
        (high + 3 * 86_400 * 10**9, False),
    ):
        value = f"CAST(CAST(make_timestamp_ns({ns}) AS TIMESTAMP) AS {kind})"
        if "ZONE" in kind:
            value = f"to_timestamp({ns} / 1e9)"
        row = con.execute(f"SELECT {test} FROM (SELECT {value} AS t) s").fetchone()
        assert row is not None and row[0] is inside, (kind, ns, bounds)


def test_other_time_types_and_no_lower_bound() -> None:
    view = View("v", Entity("e", ["k"]), "t", source="s.t", features=["x"])
    compiled = Compiled(view, "s", {"k": "BIGINT", "t": "VARCHAR", "x": "DOUBLE"}, None)
    assert _raw_time_bounds(compiled, 0, 10) == []
    compiled.columns["t"] = "TIMESTAMP"
    assert len(_raw_time_bounds(compiled, None, 10)) == 1
    # Near the end of TIMESTAMP_NS: no bound rather than one that overflows.
    assert _raw_time_bounds(compiled, None, 2**63 - 10) == []


def test_distinct_keys_in_arrow_match_sql() -> None:
    con = duckdb.connect()
    table = pa.table(
        {
            "a": [1, 1, 2, None, None, 2, 1],
            "b": ["x", "x", "y", None, "z", "y", None],
            "t": list(range(7)),
        }
    )
    con.register("f", table)
    for keys in (["a"], ["b"], ["a", "b"]):
        arrow = distinct_keys(con, Frame("f", 7, 0, 6, table), keys)
        sql = distinct_keys(con, Frame("f", 7, 0, 6), keys)
        assert arrow == sql, keys
    assert distinct_keys(con, Frame("f", 7, 0, 6, table), ["a", "b"]) == 5
