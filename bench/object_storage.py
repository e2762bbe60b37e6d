"""The same SQL and training-set cases on a lake on local disk versus a lake on an S3 server
(moto's, on this machine): what object storage costs before the network does.

Both workspaces hold the same table (SQLite catalog each, so only where the Parquet files are
differs). The table has what real event data has: missing amounts, customers with no events,
several events at one instant, rows not in time order. Each measurement runs in a fresh
Python process (one warm-up, then one timed run); the sides and cases are interleaved, three
rounds; the table gives the median and the spread. Every run's answer is kept and compared
value by value: the two sides with each other, and the SQL answer with pandas' own on the
same data.
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
from typing import Any

ROWS = 1_000_000
ENTITIES = 20_000
ROUNDS = 3
CASES = {
    "sql": "SELECT customer % 100 AS c, count(*) AS n, sum(amount) AS total "
    "FROM bench.events GROUP BY 1",
    "training set": f"{ENTITIES:,} entity rows, one feature (point-in-time join)",
}


# -- the measured side, in a child process -------------------------------------------------


def _entities() -> Any:
    """The entity frame: duplicate rows, customers with no events (5,000 to 5,499), and
    times spread over the table's span and beyond it."""
    import numpy as np
    import pandas as pd

    n = np.arange(ENTITIES)
    return pd.DataFrame(
        {
            "customer": (n * 7919) % 5500,
            "event_timestamp": pd.Timestamp("2024-01-01")
            + pd.to_timedelta((n * 104_729) % 90_000, unit="m"),
        }
    )


def _child(case: str, root: str, out: str) -> None:
    import pyarrow.parquet as pq

    from atelier.config import Workspace
    from atelier.services.workbench import Workbench

    wb = Workbench(Workspace.open(Path(root)), migrate=False)
    user = wb.owner().name
    entities = _entities()

    def once() -> Any:
        if case == "sql":
            return wb.query.run(CASES["sql"], user=user).to_arrow()
        return wb.features.training_set(entities, ["events:amount"], by=user).table

    once()
    start = time.perf_counter()
    answer = once()
    seconds = time.perf_counter() - start
    wb.close()
    pq.write_table(answer, out)
    print(json.dumps({"seconds": seconds, "rows": answer.num_rows}))


def _measure(case: str, root: Path, env: dict[str, str], out: Path) -> float:
    done = subprocess.run(
        [sys.executable, "-m", "bench.object_storage", case, str(root), str(out)],
        check=True,
        capture_output=True,
        text=True,
        env=env,
        cwd=Path(__file__).parent.parent,
    )
    return float(json.loads(done.stdout.strip().splitlines()[-1])["seconds"])


def _sorted(path: Path) -> Any:
    import pyarrow.parquet as pq

    frame = pq.read_table(path).to_pandas()
    return frame.sort_values(list(frame.columns)).reset_index(drop=True)


def _differing(answer: Any, expected: Any) -> int:
    """Rows of ``answer`` that differ from ``expected`` (both sorted), value by value; a
    different shape counts every row."""
    import pandas as pd

    if answer.shape != expected.shape or list(answer.columns) != list(expected.columns):
        return max(len(answer), len(expected))
    same = pd.Series(True, index=answer.index)
    for column in answer.columns:
        a, e = answer[column], expected[column]
        if pd.api.types.is_float_dtype(a) and pd.api.types.is_float_dtype(e):
            equal = ((a - e).abs() <= 1e-9 * e.abs().clip(lower=1)) | (a.isna() & e.isna())
        else:
            equal = (a == e) | (a.isna() & e.isna())
        same &= equal.fillna(False).astype(bool)
    return int((~same).sum())


def _pandas_sql(events: Any) -> Any:
    """The SQL case computed by pandas, as the engine should answer it."""
    grouped = events.assign(c=events["customer"] % 100).groupby("c", as_index=False)
    frame = grouped.agg(n=("customer", "size"), total=("amount", "sum"))
    frame["total"] = frame["total"].where(grouped["amount"].count()["amount"] > 0)
    return frame.sort_values(["c", "n", "total"]).reset_index(drop=True)


# -- set-up --------------------------------------------------------------------------------


def _events() -> Any:
    """The events: 5,000 customers (every tenth one has none), several events at one
    instant, rows out of time order, one amount in 37 missing."""
    import numpy as np
    import pandas as pd

    n = np.arange(ROWS)
    customer = (n * 7) % 5000
    customer = np.where(customer % 10 == 3, customer + 1, customer)
    amount = ((n * 31) % 977).astype(float)
    return pd.DataFrame(
        {
            "customer": customer,
            "ts": pd.Timestamp("2024-01-01") + pd.to_timedelta((n * 48_271) % 80_000, unit="m"),
            "amount": np.where(n % 37 == 0, np.nan, amount),
        }
    )


def _prepare(root: Path, env: dict[str, str]) -> None:
    from atelier.config import Workspace, init_workspace
    from atelier.services.features import Definitions, Entity, FeatureView
    from atelier.services.workbench import Workbench

    init_workspace(root)
    wb = Workbench(Workspace.open(root, environ=env))
    try:
        wb.ingest.upload(_events(), "bench.events", by=wb.owner().name)
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

    load = [os.getloadavg()[0]]
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
        differing: dict[str, int] = {}
        expected_sql = _pandas_sql(_events())
        for round_ in range(ROUNDS):
            for case in CASES:
                answers = []
                for side, (root, env) in sides.items():
                    out = Path(tmp) / f"{case}-{side}-{round_}.parquet".replace(" ", "_")
                    times.setdefault((case, side), []).append(_measure(case, root, env, out))
                    answers.append(_sorted(out))
                found = _differing(answers[1], answers[0])
                if case == "sql":
                    found += _differing(answers[0], expected_sql)
                differing[case] = differing.get(case, 0) + found
        objects = len(store.keys_under(store.url("lake")))

    rows = []
    for case in CASES:
        local = statistics.median(times[(case, "local disk")])
        remote = statistics.median(times[(case, "S3 (moto)")])
        spread = {s: max(times[(case, s)]) - min(times[(case, s)]) for s in sides}
        rows.append(
            f"| {case} | {local:.3f} (±{spread['local disk']:.3f}) "
            f"| {remote:.3f} (±{spread['S3 (moto)']:.3f}) | **{remote / local:.2f}x** "
            f"| {differing[case]} |"
        )
    return (
        "## Object storage: the lake on local disk vs on an S3 server\n\n"
        f"`bench.events`: {ROWS:,} rows (customer, ts, amount; one amount in 37 missing, "
        "several events at one instant, rows out of time order, a tenth of the customers with "
        "none), one upload; on S3 the lake "
        f"is {objects} object(s) on moto's S3 server on this machine (HTTP on loopback, no "
        "network latency: a real bucket adds its round trips). SQL: "
        f"`{CASES['sql']}`. Training set: {CASES['training set']} (duplicate rows, "
        "customers with no events, times before, within and after the events). Seconds: "
        f"median of {ROUNDS} interleaved runs, each in a fresh process after a warm-up "
        "(± max - min). Rows differing: every run's answer on S3 against the one on local disk "
        "in the same round, value by value, and for SQL also the local answer against pandas' "
        f"own (`groupby`) on the same data; summed over the rounds. Load average (1 min) "
        f"before and after: {load[0]:.1f}, {os.getloadavg()[0]:.1f} ({os.cpu_count()} cores, "
        "shared).\n\n"
        "| case | local disk (s) | S3 (s) | S3 / local | rows differing |\n|---|---|---|---|---|\n"
        + "\n".join(rows)
    )


if __name__ == "__main__":
    if len(sys.argv) > 3:
        _child(sys.argv[1], sys.argv[2], sys.argv[3])
    else:
        print(run())
