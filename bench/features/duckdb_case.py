"""The engine's limit: one hand-written DuckDB query with Atelier's semantics (latest row at
or before the event time within the ttl; ties on time go to the newest ``created``, nulls
last, then to the greater hash of the row's columns), on the same Parquet files:
``python -m bench.features.duckdb_case TABLE FRAME OUT`` prints a JSON line and writes the
answer to OUT (after the clock stops).

The query: an ``ASOF LEFT JOIN`` of the entity frame on (key, time) against the feature
table's keys and times only, then the matched rows joined back on (key, time) with the tie
broken by ``QUALIFY``. (A single wide ``ASOF`` join cannot break ties: it takes any of the
rows of one time.) Times are compared in the table's own type; the frame is a DuckDB table
before the clock starts, as the engine's is after it registers the frame."""

from __future__ import annotations

import json
import sys
import time

from bench.features.atelier_case import peak_bytes
from bench.features.data import FEATURES, TTL_DAYS

COLUMNS = ["entity_id", "event_timestamp", "created", *FEATURES]


def query(table: str) -> str:
    values = ", ".join(f"b.{f}" for f in FEATURES)
    tie = ", ".join(f"s.{c}" for c in COLUMNS)
    return f"""
    WITH src AS NOT MATERIALIZED (SELECT * FROM read_parquet('{table}')),
    m AS (
      SELECT e.row_id, e.entity_id, k.event_timestamp AS fts
      FROM frame e ASOF LEFT JOIN (SELECT entity_id, event_timestamp FROM src) k
        ON e.entity_id = k.entity_id AND e.event_timestamp >= k.event_timestamp
      WHERE k.event_timestamp >= e.event_timestamp - INTERVAL {TTL_DAYS} DAY),
    b AS (
      SELECT m.row_id, s.* FROM m JOIN src s
        ON s.entity_id = m.entity_id AND s.event_timestamp = m.fts
      QUALIFY row_number() OVER (
        PARTITION BY m.row_id ORDER BY s.created DESC NULLS LAST, hash({tie}) DESC) = 1)
    SELECT e.row_id, e.entity_id, e.event_timestamp, e.label, {values}
    FROM frame e LEFT JOIN b ON b.row_id = e.row_id ORDER BY e.row_id"""


def main(table: str, frame: str, out: str) -> None:
    import duckdb

    con = duckdb.connect()
    con.execute(f"CREATE TABLE frame AS SELECT * FROM read_parquet('{frame}')")
    started = time.perf_counter()
    result = con.execute(query(table)).df()
    seconds = time.perf_counter() - started
    peak = peak_bytes()
    result.to_parquet(out)
    print(json.dumps({"seconds": seconds, "peak_bytes": peak, "duckdb": duckdb.__version__}))


if __name__ == "__main__":
    main(*sys.argv[1:4])
