"""One benchmark case on Atelier's engine, in its own process: ``python -m
bench.features.atelier_case WORKSPACE VIEW FRAME OUT [PLAN]`` prints a JSON line of results and
writes the answer to OUT (after the clock stops). PLAN: ``chosen`` (default), ``asof`` or
``range`` forces the row join."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path


def main(workspace: str, view: str, frame: str, out: str, plan: str = "chosen") -> None:
    import duckdb  # noqa: F401 - imported before the clock, as in the hand-written case
    import pandas as pd

    from atelier.config import Workspace
    from atelier.services.features import Plan
    from atelier.services.workbench import Workbench
    from bench.features.data import FEATURES

    entities = pd.read_parquet(frame)
    wb = Workbench(Workspace.open(Path(workspace), environ={}))
    store = wb.features
    forced = None if plan == "chosen" else Plan(plan, "window", plan == "asof")  # type: ignore[arg-type]
    started = time.perf_counter()
    training = store.training_set(entities, [f"{view}:{f}" for f in FEATURES], plan=forced)
    result = training.to_pandas()
    seconds = time.perf_counter() - started
    peak = peak_bytes()
    result.to_parquet(out)
    print(json.dumps({"seconds": seconds, "peak_bytes": peak, "plan": training.plans[view]}))
    wb.close()


def peak_bytes() -> int:
    """This process's peak resident memory (VmHWM: counted from exec, unlike ru_maxrss)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


if __name__ == "__main__":
    main(*sys.argv[1:6])
