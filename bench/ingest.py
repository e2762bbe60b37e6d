"""Ingest a 1 GB CSV into a table: Atelier's upload next to DuckDB's own reader and to pandas.

Goals (issue 16): at least pandas' speed (``read_csv`` + ``to_parquet``) with at most a third
of its memory, and at most 1.2x the time of DuckDB's own ``read_csv`` written to Parquet
(``COPY (SELECT * FROM read_csv(...)) TO ... (FORMAT parquet, PARQUET_VERSION V2)``: the
engine's limit, the same work as the upload's staging step). Each engine runs in a fresh
subprocess that times only the load (not interpreter start-up or imports) and reports its
CPU time and peak resident memory (``VmHWM``); the engines are interleaved, 3 repetitions,
median and spread.

The CSV (generated once, cached under ``ATELIER_BENCH_DATA``, default ``/tmp/atelier-bench``)
has what real exports have: text with quoted commas and doubled quotes, a quoted line break
now and then, accented text, empty fields (nulls) in a number and a text column, decimals,
dates, timestamps, booleans, doubles. pandas runs as most people call it: ``day`` and
``seen_at`` stay text, while DuckDB and Atelier type them as DATE and TIMESTAMP. The three
results are compared value by value (every row, every column; dates and timestamps as text,
doubles to 1e-9).
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
DATA = Path(os.environ.get("ATELIER_BENCH_DATA", "/tmp/atelier-bench"))
ROWS_PER_GB = 9_000_000
RUNS = 3

GENERATE = """
COPY (
  SELECT range AS id,
         CASE WHEN range % 7 = 0 THEN 'Zoë Müller ' ELSE 'customer_' END
           || (range % 250000) AS customer,
         CASE WHEN range % 89 = 0 THEN NULL
              WHEN range % 1000 = 0 THEN 'two' || chr(10) || 'lines'
              WHEN range % 10 = 0 THEN 'says "hi", twice' ELSE 'plain note' END AS note,
         CASE WHEN range % 97 = 0 THEN NULL ELSE ((range * 7919) % 1000000) / 100 END AS amount,
         DATE '2015-01-01' + (range % 3650)::INT AS day,
         TIMESTAMP '2015-01-01' + to_seconds(range * 13) AS seen_at,
         range % 3 = 0 AS active,
         ['red', 'green', 'blue', 'amber'][1 + range % 4] AS colour,
         (range % 9973) / 9973.0 AS score
  FROM range({rows})
) TO '{path}' (HEADER)
"""

PRELUDE = """
import json, resource, sys, time
csv, root = sys.argv[1], sys.argv[2]
def cpu():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime
"""

#: The peak is the process's own high-water mark (``VmHWM``): ``ru_maxrss`` keeps, across
#: ``exec``, the size of the parent that forked it.
REPORT = """
seconds = time.perf_counter() - start
with open("/proc/self/status") as status:
    peak_kb = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
print(json.dumps({"seconds": seconds, "cpu": cpu() - cpu0, "rows": rows, "output": output,
                  "peak_kb": peak_kb}))
"""

ATELIER = (
    PRELUDE
    + """
from pathlib import Path
from atelier.backends.warehouse import Warehouse
from atelier.services.ingest import Ingest
warehouse = Warehouse(f"{root}/lake.sqlite", Path(root) / "lake", extension_directory=sys.argv[3])
ingest = Ingest(None, warehouse, Path(root) / "uploads")
cpu0 = cpu()
start = time.perf_counter()
rows = ingest.upload(Path(csv), "bench", by="bench").rows
output = str(next((Path(root) / "lake").glob("main/bench/upload-*/*.parquet")))
"""
    + REPORT
)

DUCKDB = (
    PRELUDE
    + """
import duckdb
output = f"{root}/duckdb.parquet"
cpu0 = cpu()
start = time.perf_counter()
connection = duckdb.connect()
rows = connection.execute(
    f"COPY (SELECT * FROM read_csv('{csv}')) TO '{output}' (FORMAT parquet, PARQUET_VERSION V2)"
).fetchone()[0]
"""
    + REPORT
)

PANDAS = (
    PRELUDE
    + """
import pandas as pd
output = f"{root}/pandas.parquet"
cpu0 = cpu()
start = time.perf_counter()
frame = pd.read_csv(csv)
frame.to_parquet(output)
rows = len(frame)
"""
    + REPORT
)

#: Every value of two outputs, dates and timestamps as text, doubles rounded to 1e-9.
COMPARE = """
SELECT count(*) FROM (
  (SELECT id, customer, note, round(amount, 9), day::VARCHAR, seen_at::VARCHAR, active, colour,
          round(score, 9) FROM read_parquet('{a}')
   EXCEPT ALL
   SELECT id, customer, note, round(amount, 9), day::VARCHAR, seen_at::VARCHAR, active, colour,
          round(score, 9) FROM read_parquet('{b}'))
  UNION ALL
  (SELECT id, customer, note, round(amount, 9), day::VARCHAR, seen_at::VARCHAR, active, colour,
          round(score, 9) FROM read_parquet('{b}')
   EXCEPT ALL
   SELECT id, customer, note, round(amount, 9), day::VARCHAR, seen_at::VARCHAR, active, colour,
          round(score, 9) FROM read_parquet('{a}'))
)
"""


def csv_file(gigabytes: float) -> Path:
    """The generated CSV of about ``gigabytes`` GB (made once)."""
    import duckdb

    path = DATA / f"ingest-{gigabytes:g}gb-v2.csv"
    if not path.exists():
        DATA.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial")
        rows = int(ROWS_PER_GB * gigabytes)
        connection = duckdb.connect()
        connection.execute("SET enable_progress_bar = false")
        connection.execute(GENERATE.format(rows=rows, path=partial))
        partial.rename(path)
    return path


def measure(script: str, csv: Path, root: Path, *extra: str) -> dict[str, float]:
    """Run one engine in a fresh subprocess writing into ``root``."""
    root.mkdir(parents=True)
    done = subprocess.run(
        [sys.executable, "-c", script, str(csv), str(root), *extra],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(HERE.parent / "src")},
    )
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def differences(a: str, b: str) -> int:
    import duckdb

    row = duckdb.connect().execute(COMPARE.format(a=a, b=b)).fetchone()
    return int(row[0]) if row else -1


def run() -> str:
    import duckdb
    import pandas
    import pyarrow

    gigabytes = float(os.environ.get("ATELIER_BENCH_INGEST_GB", "1"))
    csv = csv_file(gigabytes)
    ext = str(DATA / "duckdb-extensions")
    engines = {"atelier": (ATELIER, (ext,)), "duckdb": (DUCKDB, ()), "pandas": (PANDAS, ())}
    results: dict[str, list[dict[str, float]]] = {name: [] for name in engines}
    loads: list[float] = []
    compared: dict[str, int] = {}
    for repetition in range(RUNS):  # interleaved, so that no engine gets a quieter machine
        roots = {}
        try:
            for name, (script, extra) in engines.items():
                loads.append(os.getloadavg()[0])
                roots[name] = DATA / f"run-{uuid.uuid4().hex[:8]}"
                results[name].append(measure(script, csv, roots[name], *extra))
            if repetition == 0:
                mine = str(results["atelier"][0]["output"])
                for peer in ("duckdb", "pandas"):
                    compared[peer] = differences(mine, str(results[peer][0]["output"]))
        finally:
            for root in roots.values():
                shutil.rmtree(root, ignore_errors=True)

    rows = {int(r["rows"]) for runs in results.values() for r in runs}
    assert len(rows) == 1, f"the engines loaded different row counts: {rows}"
    assert not any(compared.values()), f"the engines' values differ: {compared}"

    def median(engine: str, key: str) -> float:
        return statistics.median(r[key] for r in results[engine])

    def spread(engine: str) -> str:
        values = [r["seconds"] for r in results[engine]]
        return f"{statistics.median(values):.2f} ({min(values):.2f}-{max(values):.2f})"

    def peak(engine: str) -> float:
        return max(r["peak_kb"] for r in results[engine]) / 1024

    ours, raw, pandas_s = (median(e, "seconds") for e in ("atelier", "duckdb", "pandas"))
    ratio, speed = ours / raw, pandas_s / ours
    memory = peak("atelier") / peak("pandas")
    labels = {
        "atelier": "Atelier `Ingest.upload` (DuckLake table, one snapshot)",
        "duckdb": "DuckDB `COPY (SELECT * FROM read_csv(...)) TO ... "
        "(FORMAT parquet, PARQUET_VERSION V2)`",
        "pandas": "pandas `read_csv` + `to_parquet`",
    }
    table = "".join(
        f"| {labels[e]} | {spread(e)} | {median(e, 'cpu'):.2f} | {peak(e):,.0f} | "
        f"{median(e, 'seconds') / ours:.2f} |\n"
        for e in labels
    )

    def goal(met: bool) -> str:
        return "met" if met else "NOT met"

    return (
        "## Ingest a CSV into a table\n\n"
        f"{csv.stat().st_size / 1e9:.2f} GB CSV, {rows.pop():,} rows, 9 columns (text with "
        "quoted commas, doubled quotes and the odd quoted line break, accented text, empty "
        "fields, decimals, dates, timestamps, booleans, doubles). Median (lowest-highest) of "
        f"{RUNS} interleaved runs, each engine in a fresh subprocess that times only the load; "
        "CPU is user + system seconds; peak memory is the subprocess's maximum resident set "
        "(interpreter and libraries included). The three outputs hold the same values, "
        f"compared row by row and column by column ({compared['duckdb']} and "
        f"{compared['pandas']} differences from DuckDB's and pandas' output).\n\n"
        "| engine | seconds | CPU seconds | peak memory (MiB) | time vs Atelier |\n"
        "|---|---|---|---|---|\n"
        f"{table}\n"
        f"- Speed against pandas (pandas' time / Atelier's): **{speed:.2f}x** (goal at least "
        f"1x: {goal(speed >= 1)}).\n"
        f"- Memory against pandas: **{memory:.2f}** of pandas' peak (goal at most 0.33: "
        f"{goal(memory <= 1 / 3)}).\n"
        f"- Time against DuckDB's own reader: **{ratio:.2f}x** (goal at most 1.2x: "
        f"{goal(ratio <= 1.2)}).\n\n"
        f"DuckDB {duckdb.__version__}, pandas {pandas.__version__}, pyarrow "
        f"{pyarrow.__version__}. Load average (1 min) before each run: "
        f"{', '.join(f'{x:.1f}' for x in loads)} (2 cores, shared)."
    )


if __name__ == "__main__":
    print(run())
