"""The local backend: each job a supervised process group on this machine.

* **memory** — the whole process tree's resident memory is polled (RLIMIT_AS counts address
  space, which Python and numpy reserve far beyond what they use, so it kills healthy jobs);
  past the profile's limit the tree is killed and the job reported out of memory;
* **CPUs** — the job is pinned to its own cores (``sched_setaffinity``, Linux) and the
  OpenMP/MKL/OpenBLAS/NumExpr thread counts are set to match;
* **GPUs** — ``CUDA_VISIBLE_DEVICES`` names the GPUs given to the job (empty: none);
* **queue** — :meth:`LocalBackend.place` admits a job only when its cores, memory and GPUs
  are free next to the jobs already running.

The command runs under ``sh`` that writes its exit code to ``<log>.exit``, so that a later
supervisor that adopts the job (the first one stopped) still learns how it ended.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

from atelier.backends.compute import proctree
from atelier.backends.compute.base import (
    Capacity,
    ComputeBackend,
    Execution,
    LaunchSpec,
    Outcome,
    Resources,
    Status,
    exit_outcome,
)
from atelier.config.child_env import without_server_secrets
from atelier.config.units import format_size, parse_size


def inherited_environment(
    job_env: Mapping[str, str], base: Mapping[str, str] | None = None
) -> dict[str, str]:
    """What a job inherits of ``base`` (default: this process's environment): all of it,
    except the server's secrets when the job acts through the server with a token of its
    own."""
    base = os.environ if base is None else base
    if "ATELIER_TOKEN" in job_env:
        return without_server_secrets(base)
    return dict(base)


THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
)
#: ``sh -c WRAPPER EXIT_FILE COMMAND...``: run the command, keep its exit code.
WRAPPER = '"$@"; code=$?; echo "$code" > "$0"; exit "$code"'
#: How often the process tree's memory is measured.
MEMORY_POLL_SECONDS = 0.1


class LocalBackend(ComputeBackend):
    name = "local"

    def cores(self) -> list[int]:
        available = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
        available = available or list(range(os.cpu_count() or 1))
        limit = self.settings.local_cpus
        return available[:limit] if limit else available

    def gpus(self) -> list[int]:
        count = self.settings.local_gpus
        return list(range(_detected_gpus() if count < 0 else count))

    def memory(self) -> int:
        if self.settings.local_memory:
            return parse_size(self.settings.local_memory)
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")

    def capacity(self) -> Capacity:
        machine = Resources(len(self.cores()), self.memory(), len(self.gpus()))
        return Capacity(machine, machine, "this machine")

    def place(self, wanted: Resources, busy: list[dict[str, Any]]) -> dict[str, Any] | None:
        used_cores = {c for devices in busy for c in devices.get("cpus", [])}
        used_gpus = {g for devices in busy for g in devices.get("gpus", [])}
        used_memory = sum(int(devices.get("memory", 0)) for devices in busy)
        cores = [c for c in self.cores() if c not in used_cores]
        gpus = [g for g in self.gpus() if g not in used_gpus]
        if (
            len(cores) < wanted.whole_cpus
            or len(gpus) < wanted.gpus
            or used_memory + wanted.memory > self.memory()
        ):
            return None
        return {
            "cpus": cores[: wanted.whole_cpus],
            "gpus": gpus[: wanted.gpus],
            "memory": wanted.memory,
        }

    def launch(self, spec: LaunchSpec) -> LocalExecution:
        env = {
            **inherited_environment(spec.env, spec.inherit),
            **spec.env,
            **self.device_environment(spec),
        }
        cores = spec.devices.get("cpus") or []
        if cores and hasattr(os, "sched_setaffinity"):
            # Set on the supervisor itself (one per job): the job inherits it from the start.
            os.sched_setaffinity(0, cores)
        spec.log.parent.mkdir(parents=True, exist_ok=True)
        exit_file = exit_file_of(spec.log)
        exit_file.unlink(missing_ok=True)
        with spec.log.open("ab") as log:
            process = subprocess.Popen(
                ["/bin/sh", "-c", WRAPPER, str(exit_file), *spec.argv],
                cwd=spec.cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return LocalExecution(process.pid, proctree.start_time(process.pid), spec, child=process)

    def device_environment(self, spec: LaunchSpec) -> dict[str, str]:
        threads = str(len(spec.devices.get("cpus") or []) or spec.resources.whole_cpus)
        env = dict.fromkeys(THREAD_VARIABLES, threads)
        env["CUDA_VISIBLE_DEVICES"] = ",".join(str(g) for g in spec.devices.get("gpus") or [])
        return env

    def attach(
        self, external_id: str, process_started: float | None, spec: LaunchSpec
    ) -> LocalExecution | None:
        pid = int(external_id)
        if not proctree.alive(pid, process_started):
            return None
        return LocalExecution(pid, process_started, spec, child=None)


class LocalExecution(Execution):
    def __init__(
        self,
        pid: int,
        started: float | None,
        spec: LaunchSpec,
        child: subprocess.Popen[bytes] | None,
    ) -> None:
        self.pid = pid
        self.external_id = str(pid)
        self.process_started = started
        self.spec = spec
        self.limit = spec.resources.memory
        self._child = child
        self._exit_code: int | None = None
        self._ended = False
        self._next_memory_check = 0.0
        self.peak_memory = 0

    def poll(self) -> Status:
        if self._finished():
            return Status("done", self._outcome())
        now = time.monotonic()
        if now >= self._next_memory_check:
            self._next_memory_check = now + MEMORY_POLL_SECONDS
            # As the job's subreaper, the supervisor also holds the job's orphaned processes.
            used = proctree.tree_rss(self.pid if self._child is None else os.getpid())
            used -= proctree.rss(os.getpid()) if self._child is not None else 0
            self.peak_memory = max(self.peak_memory, used)
            if used > self.limit:
                self.stop(grace=0)
                return Status(
                    "done",
                    Outcome(
                        "failed",
                        self._exit_code,
                        f"out of memory: the job used {format_size(used)}, more than its "
                        f"limit of {format_size(self.limit)}; choose a profile with more memory",
                    ),
                )
        return Status("running")

    def stop(self, grace: float = 5.0) -> None:
        proctree.kill_tree(self.pid, grace, reap=self._child is not None)
        self._finished()

    def processes(self) -> list[int]:
        # As the job's subreaper, the supervisor also holds the job's orphaned processes.
        if self._child is not None:
            return proctree.descendants(os.getpid())
        return [self.pid, *proctree.descendants(self.pid)]

    def _finished(self) -> bool:
        if self._ended:
            return True
        if self._child is not None:
            for pid, code in proctree.reap_children().items():
                if pid == self.pid:
                    self._exit_code = code
                    self._child.returncode = code
                    self._ended = True
            return self._ended
        if not proctree.alive(self.pid, self.process_started):
            self._ended = True
            self._exit_code = read_exit_file(exit_file_of(self.spec.log))
        return self._ended

    def _outcome(self) -> Outcome:
        return exit_outcome(self._exit_code)


def exit_file_of(log: Path) -> Path:
    return log.with_name(log.name + ".exit")


def read_exit_file(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


@cache
def _detected_gpus() -> int:
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return 0
    try:
        listed = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return 0
    return sum(1 for line in listed.stdout.splitlines() if line.startswith("GPU "))
