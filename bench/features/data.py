"""Benchmark data: hourly feature rows (10 float features) per entity, and entity frames, with
the irregularities of real feature tables.

* Gaps: about 10% of (entity, hour) rows are missing.
* Versions: about 2% of rows have a second version at the same time; half of those have a
  newer ``created`` (it wins), half the same ``created`` (a genuine tie, broken by the rule
  of the engine under test). About 1% of rows have no ``created``.
* Nulls: about 5% of feature values are null.
* Entity frames: about 5% of rows repeat an earlier row's (entity, time), about 1% name an
  entity that has no rows, and event times start a day before the table (nothing within the
  ttl yet) and end a day after it.

Deterministic (values are hashes of the row's coordinates), written as Parquet once under
``bench/out/features`` and reused by every engine. ``ATELIER_BENCH_SMALL=1`` makes tables and
frames a tenth of the size (for iterating).
"""

from __future__ import annotations

import os
from pathlib import Path

START = "2024-01-01"
SMALL = os.environ.get("ATELIER_BENCH_SMALL") == "1"
#: (entities, days) of the two feature tables.
TABLES = ((1_000, 7), (10_000, 14)) if SMALL else ((10_000, 7), (100_000, 14))
FRAMES = (1_000, 10_000, 100_000) if SMALL else (10_000, 100_000, 1_000_000)
FEATURES = [f"f{i}" for i in range(10)]
TTL_DAYS = 2


def table_path(out: Path, entities: int, days: int) -> Path:
    return out / f"features_{entities}x{days}.parquet"


def frame_path(out: Path, entities: int, days: int, rows: int) -> Path:
    return out / f"entities_{entities}x{days}_{rows}.parquet"


def table_sql(entities: int, days: int) -> str:
    values = ", ".join(
        f"CASE WHEN hash(e, h, v, {i}) % 20 = 0 THEN NULL "
        f"ELSE (hash(e, h, v, {i}) % 1000000) / 1000000.0 END AS {name}"
        for i, name in enumerate(FEATURES)
    )
    return f"""
    WITH base AS (
      SELECT e, h FROM range({days * 24}) b(h), range({entities}) a(e)
      WHERE hash(e, h, 97) % 10 <> 0),
    versions AS (
      SELECT e, h, 0 AS v FROM base
      UNION ALL SELECT e, h, 1 FROM base WHERE hash(e, h, 98) % 50 = 0)
    SELECT e::BIGINT AS entity_id, TIMESTAMP '{START}' + to_hours(h) AS event_timestamp,
      CASE WHEN v = 0 AND hash(e, h, 99) % 100 = 0 THEN NULL
           WHEN v = 1 AND hash(e, h, 96) % 2 = 0
             THEN TIMESTAMP '{START}' + to_hours(h) + to_minutes(65)
           ELSE TIMESTAMP '{START}' + to_hours(h) + to_minutes(5) END AS created,
      {values}
    FROM versions ORDER BY h, e, v"""


def frame_sql(entities: int, days: int, rows: int) -> str:
    span = (days + 2) * 86_400
    return f"""
    SELECT i AS row_id,
      (hash(src, 1) % {entities + entities // 100})::BIGINT AS entity_id,
      TIMESTAMP '{START}' - INTERVAL 1 DAY + to_seconds((hash(src, 2) % {span})::BIGINT)
        AS event_timestamp,
      (hash(src, 3) % 2)::INTEGER AS label
    FROM (SELECT i, CASE WHEN hash(i, 4) % 20 = 0 THEN i // 7 ELSE i END AS src
          FROM range({rows}) t(i))"""


def generate(out: Path) -> None:
    """Write the feature tables and entity frames that are not there yet."""
    import duckdb

    out.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    try:
        for entities, days in TABLES:
            target = table_path(out, entities, days)
            if not target.exists():
                con.execute(
                    f"COPY ({table_sql(entities, days)}) TO '{target}' "
                    "(FORMAT parquet, ROW_GROUP_SIZE 122880)"
                )
            for rows in FRAMES:
                frame = frame_path(out, entities, days, rows)
                if not frame.exists():
                    con.execute(
                        f"COPY ({frame_sql(entities, days, rows)}) TO '{frame}' (FORMAT parquet)"
                    )
    finally:
        con.close()
