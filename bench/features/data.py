"""Benchmark data: hourly feature rows (10 float features) per entity, and entity frames.

Deterministic (values are hashes of the row's coordinates), written as Parquet once under
``bench/out/features`` and reused by every engine.
"""

from __future__ import annotations

from pathlib import Path

START = "2024-01-01"
#: (entities, days) of the two feature tables.
TABLES = ((10_000, 7), (100_000, 14))
FRAMES = (10_000, 100_000, 1_000_000)
FEATURES = [f"f{i}" for i in range(10)]
TTL_DAYS = 2


def table_path(out: Path, entities: int, days: int) -> Path:
    return out / f"features_{entities}x{days}.parquet"


def frame_path(out: Path, entities: int, days: int, rows: int) -> Path:
    return out / f"entities_{entities}x{days}_{rows}.parquet"


def generate(out: Path) -> None:
    """Write the feature tables and entity frames that are not there yet."""
    import duckdb

    out.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    try:
        for entities, days in TABLES:
            target = table_path(out, entities, days)
            if not target.exists():
                values = ", ".join(
                    f"(hash(e, h, {i}) % 1000000) / 1000000.0 AS {name}"
                    for i, name in enumerate(FEATURES)
                )
                con.execute(
                    f"COPY (SELECT e::BIGINT AS entity_id, "
                    f"TIMESTAMP '{START}' + to_hours(h) AS event_timestamp, {values} "
                    f"FROM range({days * 24}) b(h), range({entities}) a(e) ORDER BY h, e) "
                    f"TO '{target}' (FORMAT parquet, ROW_GROUP_SIZE 122880)"
                )
            for rows in FRAMES:
                frame = frame_path(out, entities, days, rows)
                if frame.exists():
                    continue
                # Event times span the table and one day past it, to the second.
                span = (days + 1) * 86_400
                con.execute(
                    f"COPY (SELECT (hash(i, 1) % {entities})::BIGINT AS entity_id, "
                    f"TIMESTAMP '{START}' + to_seconds((hash(i, 2) % {span})::BIGINT) "
                    f"AS event_timestamp, (hash(i, 3) % 2)::INTEGER AS label "
                    f"FROM range({rows}) t(i)) TO '{frame}' (FORMAT parquet)"
                )
    finally:
        con.close()
