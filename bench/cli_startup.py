"""`atelier --help` start-up time (goal: under 0.5 s), next to a bare `python -c pass`."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

RUNS = 15


def _median(command: list[str]) -> float:
    timings = []
    for _ in range(RUNS):
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        timings.append(time.perf_counter() - start)
    return statistics.median(timings)


def run() -> str:
    bare = _median([sys.executable, "-c", "pass"])
    cli = _median([sys.executable, "-m", "atelier", "--help"])
    return (
        "## CLI start-up\n\n"
        f"Median of {RUNS} runs.\n\n"
        "| command | seconds | goal |\n|---|---|---|\n"
        f"| `python -c pass` | {bare:.3f} | |\n"
        f"| `atelier --help` | {cli:.3f} | < 0.5 ({'met' if cli < 0.5 else 'NOT met'}) |"
    )


if __name__ == "__main__":
    print(run())
