"""Run every benchmark module found in ``bench/`` and record the results.

Each benchmark is a module ``bench/<name>.py`` (or package) with ``run() -> str`` returning a
Markdown section; results go to ``bench/RESULTS.md`` with a description of the machine.
"""

from __future__ import annotations

import importlib
import os
import platform
import pkgutil
import sys
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).parent


def machine() -> str:
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"{platform.machine()}, {os.cpu_count()} cores, {memory:.0f} GiB memory, "
        f"{platform.system()} {platform.release()}, Python {platform.python_version()}"
    )


def main() -> int:
    sections = []
    for module in sorted(pkgutil.iter_modules([str(HERE)]), key=lambda m: m.name):
        if module.name.startswith("_"):
            continue
        bench = importlib.import_module(f"bench.{module.name}")
        if hasattr(bench, "run"):
            print(f"running bench/{module.name} ...", flush=True)
            sections.append(bench.run())
    if not sections:
        print("no benchmarks yet")
        return 0
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    text = f"# Benchmark results\n\nMachine: {machine()}. Run: {when}.\n\n" + "\n\n".join(sections)
    (HERE / "RESULTS.md").write_text(text + "\n", encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
