"""A job's CPU and memory over time: sampled by its supervisor, read by the portal and the API.

The supervisor looks at the job's process tree every :data:`SAMPLE_SECONDS` and appends one
line to ``resources.jsonl`` in the job's folder: ``{"t": seconds since it started, "cpu":
percent of one core, "memory": bytes}``. A file rather than a table: samples are written by
one process while the job runs, read rarely, and go with the job's other files; a line is
appended whole (one ``write`` of a short line on a file opened for appending), so a reader
never sees half of one, and a torn last line (a supervisor killed mid-write) is skipped.

CPU is the CPU time the tree's processes used since the previous sample divided by the time
between samples (``200`` means two cores busy). Jobs whose processes are not on this machine
(the Ray backend) are not sampled: their samples say so instead of showing zeros.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: How often a running job's process tree is sampled.
SAMPLE_SECONDS = 2.0
#: The most samples read back (a day of samples every 2 s is 43,200; older ones are thinned).
MAX_SAMPLES = 2_000


@dataclass
class Sampler:
    """CPU and memory of a set of processes, one sample at a time; remembers each process's
    CPU time so that the next sample counts only what was used in between."""

    path: Path
    #: When the job started (epoch seconds): ``t`` counts from there, so that the samples of
    #: a supervisor that adopted the job go on where the first one's stopped.
    started: float = field(default_factory=time.time)
    _cpu: dict[int, float] = field(default_factory=dict)
    _last: float | None = None

    def sample(self, pids: list[int]) -> dict[str, Any]:
        """Sample ``pids`` now and append the sample to :attr:`path`."""
        from atelier.backends.compute import proctree

        now = time.monotonic()
        used = {pid: proctree.cpu_seconds(pid) for pid in pids}
        memory = sum(proctree.rss(pid) for pid in pids)
        cpu = 0.0
        if self._last is not None and now > self._last:
            # A process seen for the first time counts whole: it started since the last look.
            spent = sum(max(0.0, t - self._cpu.get(pid, 0.0)) for pid, t in used.items())
            cpu = 100.0 * spent / (now - self._last)
        self._cpu, self._last = used, now
        entry = {
            "t": round(max(0.0, time.time() - self.started), 2),
            "cpu": round(cpu, 1),
            "memory": int(memory),
            "processes": len(pids),
        }
        append(self.path, entry)
        return entry


class Sampling:
    """Samples ``processes()`` every ``interval`` seconds in a thread of its own, from the
    moment the job starts (its supervisor opens the database only after launching it) until
    :meth:`stop`. ``processes()`` returning None (a job on a cluster) ends the sampling."""

    def __init__(
        self,
        processes: Callable[[], list[int] | None],
        path: Path,
        interval: float = SAMPLE_SECONDS,
        started: float | None = None,
    ) -> None:
        self.processes = processes
        self.sampler = Sampler(path) if started is None else Sampler(path, started)
        self.interval = interval
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="job-sampling", daemon=True)

    def start(self) -> Sampling:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopped.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while True:
            pids = self.processes()
            if pids is None:
                return
            if pids:  # none: the job is between processes, or ending
                # A failed sample is skipped: the job matters more than its chart.
                with contextlib.suppress(Exception):
                    self.sampler.sample(pids)
            if self._stopped.wait(self.interval):
                return


def append(path: Path, entry: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(entry, separators=(",", ":")) + "\n")


def read(path: Path, limit: int = MAX_SAMPLES) -> list[dict[str, Any]]:
    """The samples in ``path`` (none when the file does not exist), at most ``limit`` of
    them, evenly thinned, always keeping the last."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []
    found = []
    for line in lines:
        try:
            entry = json.loads(line)
        except ValueError:
            continue  # a line cut short by a supervisor killed while writing it
        if isinstance(entry, dict) and {"t", "cpu", "memory"} <= entry.keys():
            found.append(entry)
    if len(found) > limit:
        step = len(found) / limit
        kept = [found[int(i * step)] for i in range(limit - 1)]
        found = [*kept, found[-1]]
    return found
