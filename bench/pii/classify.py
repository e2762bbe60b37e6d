"""Classification of personal data: quality on the labelled corpus, and speed on a big table.

Quality: every column of ``bench/pii/corpus.py`` and ``bench/pii/fresh.py`` is classified
(names and values, at the default threshold of 0.5); a column's predicted kind counts as a true
positive when it is one of its labelled kinds, a false positive otherwise (a decoy given a
kind, or the wrong kind), and a labelled kind not predicted is a false negative. Goal: recall
>= 0.95, precision >= 0.9.

Speed: a 50-column, 1,000,000-row pyarrow table made of columns of both corpora (their values
repeated in a random order), written once to Parquet; each of ``RUNS`` fresh processes reads it (not
timed) and times ``classify(table)``, which samples 2,000 rows. Goal: under 5 s. The machine's
load average is recorded before each run, since other work on it slows the numbers.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from atelier.services.pii import PiiKind
from bench.pii.corpus import Column

ROOT = Path(__file__).resolve().parents[2]
RUNS = int(os.environ.get("BENCH_PII_RUNS", "3"))
ROWS = int(os.environ.get("BENCH_PII_ROWS", "1000000"))
COLUMNS = 50
KINDS = [kind.value for kind in PiiKind]

CHILD = """
import json, sys, time
from types import SimpleNamespace
from pathlib import Path
if sys.argv[2] == "arrow":
    import pyarrow.parquet as pq
    from atelier.services.pii import classify
    table = pq.read_table(sys.argv[1])
    start, cpu = time.perf_counter(), time.process_time()
    findings = classify(table)
else:
    from atelier.backends.warehouse import Warehouse
    from atelier.services.pii import PiiClassifier
    root = Path(sys.argv[1]).parent
    warehouse = Warehouse(root / "lake.sqlite", root / "lake")
    classifier = PiiClassifier(SimpleNamespace(warehouse=warehouse))
    start, cpu = time.perf_counter(), time.process_time()
    findings = classifier.classify_table("bench.big")
print(json.dumps({
    "seconds": time.perf_counter() - start,
    "cpu": time.process_time() - cpu,
    "findings": len(findings),
}))
"""
PATHS = {
    "arrow": "`classify(table)` on a pyarrow Table in memory (stratified sample of 2,000 rows)",
    "lake": "`PiiClassifier.classify_table('bench.big')` on the same data as a DuckLake table "
    "(DuckDB reservoir sample of 2,000 rows, then `classify`; the clock includes opening the "
    "lake)",
}


def quality(columns: list[Column]) -> tuple[dict[str, Counter[str]], list[str]]:
    from atelier.services.pii import classify

    sample = {c.name: c.values for c in columns}
    findings = {f.column: f.kind.value for f in classify(sample)}
    counts: dict[str, Counter[str]] = {kind: Counter() for kind in KINDS}
    misses = []
    for column in columns:
        predicted = findings.get(column.name)
        for kind in column.kinds:
            counts[kind]["tp" if predicted == kind else "fn"] += 1
        if predicted is not None and predicted not in column.kinds:
            counts[predicted]["fp"] += 1
        if predicted not in column.kinds and (predicted or column.kinds):
            want = ",".join(sorted(column.kinds)) or "none"
            misses.append(
                f"`{column.name}` ({column.note}): labelled {want}, got {predicted or 'none'}"
            )
    return counts, misses


def _table(columns: list[Column]) -> list[str]:
    counts, misses = quality(columns)
    decoys = sum(1 for c in columns if not c.kinds)
    lines = [
        "| kind | columns | true pos. | false pos. | false neg. | precision | recall |",
        "|---|---|---|---|---|---|---|",
    ]
    total: Counter[str] = Counter()
    for kind in KINDS:
        c = counts[kind]
        total.update(c)
        lines.append(
            f"| {kind} | {c['tp'] + c['fn']} | {c['tp']} | {c['fp']} | {c['fn']} | "
            f"{_ratio(c['tp'], c['tp'] + c['fp'])} | {_ratio(c['tp'], c['tp'] + c['fn'])} |"
        )
    precision = total["tp"] / max(1, total["tp"] + total["fp"])
    recall = total["tp"] / max(1, total["tp"] + total["fn"])
    met = "met" if precision >= 0.9 and recall >= 0.95 else "NOT met"
    lines.append(
        f"| **overall** ({decoys} decoys) | {total['tp'] + total['fn']} | {total['tp']} | "
        f"{total['fp']} | {total['fn']} | **{precision:.2f}** | **{recall:.2f}** |"
    )
    lines += ["", f"Goal (recall >= 0.95, precision >= 0.9): {met}."]
    if misses:
        lines += ["", "Misclassified: " + "; ".join(misses) + "."]
    return lines


def _big_table(path: Path) -> None:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    from bench.pii.corpus import corpus
    from bench.pii.fresh import fresh

    rng = np.random.default_rng(1)
    columns = {}
    for column in corpus(rows=1000) + fresh(rows=1000):
        try:  # a column of booleans with empty strings in it cannot be one Arrow column
            columns[column.name] = pa.array(column.values)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            continue
    names = list(columns)
    arrays = {}
    for i in sorted(rng.choice(len(names), COLUMNS, replace=False)):
        values = columns[names[i]]
        arrays[names[i]] = values.take(pa.array(rng.integers(0, len(values), ROWS)))
    pq.write_table(pa.table(arrays), path)


def _ratio(a: int, b: int) -> str:
    return f"{a / b:.2f}" if b else "n/a"


FIRST = Path(__file__).with_name("fresh_first.md")


def run() -> str:
    from bench.pii.corpus import corpus, held_out
    from bench.pii.fresh import fresh

    tuning, later, newest = corpus(), held_out(), fresh()
    first = [line for line in FIRST.read_text(encoding="utf-8").splitlines() if line[:4] != "<!--"]
    lines = [
        "## Personal data: classification of columns",
        "",
        f"Quality at the default threshold of 0.5 on two labelled sets of columns, 300 values "
        f"each (`bench/pii/corpus.py`). The corpus ({len(tuning)} columns: real formats from a "
        "dozen countries, and decoys) was built alongside the classifier, which was tuned "
        "on it, so its score is optimistic:",
        "",
        *_table(tuning),
        "",
        f"The held-out set ({len(later)} columns: harder spellings of the same kinds, new "
        "decoys) was written after that tuning. Measured first as it came, it scored recall "
        "0.78 (7 of 9: names with titles and double given names, phone numbers with "
        "extensions were missed) and precision 1.00; both were then fixed, so the table below, "
        "measured after the fixes, is no longer strictly held out:",
        "",
        *_table(later),
        "",
        f"A second held-out set ({len(newest)} columns, `bench/pii/fresh.py`: identifiers, "
        "phones, names and addresses of countries and in spellings the first two sets lack, "
        "e-mails with plus-tags and subdomains, IPv6 and addresses with ports, obfuscated "
        "e-mails in text, and decoys such as company names, booleans named `email_sent`, "
        "coordinates, networks and the dates of buildings; every column with NULLs, empty "
        "strings and stray spaces) was written and committed before the classifier was "
        "changed for it. Measured first, as it came (recorded in `bench/pii/fresh_first.md`):",
        "",
        *first,
        "",
        "The classifier was then improved for what it missed (separators in identifiers tried "
        "again without them and checked by python-stdnum, ports and zones of IP addresses, "
        "birth dates written with month names or as `yyyymmdd`, obfuscated e-mails, names in "
        "lower case and from more countries, company names, decimals and networks that looked "
        "like phone numbers, dates older than any living person). Measured again **after "
        "those fixes**, so no longer held out:",
        "",
        *_table(newest),
    ]

    timings: dict[str, list[dict[str, float]]] = {path: [] for path in PATHS}
    loads = []
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "big.parquet"
        _big_table(data)
        _lake_table(data)
        for _ in range(RUNS):  # interleaved, each in a fresh process
            for path in PATHS:
                loads.append(os.getloadavg()[0])
                done = subprocess.run(
                    [sys.executable, "-c", CHILD, str(data), path],
                    capture_output=True, text=True, check=True, cwd=ROOT,
                )  # fmt: skip
                timings[path].append(json.loads(done.stdout.strip().splitlines()[-1]))
    lines += [
        "",
        f"Speed on a {COLUMNS}-column, {ROWS:,}-row table (columns of the corpus and the second "
        f"held-out set, with their NULLs, repeated in random order), {RUNS} runs of each path, "
        "interleaved, each in a fresh process (interpreter "
        "start-up and reading the Parquet file are not timed). Goal: under 5 s.",
        "",
        "| path | median (s) | min (s) | max (s) | median CPU (s) | findings | goal |",
        "|---|---|---|---|---|---|---|",
    ]
    for path, label in PATHS.items():
        seconds = [t["seconds"] for t in timings[path]]
        median = statistics.median(seconds)
        cpu = statistics.median(t["cpu"] for t in timings[path])
        lines.append(
            f"| {label} | {median:.2f} | {min(seconds):.2f} | {max(seconds):.2f} | {cpu:.2f} | "
            f"{int(timings[path][0]['findings'])} | {'met' if median < 5 else 'NOT met'} |"
        )
    busy = max(loads) >= 1.0
    lines += [
        "",
        "Load average (1 min) before each run: "
        + ", ".join(f"{load:.1f}" for load in loads)
        + f" on {os.cpu_count()} cores."
        + (
            " The machine was busy with other work during these runs: the times are upper "
            "bounds, to be measured again on a quiet machine. The CPU seconds (user and "
            "system, of the process) are what the work itself took: the `classify` path is "
            "one Python thread, so on a quiet machine its time is about its CPU seconds; "
            "DuckDB's sample uses several threads."
            if busy
            else ""
        ),
    ]
    return "\n".join(lines)


def _lake_table(data: Path) -> None:
    from atelier.backends.warehouse import Warehouse
    from atelier.backends.warehouse.sql import literal

    root = data.parent
    warehouse = Warehouse(root / "lake.sqlite", root / "lake")
    with warehouse.connect() as connection:
        connection.execute("CREATE SCHEMA bench")
        connection.execute(f"CREATE TABLE bench.big AS SELECT * FROM {literal(str(data))}")


if __name__ == "__main__":
    start = time.perf_counter()
    print(run())
    print(f"({time.perf_counter() - start:.0f} s)")
