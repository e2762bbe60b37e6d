"""The independent answer: pandas ``merge_asof`` with the same rules, written to OUT:
``python -m bench.features.oracle TABLE FRAME OUT``.

Versions of a (key, time) are reduced first: sorted by ``created`` (nulls oldest) and by the
row hash (computed by DuckDB's ``hash`` over the row's columns, the tie rule), keeping the
last; then each entity row takes the latest row at or before its time, within the ttl
(``tolerance``, inclusive). Also writes which entity rows matched a genuine tie (two rows of
one key, time and ``created``), where an engine with another tie rule may answer otherwise."""

from __future__ import annotations

import sys

from bench.features.data import FEATURES, TTL_DAYS


def main(table: str, frame: str, out: str) -> None:
    import duckdb
    import pandas as pd

    columns = ", ".join(["entity_id", "event_timestamp", "created", *FEATURES])
    con = duckdb.connect()
    rows = con.execute(
        f"SELECT *, hash({columns}) AS tie, count(*) OVER "
        "(PARTITION BY entity_id, event_timestamp, created) > 1 AS genuine_tie "
        f"FROM read_parquet('{table}')"
    ).df()
    entities = pd.read_parquet(frame)
    # Null ``created`` is the oldest: NaT is the smallest int64.
    rows["created_rank"] = rows["created"].to_numpy().astype("int64")
    rows = rows.sort_values(["entity_id", "event_timestamp", "created_rank", "tie"])
    rows = rows.drop_duplicates(["entity_id", "event_timestamp"], keep="last")
    rows = rows.drop(columns=["created", "created_rank", "tie"]).sort_values("event_timestamp")
    left = entities.sort_values("event_timestamp")
    answer = pd.merge_asof(
        left,
        rows.rename(columns={"event_timestamp": "feature_time"}),
        left_on="event_timestamp",
        right_on="feature_time",
        by="entity_id",
        tolerance=pd.Timedelta(days=TTL_DAYS),
        direction="backward",
        allow_exact_matches=True,
    )
    answer = answer.sort_values("row_id").reset_index(drop=True)
    answer["genuine_tie"] = answer["genuine_tie"].fillna(False).astype(bool)
    answer.drop(columns=["feature_time"]).to_parquet(out)


if __name__ == "__main__":
    main(*sys.argv[1:4])
