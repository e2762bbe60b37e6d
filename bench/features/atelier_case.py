"""One benchmark case on Atelier's engine, in its own process: ``python -m
bench.features.atelier_case WORKSPACE VIEW FRAME`` prints a JSON line of results."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path


def main(workspace: str, view: str, frame: str) -> None:
    import pandas as pd

    from atelier.config import Workspace
    from atelier.services.workbench import Workbench
    from bench.features.data import FEATURES

    entities = pd.read_parquet(frame)
    wb = Workbench(Workspace.open(Path(workspace), environ={}))
    store = wb.features
    started = time.perf_counter()
    result = store.training_set(entities, [f"{view}:{f}" for f in FEATURES]).to_pandas()
    seconds = time.perf_counter() - started
    print(
        json.dumps(
            {
                "seconds": seconds,
                "rows": len(result),
                "nulls": int(result["f0"].isna().sum()),
                "checksum": float(result["f0"].sum()),
                "peak_bytes": peak_bytes(),
            }
        )
    )
    wb.close()


def peak_bytes() -> int:
    """This process's peak resident memory (VmHWM: counted from exec, unlike ru_maxrss)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


if __name__ == "__main__":
    main(*sys.argv[1:4])
