"""The same SQL and training-set cases on a lake on local disk versus a lake on an S3 server
(moto's, on this machine): what object storage costs before the network does.

Both workspaces hold the same table (SQLite catalog each, so only where the Parquet files are
differs). Each measurement runs in a fresh Python process (one warm-up, then one timed run);
the sides and cases are interleaved, three rounds; the table gives the median and the spread.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROWS = 1_000_000
ENTITIES = 20_000
ROUNDS = 3
CASES = {
    "sql": "SELECT customer % 100 AS c, count(*) AS n, sum(amount) AS total "
    "FROM bench.events GROUP BY 1",
    "training set": f"{ENTITIES:,} entity rows, one feature (point-in-time join)",
}


# -- the measured side, in a child process -------------------------------------------------


def _child(case: str, root: str) -> None:
    import pandas as pd

    from atelier.config import Workspace
    from atelier.services.workbench import Workbench

    wb = Workbench(Workspace.open(Path(root)), migrate=False)
    user = wb.owner().name
    entities = pd.DataFrame(
        {
            "customer": [i % 5000 for i in range(ENTITIES)],
            "event_timestamp": pd.Timestamp("2024-03-01"),
        }
    )

    def once() -> int:
        if case == "sql":
            return int(wb.query.run(CASES["sql"], user=user).to_arrow().num_rows)
        return int(wb.features.training_set(entities, ["events:amount"], by=user).table.num_rows)

    once()
    start = time.perf_counter()
    rows = once()
    seconds = time.perf_counter() - start
    wb.close()
    print(json.dumps({"seconds": seconds, "rows": rows}))


def _measure(case: str, root: Path, env: dict[str, str]) -> float:
    done = subprocess.run(
        [sys.executable, "-m", "bench.object_storage", case, str(root)],
        check=True,
        capture_output=True,
        text=True,
        env=env,
        cwd=Path(__file__).parent.parent,
    )
    return float(json.loads(done.stdout.strip().splitlines()[-1])["seconds"])


# -- set-up --------------------------------------------------------------------------------


def _prepare(root: Path, env: dict[str, str]) -> None:
    import numpy as np
    import pandas as pd

    from atelier.config import Workspace, init_workspace
    from atelier.services.features import Definitions, Entity, FeatureView
    from atelier.services.workbench import Workbench

    init_workspace(root)
    wb = Workbench(Workspace.open(root, environ=env))
    try:
        day = pd.Timestamp("2024-01-01")
        n = np.arange(ROWS)
        events = pd.DataFrame(
            {
                "customer": n % 5000,
                "ts": day + pd.to_timedelta(n % 80_000, unit="m"),
                "amount": (n % 977).astype(float),
            }
        )
        wb.ingest.upload(events, "bench.events", by=wb.owner().name)
        customer = Entity("customer", ["customer"])
        view = FeatureView("events", customer, "ts", source="bench.events", features=["amount"])
        wb.features.apply(
            Definitions(entities=[customer], views=[view]), project="bench", by=wb.owner().name
        )
    finally:
        wb.close()


def run() -> str:
    # The tests' S3 server (moto's, in a process of its own): the same one the tests use.
    from tests.s3_server import running_s3_server

    with tempfile.TemporaryDirectory() as tmp, running_s3_server() as s3:
        store = s3.new_store(prefix="bench")
        base = {k: v for k, v in os.environ.items() if not k.startswith("ATELIER_")}
        sides = {
            "local disk": (Path(tmp) / "local", base),
            "S3 (moto)": (Path(tmp) / "s3", {**base, **s3.environment(store)}),
        }
        for root, env in sides.values():
            _prepare(root, env)
        times: dict[tuple[str, str], list[float]] = {}
        for _ in range(ROUNDS):
            for case in CASES:
                for side, (root, env) in sides.items():
                    times.setdefault((case, side), []).append(_measure(case, root, env))
        objects = len(store.keys_under(store.url("lake")))

    rows = []
    for case in CASES:
        local = statistics.median(times[(case, "local disk")])
        remote = statistics.median(times[(case, "S3 (moto)")])
        spread = {s: max(times[(case, s)]) - min(times[(case, s)]) for s in sides}
        rows.append(
            f"| {case} | {local:.3f} (±{spread['local disk']:.3f}) "
            f"| {remote:.3f} (±{spread['S3 (moto)']:.3f}) | **{remote / local:.2f}x** |"
        )
    return (
        "## Object storage: the lake on local disk vs on an S3 server\n\n"
        f"`bench.events`: {ROWS:,} rows (customer, ts, amount), one upload; on S3 the lake "
        f"is {objects} object(s) on moto's S3 server on this machine (HTTP on loopback, no "
        "network latency: a real bucket adds its round trips). SQL: "
        f"`{CASES['sql']}`. Training set: {CASES['training set']}. Seconds: median of "
        f"{ROUNDS} interleaved runs, each in a fresh process after a warm-up (± max - min).\n\n"
        "| case | local disk (s) | S3 (s) | S3 / local |\n|---|---|---|---|\n" + "\n".join(rows)
    )


if __name__ == "__main__":
    if len(sys.argv) > 2:
        _child(sys.argv[1], sys.argv[2])
    else:
        print(run())
