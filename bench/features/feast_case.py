"""One benchmark case on Feast, run by the peer virtualenv's Python (no Atelier imports):
``python feast_case.py {file|duckdb} REPO TABLE FRAME OUT`` prints a JSON line of results and
writes the answer to OUT (after the clock stops)."""

from __future__ import annotations

import json
import sys
import time
from datetime import timedelta
from pathlib import Path

FEATURES = [f"f{i}" for i in range(10)]


def main(store_type: str, repo: str, table: str, frame: str, out: str) -> None:
    import feast
    import pandas as pd
    from feast import Entity, FeatureStore, FeatureView, Field, FileSource
    from feast.repo_config import RepoConfig
    from feast.types import Float64
    from feast.value_type import ValueType

    root = Path(repo)
    root.mkdir(parents=True, exist_ok=True)
    config = RepoConfig(
        project="bench",
        registry=str(root / "registry.db"),
        provider="local",
        offline_store={"type": store_type},
        online_store={"type": "sqlite", "path": str(root / "online.db")},
        entity_key_serialization_version=3,
        repo_path=str(root),
    )
    store = FeatureStore(config=config)
    entity = Entity(name="entity", join_keys=["entity_id"], value_type=ValueType.INT64)
    source = FileSource(
        path=table, timestamp_field="event_timestamp", created_timestamp_column="created"
    )
    view = FeatureView(
        name="bench",
        entities=[entity],
        ttl=timedelta(days=2),
        schema=[Field(name=f, dtype=Float64) for f in FEATURES],
        source=source,
    )
    store.apply([entity, view])
    entities = pd.read_parquet(frame)
    started = time.perf_counter()
    job = store.get_historical_features(
        entity_df=entities, features=[f"bench:{f}" for f in FEATURES]
    )
    result = job.to_df()
    seconds = time.perf_counter() - started
    peak = peak_bytes()
    result.to_parquet(out)
    print(json.dumps({"seconds": seconds, "peak_bytes": peak, "feast": feast.__version__}))


def peak_bytes() -> int:
    """This process's peak resident memory (VmHWM: counted from exec, unlike ru_maxrss)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


if __name__ == "__main__":
    main(*sys.argv[1:6])
