"""Point-in-time training sets: Atelier's engine against Feast's ``file`` (Dask) and ``duckdb``
(Ibis) offline stores and against the engine's limit (one hand-written DuckDB query with the
same semantics), on the same Parquet data and machine, in one run.

Cases: a feature table of 10 float features at hourly rows for 10k entities x 7 days (about
1.68M rows) and for 100k entities x 14 days (about 33.6M rows), with gaps, a ``created``
column with ties and nulls, and null values (see :mod:`bench.features.data`), with entity
frames of 10k, 100k and 1M rows (duplicates, unknown entities) and a 2-day ttl. Each case runs
in a fresh process, ``REPEATS`` times interleaved (every engine once, then again); the time is
that of the retrieval to a pandas DataFrame (the entity frame is read before the clock starts)
and the memory is the process's peak resident set. Every answer is compared value by value,
every column of every row, with an independent answer (pandas ``merge_asof``,
:mod:`bench.features.oracle`). Feast runs from ``bench/.venv-peer-feast`` (``uv venv`` then
``uv pip install 'feast[duckdb]'``). A case stops after 15 minutes or above 12 GiB (the
machine is shared); cases of an engine at least as large, in table and frame, as one that
stopped are skipped. ``ATELIER_BENCH_ENGINES=atelier,duckdb`` runs some engines only;
``ATELIER_BENCH_CASES=10000x7:10000,100000x14:10000`` (table ``ENTITIESxDAYS``, then entity
rows) some cases only (the report then shows those). The Atelier case imports DuckDB before
the clock starts, as the hand-written case does (and Feast's imports its modules).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from bench.features.data import FEATURES, FRAMES, SMALL, TABLES, frame_path, generate, table_path

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "bench" / "out" / "features"
PEER = ROOT / "bench" / ".venv-peer-feast" / "bin" / "python"
LIMIT_SECONDS = 900
LIMIT_BYTES = 12 * 2**30
ALL_ENGINES = ("duckdb", "atelier", "feast-duckdb", "feast-file")
ENGINES = tuple(os.environ.get("ATELIER_BENCH_ENGINES", ",".join(ALL_ENGINES)).split(","))
REPEATS = int(os.environ.get("ATELIER_BENCH_REPEATS", "3"))
CASES = {
    case for case in os.environ.get("ATELIER_BENCH_CASES", "").replace(" ", "").split(",") if case
}


def _selected(entities: int, days: int, rows: int) -> bool:
    return not CASES or f"{entities}x{days}:{rows}" in CASES


#: pandas answers cases up to this (feature rows x entity rows); above, the hand-written
#: query's answer (checked against pandas on every smaller case) is the reference.
ORACLE_LIMIT = 1_680_000 * 1_000_000
COMPARED = ["entity_id", "event_timestamp", "label", *FEATURES]


def _prepare_atelier() -> Path:
    from atelier.config import Workspace, init_workspace
    from atelier.services.features import Definitions, Entity, FeatureView
    from atelier.services.workbench import Workbench

    root, _ = init_workspace(OUT / ("ws-small" if SMALL else "ws"))
    wb = Workbench(Workspace.open(root, environ={}))
    try:
        have = {(t.schema, t.name) for t in wb.warehouse.tables()}
        entity = Entity("entity", ["entity_id"])
        views = []
        for entities, days in TABLES:
            name = f"features_{entities}x{days}"
            if ("bench", name) not in have:
                sql = (
                    f"CREATE SCHEMA IF NOT EXISTS bench; CREATE TABLE bench.{name} AS "
                    f"SELECT * FROM read_parquet('{table_path(OUT, entities, days)}')"
                )

                def load(con: Any, sql: str = sql) -> None:
                    con.execute(sql)

                wb.warehouse.run_write(load, author="bench")
            views.append(
                FeatureView(
                    f"bench_{entities}x{days}",
                    entity,
                    "event_timestamp",
                    source=f"bench.{name}",
                    features=FEATURES,
                    created="created",
                    ttl="2d",
                )
            )
        wb.features.apply(Definitions([entity], views), project="bench", by="bench")
    finally:
        wb.close()
    return root


def _measure(command: list[str]) -> dict[str, object]:
    """Run one case; its JSON answer with ``peak_bytes``, or ``error``."""
    process = subprocess.Popen(
        command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    stopped: list[str] = []

    def watch() -> None:
        started = time.monotonic()
        while process.poll() is None:
            try:
                status = Path(f"/proc/{process.pid}/status").read_text()
                rss = int(status.split("VmRSS:")[1].split()[0]) * 1024
            except (OSError, IndexError, ValueError):
                rss = 0
            if rss > LIMIT_BYTES or time.monotonic() - started > LIMIT_SECONDS:
                stopped.append("over 12 GiB" if rss > LIMIT_BYTES else "over 15 min")
                process.kill()
                return
            time.sleep(0.1)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    assert process.stdout is not None and process.stderr is not None
    stdout, stderr = process.stdout.read(), process.stderr.read()
    _, status, _usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    watcher.join()
    if stopped:
        return {"error": f"stopped: {stopped[0]}"}
    if process.returncode == -9:
        return {"error": "stopped: killed by the system (out of memory)"}
    if process.returncode != 0:
        last = (stderr.strip().splitlines() or ["?"])[-1][:200]
        return {"error": f"failed ({process.returncode}): {last}"}
    # The child reports its own peak (VmHWM): a forked child's ru_maxrss starts from the
    # parent's resident size.
    result: dict[str, object] = json.loads(stdout.strip().splitlines()[-1])
    return result


def _command(
    engine: str, workspace: Path, entities: int, days: int, rows: int, out: Path
) -> list[str]:
    frame = str(frame_path(OUT, entities, days, rows))
    table = str(table_path(OUT, entities, days))
    if engine.startswith("atelier"):
        view = f"bench_{entities}x{days}"
        plan = engine.partition(":")[2] or "chosen"
        module = "bench.features.atelier_case"
        return [sys.executable, "-m", module, str(workspace), view, frame, str(out), plan]
    if engine == "duckdb":
        return [sys.executable, "-m", "bench.features.duckdb_case", table, frame, str(out)]
    store = engine.removeprefix("feast-")
    repo = OUT / f"feast-{store}-{entities}x{days}-{rows}"
    script = str(Path(__file__).parent / "feast_case.py")
    return [
        str(PEER),
        script,
        "dask" if store == "file" else store,
        str(repo),
        table,
        frame,
        str(out),
    ]


def _load() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


def compare(answer: Path, oracle: Path) -> dict[str, int]:
    """Rows of ``answer`` that differ from ``oracle`` in any compared column (nulls equal),
    aligned on ``row_id``; ``missing``: oracle rows the answer lacks; ``on_ties``: how many
    differing rows matched a genuine tie (another tie rule may pick another row there)."""
    import numpy as np
    import pandas as pd

    mine = pd.read_parquet(answer)
    truth = pd.read_parquet(oracle)
    mine = mine.drop_duplicates("row_id").set_index("row_id")
    truth = truth.set_index("row_id")
    missing = int((~truth.index.isin(mine.index)).sum())
    mine = mine.reindex(truth.index)
    differ = np.zeros(len(truth), dtype=bool)
    for column in COMPARED:
        a, b = mine[column], truth[column]
        if column == "event_timestamp":
            a = pd.to_datetime(a, utc=True).dt.tz_localize(None)
            b = pd.to_datetime(b, utc=True).dt.tz_localize(None)
        same = (a.to_numpy() == b.to_numpy()) | (a.isna().to_numpy() & b.isna().to_numpy())
        differ |= ~same
    ties = (
        truth["genuine_tie"].to_numpy()
        if "genuine_tie" in truth
        else np.zeros(len(truth), dtype=bool)
    )
    return {
        "differ": int(differ.sum()),
        "on_ties": int((differ & ties).sum()),
        "missing": missing,
        "ties": int(ties.sum()),
    }


def run() -> str:
    generate(OUT)
    workspace = _prepare_atelier() if any(e.startswith("atelier") for e in ENGINES) else OUT
    cases = [(e, d, r) for e, d in TABLES for r in FRAMES if _selected(e, d, r)]
    for entities, days, rows in cases:
        oracle = OUT / f"oracle_{entities}x{days}_{rows}.parquet"
        if not oracle.exists() and entities * days * 24 * rows <= ORACLE_LIMIT:
            table, frame = table_path(OUT, entities, days), frame_path(OUT, entities, days, rows)
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "bench.features.oracle",
                    str(table),
                    str(frame),
                    str(oracle),
                ],
                cwd=ROOT,
                check=True,
            )
    results: dict[tuple[int, int, str], list[dict[str, object]]] = {}
    gave_up: dict[str, list[tuple[int, int]]] = {}
    loads: list[float] = []
    references: set[tuple[int, int]] = set()
    for repeat in range(REPEATS):
        for entities, days, rows in cases:
            for engine in ENGINES:
                runs = results.setdefault((entities, rows, engine), [])
                if engine.startswith("feast") and not PEER.exists():
                    runs.append({"error": "Feast not installed"})
                    continue
                stopped = gave_up.get(engine, [])
                if any(entities * days >= t and rows >= r for t, r in stopped):
                    runs.append({"error": "skipped (a smaller case stopped)"})
                    continue
                out = OUT / f"answer_{engine.replace(':', '_')}_{entities}x{days}_{rows}.parquet"
                out.unlink(missing_ok=True)
                loads.append(_load())
                print(
                    f"  [{repeat + 1}] {engine} {entities}x{days}, {rows} entity rows", flush=True
                )
                outcome = _measure(_command(engine, workspace, entities, days, rows, out))
                outcome["load"] = loads[-1]
                oracle = OUT / f"oracle_{entities}x{days}_{rows}.parquet"
                if engine == "duckdb" and "error" not in outcome and not oracle.exists():
                    references.add((entities, rows))
                    shutil.copyfile(out, oracle)
                if "error" not in outcome and oracle.exists():
                    outcome |= compare(out, oracle)
                print(f"    {outcome}", flush=True)
                if "error" in outcome and "stopped" in str(outcome["error"]):
                    gave_up.setdefault(engine, []).append((entities * days, rows))
                runs.append(outcome)
    return _report(results, loads, references)


def _median(runs: list[dict[str, object]]) -> tuple[float, float, float] | None:
    """(median, min, max) seconds of the runs that finished; None if none did."""
    import statistics

    times = [float(r["seconds"]) for r in runs if "seconds" in r]  # type: ignore[arg-type]
    if not times:
        return None
    return statistics.median(times), min(times), max(times)


def _cell(runs: list[dict[str, object]]) -> tuple[str, str]:
    timing = _median(runs)
    if timing is None:
        return str(runs[0].get("error", "?")) if runs else "not run", "-"
    median, low, high = timing
    peaks = [int(r["peak_bytes"]) for r in runs if "peak_bytes" in r]  # type: ignore[call-overload]
    spread = f" ({low:.2f} to {high:.2f}, n={sum('seconds' in r for r in runs)})"
    return f"{median:.2f}{spread}", f"{max(peaks) / 2**20:,.0f}"


def _versions() -> str:
    import duckdb
    import pandas

    feast = "not installed"
    if PEER.exists():
        found = subprocess.run(
            [str(PEER), "-c", "import feast, duckdb; print(feast.__version__, duckdb.__version__)"],
            capture_output=True,
            text=True,
        )
        feast, _, peer_duckdb = found.stdout.strip().partition(" ")
        feast = f"{feast} (its DuckDB {peer_duckdb})"
    return f"DuckDB {duckdb.__version__}, pandas {pandas.__version__}, Feast {feast}"


def _report(
    results: dict[tuple[int, int, str], list[dict[str, object]]],
    loads: list[float],
    references: set[tuple[int, int]],
) -> str:
    def engine_runs(entities: int, rows: int, engine: str) -> list[dict[str, object]]:
        return results.get((entities, rows, engine), [{"error": "not run"}])

    lines = [
        "## Feature store: point-in-time training sets vs Feast and the engine's limit",
        "",
        "10 float features, hourly rows with gaps, versions (`created`, with ties and nulls) and "
        "null values, 2-day ttl; entity frames with duplicate rows and unknown entities. Time to "
        "a pandas DataFrame: median of the runs in seconds (min to max, runs), interleaved fresh "
        "processes; peak resident memory of the process (MiB, the largest run). `DuckDB "
        "by hand`: one hand-written DuckDB query with the same semantics on the same Parquet "
        "files (the engine's limit). Goal: at least 3x faster than the faster Feast store, "
        "and no slower than the hand-written query.",
        "",
        "| feature rows | entity rows | Atelier s | plan | MiB | DuckDB by hand s | Feast duckdb s "
        "| MiB | Feast file s | MiB | vs faster Feast | vs by hand | goal |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    answers = []
    for entities, days in TABLES:
        for rows in FRAMES:
            if not _selected(entities, days, rows):
                continue
            a, h, d, f = (
                engine_runs(entities, rows, e)
                for e in ("atelier", "duckdb", "feast-duckdb", "feast-file")
            )
            plan = next((str(r["plan"]) for r in a if "plan" in r), "-")
            cells = [*_cell(a), plan, _cell(h)[0], *_cell(d), *_cell(f)]
            cells[1], cells[2] = cells[2], cells[1]
            at, hand = _median(a), _median(h)
            peers = [m[0] for m in (_median(d), _median(f)) if m]
            vs_feast = vs_hand = goal = "-"
            if at:
                vs_feast = f"{min(peers) / at[0]:.1f}x" if peers else "n/a"
                vs_hand = f"{hand[0] / at[0]:.2f}x" if hand else "n/a"
                fast = bool(peers) and min(peers) / at[0] >= 3
                limit = hand is not None and at[0] <= hand[0]
                goal = "met" if fast and limit else "NOT met"
            lines.append(
                f"| {entities * days * 24:,} | {rows:,} | "
                + " | ".join(cells)
                + f" | {vs_feast} | {vs_hand} | {goal} |"
            )
            for engine in ENGINES:
                for r in engine_runs(entities, rows, engine)[:1]:
                    if "differ" in r:
                        against = " (vs the hand-written)" if (entities, rows) in references else ""
                        answers.append(
                            f"| {entities * days * 24:,} | {rows:,} | {engine}{against} "
                            f"| {r['differ']} "
                            f"| {r['on_ties']} | {r['missing']} | {r['ties']} |"
                        )
    lines += [
        "",
        "Answers against the independent one (pandas `merge_asof` after reducing versions by "
        "the same rule), every column of every entity row, first repetition: rows that differ, "
        "of those rows whose winner was a genuine tie (same time and `created`; an engine with "
        "another tie rule may pick another of the tied rows there), rows missing from the "
        "answer, and rows with a genuine tie.",
        "",
        "| feature rows | entity rows | engine | rows differing | of them on ties | missing | "
        "tied rows |",
        "|---|---|---|---|---|---|---|",
        *answers,
        "",
        *(
            [
                "The hand-written query's answer is the reference (no tie flag) where pandas "
                "was not run: "
                + ", ".join(
                    f"{e * d * 24:,} x {r:,}"
                    for e, d in TABLES
                    for r in FRAMES
                    if (e, r) in references
                )
                + ".",
                "",
            ]
            if references
            else []
        ),
        *(
            [f"Not run in this run: {', '.join(e for e in ALL_ENGINES if e not in ENGINES)}.", ""]
            if set(ALL_ENGINES) - set(ENGINES)
            else []
        ),
        f"Versions: {_versions()}. Load average (1 min) at the start of each run: "
        + (f"{min(loads):.1f} to {max(loads):.1f}" if loads else "-")
        + (" (small sizes)" if SMALL else "")
        + ".",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    print(run())
