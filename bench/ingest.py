"""Ingest a 1 GB CSV into a table: Atelier's upload next to raw DuckDB and to pandas.

Goals: at most 1.2x the time of DuckDB's own ``CREATE TABLE AS SELECT * FROM read_csv(...)``
into a DuckDB file, and at least 5x faster than pandas ``read_csv`` + ``to_parquet``. Each
engine runs in a fresh subprocess that times only the load (not interpreter start-up or
imports) and reports its peak resident memory (``ru_maxrss``). A 2 GB CSV then goes through
Atelier's upload once, to show that memory stays flat as the file grows.

The CSVs (mixed types: integers, text with quoted commas, decimals, dates, timestamps,
booleans, doubles) are generated once under ``bench/out/`` and reused. pandas runs as most
people call it: ``day`` and ``seen_at`` stay text (no ``parse_dates``), while DuckDB and Atelier
type them as DATE and TIMESTAMP.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import uuid
from pathlib import Path

HERE = Path(__file__).parent
OUT = HERE / "out"
ROWS_PER_GB = 9_600_000
RUNS = 3

GENERATE = """
COPY (
  SELECT range AS id,
         'customer_' || (range % 250000) AS customer,
         CASE WHEN range % 10 = 0 THEN 'says "hi", twice' ELSE 'plain note' END AS note,
         ((range * 7919) % 1000000) / 100 AS amount,
         DATE '2015-01-01' + (range % 3650)::INT AS day,
         TIMESTAMP '2015-01-01' + to_seconds(range * 13) AS seen_at,
         range % 3 = 0 AS active,
         ['red', 'green', 'blue', 'amber'][1 + range % 4] AS colour,
         (range % 9973) / 9973.0 AS score
  FROM range({rows})
) TO '{path}' (HEADER)
"""

ATELIER = """
import json, resource, sys, time
from pathlib import Path
from atelier.backends.warehouse import Warehouse
from atelier.services.ingest import Ingest
csv, root, ext = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
warehouse = Warehouse(root / "lake.sqlite", root / "lake", extension_directory=ext)
ingest = Ingest(None, warehouse, root / "uploads")
cpu0 = sum(resource.getrusage(resource.RUSAGE_SELF)[:2])
start = time.perf_counter()
result = ingest.upload(csv, "bench", by="bench")
seconds = time.perf_counter() - start
usage = resource.getrusage(resource.RUSAGE_SELF)
cpu = usage.ru_utime + usage.ru_stime - cpu0
print(json.dumps({"seconds": seconds, "cpu": cpu, "peak_kb": usage.ru_maxrss, "rows": result.rows}))
"""

DUCKDB = """
import json, resource, sys, time
import duckdb
csv, root = sys.argv[1], sys.argv[2]
cpu0 = sum(resource.getrusage(resource.RUSAGE_SELF)[:2])
start = time.perf_counter()
connection = duckdb.connect(f"{root}/plain.duckdb")
connection.execute(f"CREATE TABLE bench AS SELECT * FROM read_csv('{csv}')")
rows = connection.execute("SELECT count(*) FROM bench").fetchone()[0]
connection.close()
seconds = time.perf_counter() - start
usage = resource.getrusage(resource.RUSAGE_SELF)
cpu = usage.ru_utime + usage.ru_stime - cpu0
print(json.dumps({"seconds": seconds, "cpu": cpu, "peak_kb": usage.ru_maxrss, "rows": rows}))
"""

PANDAS = """
import json, resource, sys, time
import pandas as pd
csv, root = sys.argv[1], sys.argv[2]
cpu0 = sum(resource.getrusage(resource.RUSAGE_SELF)[:2])
start = time.perf_counter()
frame = pd.read_csv(csv)
frame.to_parquet(f"{root}/pandas.parquet")
seconds = time.perf_counter() - start
usage = resource.getrusage(resource.RUSAGE_SELF)
cpu = usage.ru_utime + usage.ru_stime - cpu0
print(json.dumps({"seconds": seconds, "cpu": cpu, "peak_kb": usage.ru_maxrss, "rows": len(frame)}))
"""


def csv_file(gigabytes: int) -> Path:
    """The generated CSV of about ``gigabytes`` GB (made once)."""
    import duckdb

    path = OUT / f"ingest-{gigabytes}gb.csv"
    if not path.exists():
        OUT.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial")
        duckdb.execute(GENERATE.format(rows=ROWS_PER_GB * gigabytes, path=partial))
        partial.rename(path)
    return path


def measure(script: str, *args: str) -> dict[str, float]:
    """Run one engine in a fresh subprocess and a fresh output folder."""
    root = OUT / f"run-{uuid.uuid4().hex[:8]}"
    root.mkdir(parents=True)
    try:
        done = subprocess.run(
            [sys.executable, "-c", script, *args[:1], str(root), *args[1:]],
            check=True,
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONPATH": str(HERE.parent / "src")},
        )
    finally:
        shutil.rmtree(root, ignore_errors=True)
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def run() -> str:
    small = csv_file(1)
    ext = str(OUT / "duckdb-extensions")
    results: dict[str, list[dict[str, float]]] = {"atelier": [], "duckdb": [], "pandas": []}
    for _ in range(RUNS):  # interleaved, so that no engine gets a quieter machine
        results["atelier"].append(measure(ATELIER, str(small), ext))
        results["duckdb"].append(measure(DUCKDB, str(small)))
        results["pandas"].append(measure(PANDAS, str(small)))
    large_csv = csv_file(2)
    large = measure(ATELIER, str(large_csv), ext)

    rows = {int(r["rows"]) for runs in results.values() for r in runs}
    assert len(rows) == 1, f"the engines loaded different row counts: {rows}"

    def median(engine: str, key: str) -> float:
        return statistics.median(r[key] for r in results[engine])

    def peak(engine: str) -> str:
        return f"{max(r['peak_kb'] for r in results[engine]) / 1024:,.0f}"

    ours, raw, pandas = (median(e, "seconds") for e in ("atelier", "duckdb", "pandas"))
    ratio, speedup = ours / raw, pandas / ours
    labels = {
        "atelier": "Atelier `Ingest.upload` (DuckLake, one snapshot)",
        "duckdb": "DuckDB `CREATE TABLE AS SELECT * FROM read_csv(...)` (DuckDB file)",
        "pandas": "pandas `read_csv` + `to_parquet`",
    }
    table = "".join(
        f"| {labels[e]} | {median(e, 'seconds'):.2f} | {median(e, 'cpu'):.2f} | {peak(e)} | "
        f"{median(e, 'seconds') / ours:.2f} |\n"
        for e in labels
    )
    return (
        "## Ingest a CSV into a table\n\n"
        f"{small.stat().st_size / 1e9:.2f} GB CSV, {rows.pop():,} rows, 9 mixed columns (text "
        "with quoted commas, decimals, dates, timestamps, booleans). Median of "
        f"{RUNS} interleaved runs, each engine in a fresh subprocess that times only the load; "
        "CPU is user + system seconds; peak memory is the subprocess's maximum resident set "
        "(interpreter and libraries included).\n\n"
        "| engine | seconds | CPU seconds | peak memory (MiB) | time vs Atelier |\n"
        "|---|---|---|---|---|\n"
        f"{table}\n"
        f"- Atelier / DuckDB time: **{ratio:.2f}x** (goal at most 1.2x: "
        f"{'met' if ratio <= 1.2 else 'NOT met'}).\n"
        f"- pandas / Atelier time: **{speedup:.2f}x** (goal at least 5x: "
        f"{'met' if speedup >= 5 else 'NOT met'}).\n"
        f"- {large_csv.stat().st_size / 1e9:.2f} GB CSV ({int(large['rows']):,} rows) through "
        f"Atelier's upload: {large['seconds']:.2f} s, peak memory "
        f"{large['peak_kb'] / 1024:,.0f} MiB."
    )


if __name__ == "__main__":
    print(run())
