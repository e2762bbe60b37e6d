"""Run the benchmarks and record their results: ``make bench`` or ``python -m bench [NAME...]``.

Each benchmark is a module ``bench/<name>.py`` with ``run() -> str`` returning a Markdown
section. A run writes ``bench/results/<name>.md`` (with the machine and date) and rebuilds
``bench/RESULTS.md`` from every recorded result, so one benchmark can be re-run alone.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import platform
import sys
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).parent
RESULTS = HERE / "results"


def machine() -> str:
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"{platform.machine()}, {os.cpu_count()} cores, {memory:.0f} GiB memory, "
        f"{platform.system()} {platform.release()}, Python {platform.python_version()}"
    )


def available() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules([str(HERE)]) if not m.name.startswith("_"))


def main(names: list[str]) -> int:
    unknown = set(names) - set(available())
    if unknown:
        print(f"unknown benchmark(s): {', '.join(sorted(unknown))}; have {', '.join(available())}")
        return 2
    RESULTS.mkdir(exist_ok=True)
    for name in names or available():
        bench = importlib.import_module(f"bench.{name}")
        if not hasattr(bench, "run"):
            continue
        print(f"running bench/{name} ...", flush=True)
        when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        section = bench.run()
        (RESULTS / f"{name}.md").write_text(
            f"{section}\n\n_Machine: {machine()}. Run: {when}._\n", encoding="utf-8"
        )
        print(section, flush=True)
    parts = [p.read_text(encoding="utf-8") for p in sorted(RESULTS.glob("*.md"))]
    (HERE / "RESULTS.md").write_text(
        "# Benchmark results\n\nWritten by `make bench` from `bench/results/`; ratios are "
        "measured side by side in one run on the machine named under each section.\n\n"
        + "\n".join(parts),
        encoding="utf-8",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
