"""Process trees: find every descendant of a process, sum their memory, end them all.

psutil is used when it is installed (it is with Ray and Jupyter); otherwise Linux's ``/proc``.
Start times are seconds since the epoch either way, so a recorded ``(pid, start time)`` pair
tells the job's process apart from a later process that reuses its pid.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path
from types import ModuleType

try:  # an optional dependency: present with ray[default] and Jupyter
    import psutil as _psutil
except ImportError:  # pragma: no cover - exercised by forcing the /proc path in tests
    _psutil = None

psutil: ModuleType | None = _psutil
PROC = Path("/proc")


def start_time(pid: int) -> float | None:
    """When ``pid`` started (epoch seconds), or None if there is no such process."""
    if psutil is not None:
        try:
            value: float = psutil.Process(pid).create_time()
            return value
        except psutil.Error:
            return None
    fields = _stat(pid)
    if fields is None:
        return None
    ticks = os.sysconf("SC_CLK_TCK")
    return _boot_time() + int(fields[19]) / ticks


def alive(pid: int, started: float | None = None) -> bool:
    """Whether ``pid`` runs (not a zombie) and, given ``started``, is the same process."""
    if psutil is not None:
        try:
            process = psutil.Process(pid)
            if process.status() == psutil.STATUS_ZOMBIE:
                return False
            return started is None or abs(process.create_time() - started) < 0.05
        except psutil.Error:
            return False
    fields = _stat(pid)
    if fields is None or fields[0] == "Z":
        return False
    return started is None or abs((start_time(pid) or 0.0) - started) < 0.05


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (children, their children, ...)."""
    if psutil is not None:
        try:
            return [child.pid for child in psutil.Process(pid).children(recursive=True)]
        except psutil.Error:
            return []
    children: dict[int, list[int]] = {}
    for entry in PROC.iterdir():
        if entry.name.isdigit():
            fields = _stat(int(entry.name))
            if fields is not None:
                children.setdefault(int(fields[1]), []).append(int(entry.name))
    found: list[int] = []
    pending = [pid]
    while pending:
        for child in children.get(pending.pop(), []):
            found.append(child)
            pending.append(child)
    return found


def tree_rss(pid: int) -> int:
    """Resident memory of ``pid`` and all its descendants, in bytes."""
    total = 0
    for member in [pid, *descendants(pid)]:
        total += rss(member)
    return total


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system, seconds) ``pid`` has used itself; 0.0 when it is gone."""
    if psutil is not None:
        try:
            times = psutil.Process(pid).cpu_times()
            return float(times.user + times.system)
        except psutil.Error:
            return 0.0
    fields = _stat(pid)
    if fields is None:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss(pid: int) -> int:
    if psutil is not None:
        try:
            value: int = psutil.Process(pid).memory_info().rss
            return value
        except psutil.Error:
            return 0
    try:
        pages = int((PROC / str(pid) / "statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return 0
    return pages * os.sysconf("SC_PAGE_SIZE")


def kill_tree(pid: int, grace: float = 5.0, *, reap: bool = False) -> None:
    """SIGTERM the process group of ``pid`` and every descendant, SIGKILL what is left
    after ``grace`` seconds. With ``reap`` (the caller is the job's subreaper), also every
    descendant of this process, and collect the exited ones."""
    members = {pid, *descendants(pid)}
    if reap:
        members |= set(descendants(os.getpid()))
    _signal(pid, members, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if reap:
            reap_children()
        members |= {d for m in list(members) if alive(m) for d in descendants(m)}
        if not any(alive(m) for m in members):
            return
        time.sleep(0.05)
    members |= {d for m in list(members) if alive(m) for d in descendants(m)}
    _signal(pid, members, signal.SIGKILL)
    if reap:
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline and any(alive(m) for m in members):
            reap_children()
            time.sleep(0.02)


def reap_children() -> dict[int, int]:
    """Collect this process's exited children: ``{pid: exit code}`` (negative: signal)."""
    done: dict[int, int] = {}
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return done
        if pid == 0:
            return done
        done[pid] = os.waitstatus_to_exitcode(status)


def become_subreaper() -> bool:
    """Adopt orphaned descendants (Linux), so that a job's daemonised children stay in its
    tree and are ended with it. False where the system cannot."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return bool(libc.prctl(36, 1, 0, 0, 0) == 0)  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        return False


def _signal(group: int, members: set[int], sig: signal.Signals) -> None:
    with contextlib.suppress(OSError):
        os.killpg(group, sig)
    for member in members:
        with contextlib.suppress(OSError):
            os.kill(member, sig)


def _stat(pid: int) -> list[str] | None:
    """Fields of ``/proc/<pid>/stat`` after the command name: state, ppid, ..."""
    try:
        text = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    return text[text.rfind(")") + 2 :].split()


_BOOT: list[float] = []


def _boot_time() -> float:
    if not _BOOT:
        for line in (PROC / "stat").read_text().splitlines():
            if line.startswith("btime "):
                _BOOT.append(float(line.split()[1]))
    return _BOOT[0]


def stop_group(process: subprocess.Popen[bytes], grace: float) -> None:
    """SIGTERM a child started in its own session (its whole process group), SIGKILL the group
    if it is still there after ``grace`` seconds, and reap it."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def die_with_parent() -> None:
    """For ``preexec_fn``: the child gets SIGTERM when the thread that started it dies, so a
    server killed without its clean-up leaves no internal service running (Linux only)."""
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
