"""Per-feature statistics and freshness of a view, computed over its source rows and kept in
metadata (``atelier features show --stats`` and the portal refresh them)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from atelier.backends.metadata import FeatureViewRecord
from atelier.backends.warehouse.sql import ident
from atelier.errors import NotFound
from atelier.services.features.compile import TS, compile_view, feature_types
from atelier.services.features.definitions import FeatureView

if TYPE_CHECKING:
    from atelier.services.features.store import FeatureStore

_NUMERIC = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "FLOAT", "DOUBLE", "DECIMAL")
_UNSIGNED = ("UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT")


def refresh_statistics(store: FeatureStore, name: str) -> dict[str, Any]:
    """Compute the statistics of view ``name``'s row features and store them."""
    with store.db.session() as session:
        row = session.scalar(select(FeatureViewRecord).where(FeatureViewRecord.name == name))
        if row is None:
            raise NotFound(f"no feature view {name!r}")
        view = FeatureView.from_spec(row.spec)
    masking = store.plan(None)  # stored and shown to every reader: always masked
    with store.connection([view], masking=masking) as con:
        compiled = compile_view(con, store.masked_view(con, view, masking), read=True)
        types = feature_types(con, compiled)
        keys = ", ".join(ident(k) for k in view.keys)
        items = ["count(*)", f"count(DISTINCT ({keys}))", f"min({TS})", f"max({TS})"]
        features = view.row_features()
        for feature in features:
            x = compiled.expression(feature)
            numeric = types[feature.name].startswith(_NUMERIC + _UNSIGNED)
            items += [f"count({x})", f"approx_count_distinct({x})"]
            if numeric:
                items += [
                    f"min({x})::DOUBLE",
                    f"max({x})::DOUBLE",
                    f"avg({x})::DOUBLE",
                    f"stddev_samp({x})::DOUBLE",
                ]
            else:
                items += [f"min({x})::VARCHAR", f"max({x})::VARCHAR", "NULL", "NULL"]
        result = con.execute(f"SELECT {', '.join(items)} FROM {compiled.relation}").fetchone()
    assert result is not None
    total, entities, first, last = (result[0], result[1], result[2], result[3])
    stats: dict[str, Any] = {
        "rows": int(total),
        "entities": int(entities),
        "first_event": _iso(first),
        "last_event": _iso(last),
        "lag_seconds": round((time.time_ns() - last) / 1e9, 3) if last is not None else None,
        "features": {},
    }
    for i, feature in enumerate(features):
        count, distinct, low, high, mean, std = result[4 + 6 * i : 10 + 6 * i]
        stats["features"][feature.name] = {
            "type": types[feature.name],
            "nulls": int(total) - int(count),
            "null_fraction": round(1 - count / total, 6) if total else None,
            "distinct": int(distinct),
            "min": low,
            "max": high,
            "mean": mean,
            "stddev": std,
        }
    with store.db.session() as session:
        row = session.scalar(select(FeatureViewRecord).where(FeatureViewRecord.name == name))
        if row is not None:
            row.stats = stats
            row.stats_at = datetime.now(UTC)
    return stats


def _iso(ns: int | None) -> str | None:
    if ns is None:
        return None
    seconds, rest = divmod(int(ns), 10**9)
    moment = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{moment}.{rest:09d}Z"
