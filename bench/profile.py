"""Profiling a 10M-row, 20-column table: Atelier's profiler (two DuckDB aggregate queries)
versus ydata-profiling in minimal mode (goal: at least 20x faster).

ydata-profiling is not one of Atelier's dependencies: it is installed into its own virtualenv,
``bench/.venv-peer`` (git-ignored), with ``uv``, and run in a subprocess on the same data read
from the same Parquet file. pandas profiling of 10M rows on a small machine takes very long, so
by default the peer runs on the first ``BENCH_PROFILE_PEER_ROWS`` (1M) rows; Atelier is timed
on that same 1M-row table too, so the ratio compares like with like, and on the full table.

Environment: ``BENCH_PROFILE_ROWS`` (default 10,000,000), ``BENCH_PROFILE_PEER_ROWS``
(default 1,000,000; set it equal to the rows to run the peer on everything).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).parent
PEER_VENV = HERE / ".venv-peer"
# ydata-profiling still imports pkg_resources, which newer setuptools no longer ship.
PEER_PACKAGES = ("ydata-profiling", "pandas", "pyarrow", "setuptools<81")

# 20 columns: 8 numeric, 6 categorical, 3 temporal, 2 boolean, 1 free text.
COLUMNS = """
    i AS id,
    (hash(i) % 100000)::BIGINT AS customer_id,
    (hash(i * 7) % 1000)::INTEGER AS store_id,
    round((hash(i * 3) % 1000000) / 100.0, 2)::DECIMAL(12, 2) AS amount,
    (hash(i * 11) % 10000) / 10000.0 * 2 - 1 AS score,
    CASE WHEN i % 17 = 0 THEN NULL ELSE (hash(i * 13) % 500)::DOUBLE END AS basket_size,
    (hash(i * 19) % 120)::SMALLINT AS age,
    (hash(i * 23) % 1000000)::DOUBLE / 7 AS ratio,
    ['GB', 'DE', 'FR', 'NL', 'ES'][(hash(i * 29) % 5)::INTEGER + 1] AS country,
    ['web', 'store', 'phone'][(hash(i * 31) % 3)::INTEGER + 1] AS channel,
    'category_' || (hash(i * 37) % 40)::VARCHAR AS category,
    'city_' || (hash(i * 41) % 2000)::VARCHAR AS city,
    CASE WHEN i % 9 = 0 THEN NULL ELSE ['a', 'b', 'c', 'd'][(i % 4)::INTEGER + 1] END AS grade,
    'segment_' || (hash(i * 43) % 8)::VARCHAR AS segment,
    DATE '2020-01-01' + (hash(i * 47) % 2000)::INTEGER AS order_date,
    TIMESTAMP '2020-01-01' + to_seconds((hash(i * 53) % 150000000)::BIGINT) AS created_at,
    DATE '1950-01-01' + (hash(i * 59) % 20000)::INTEGER AS birth_date,
    hash(i * 61) % 2 = 0 AS is_member,
    CASE WHEN i % 5 = 0 THEN NULL ELSE hash(i * 67) % 3 = 0 END AS churned,
    'note ' || (hash(i * 71) % 5000000)::VARCHAR AS note
"""

PEER_SCRIPT = """
import json, sys, time, warnings
warnings.filterwarnings("ignore")
import pandas as pd
from ydata_profiling import ProfileReport
path = sys.argv[1]
start = time.perf_counter()
df = pd.read_parquet(path)
loaded = time.perf_counter()
ProfileReport(df, minimal=True, progress_bar=False).to_json()
done = time.perf_counter()
print(json.dumps({"load": loaded - start, "profile": done - loaded, "rows": len(df)}))
"""


def _peer_python() -> Path | None:
    """The peer virtualenv's Python with ydata-profiling, created on first use; None if it
    cannot be installed (no network, no uv)."""
    python = PEER_VENV / "bin" / "python"
    check = [str(python), "-c", "import ydata_profiling"]
    if python.exists() and subprocess.run(check, capture_output=True).returncode == 0:
        return python
    uv = Path(sys.executable).parent / "uv"
    try:
        subprocess.run([str(uv), "venv", "-q", str(PEER_VENV)], check=True)
        subprocess.run(
            [str(uv), "pip", "install", "-q", "--python", str(python), *PEER_PACKAGES],
            check=True,
        )
    except (OSError, subprocess.CalledProcessError) as error:
        print(f"ydata-profiling could not be installed: {error}", file=sys.stderr)
        return None
    return python


def _atelier_profile(root: Path, table: str) -> tuple[float, int]:
    from atelier.backends.metadata import Database
    from atelier.backends.warehouse import Warehouse
    from atelier.services.catalog import Sources
    from atelier.services.profile import Profiler

    warehouse = Warehouse(root / "lake.sqlite", root / "lake")
    db = Database(f"sqlite:///{root / 'meta.db'}")
    db.migrate()
    profiler = Profiler(warehouse, Sources(db, warehouse))
    timings = []
    for _ in range(2):  # the first run also pays for opening the lake
        start = time.perf_counter()
        profile = profiler.profile(table)
        timings.append(time.perf_counter() - start)
    db.dispose()
    return min(timings), len(profile.columns)


def _make_data(root: Path, rows: int, peer_rows: int) -> Path:
    """The lake tables ``bench.full`` and ``bench.peer`` and the peer's Parquet file."""
    from atelier.backends.warehouse import Warehouse

    warehouse = Warehouse(root / "lake.sqlite", root / "lake")
    source = root / "data.parquet"
    peer_file = root / "peer.parquet"
    with warehouse.connect() as connection:
        connection.execute(
            f"COPY (SELECT {COLUMNS} FROM range({rows}) r(i)) TO '{source}' (FORMAT parquet)"
        )
        connection.execute(
            f"COPY (SELECT * FROM '{source}' LIMIT {peer_rows}) TO '{peer_file}' (FORMAT parquet)"
        )

    def load(c: object) -> None:
        c.execute("CREATE SCHEMA bench")  # type: ignore[attr-defined]
        c.execute(f"CREATE TABLE bench.full AS SELECT * FROM '{source}'")  # type: ignore[attr-defined]
        c.execute(f"CREATE TABLE bench.peer AS SELECT * FROM '{peer_file}'")  # type: ignore[attr-defined]

    warehouse.run_write(load, author="bench")
    return peer_file


def run() -> str:
    rows = int(os.environ.get("BENCH_PROFILE_ROWS", 10_000_000))
    peer_rows = min(rows, int(os.environ.get("BENCH_PROFILE_PEER_ROWS", 1_000_000)))
    with tempfile.TemporaryDirectory(prefix="atelier-bench-profile-") as tmp:
        root = Path(tmp)
        peer_file = _make_data(root, rows, peer_rows)
        ours_full, width = _atelier_profile(root, "bench.full")
        ours_peer, _ = _atelier_profile(root, "bench.peer")
        python = _peer_python()
        peer: dict[str, float] | None = None
        if python is not None:
            result = subprocess.run(
                [str(python), "-c", PEER_SCRIPT, str(peer_file)],
                capture_output=True,
                text=True,
            )
            if result.returncode == 0:
                peer = json.loads(result.stdout.strip().splitlines()[-1])
            else:
                print(result.stderr[-2000:], file=sys.stderr)
    lines = [
        "## Profile: Atelier vs ydata-profiling (minimal mode)",
        "",
        f"A synthetic table of {width} columns (8 numeric, 6 categorical, 3 dates/times, "
        "2 booleans, 1 free text). Atelier: `Profiler.profile()` on the DuckLake table "
        "(DuckDB aggregate queries: statistics, then distributions), best of 2. ydata-profiling: "
        "`ProfileReport(df, minimal=True).to_json()` on a pandas DataFrame read from the same "
        "data (reading the Parquet file into pandas is not counted).",
        "",
        "| rows | Atelier (s) | ydata-profiling (s) | ratio | goal |",
        "|---|---|---|---|---|",
        f"| {rows:,} | {ours_full:.2f} | {'not run' if rows != peer_rows else '—'} | | |",
    ]
    if peer is None:
        lines.append(f"| {peer_rows:,} | {ours_peer:.2f} | could not run | | ≥ 20x |")
    else:
        ratio = peer["profile"] / ours_peer
        verdict = "met" if ratio >= 20 else "NOT met"
        lines.append(
            f"| {peer_rows:,} | {ours_peer:.2f} | {peer['profile']:.1f} | {ratio:.0f}x | "
            f"≥ 20x ({verdict}) |"
        )
        if peer_rows < rows:
            lines += [
                "",
                f"ydata-profiling ran on the first {peer_rows:,} rows only (on {rows:,} it "
                "takes too long for a routine benchmark); the ratio compares both tools on "
                f"that same {peer_rows:,}-row table. Profiling all {rows:,} rows with Atelier "
                f"took {ours_full:.2f} s, {peer['profile'] / ours_full:.0f}x less than "
                f"ydata-profiling needed for {peer_rows:,}.",
            ]
    return "\n".join(lines)


if __name__ == "__main__":
    print(run())
