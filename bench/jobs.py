"""Time from `atelier run` to the job's first line of output.

Local: next to starting the same script with Python directly (goal: at most 0.3 s of Atelier
overhead). Ray: next to a raw `ray job submit` of the same script to the same one-CPU local
head (goal: at most 1.05x). Every run is a fresh process, the two commands interleaved; the
median, the spread (lowest to highest) and the machine's load average before the runs are
reported. Locally twice: with `atelier up` running on the workspace (the command hands the
job to it) and without (the command opens the workspace and starts the job's supervisor
itself). The job's line is checked in each run (the same text from both commands).
"""

from __future__ import annotations

import contextlib
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from bench._process import free_port, stop_group

RUNS = 5
RAY_RUNS = 3
MARKER = "first-line-of-the-job"
SCRIPT = f"print({MARKER!r}, flush=True)\n"
BIN = Path(sys.executable).parent
#: What any command on a workspace loads before it can check who calls and record a job: the
#: settings (pydantic) and the metadata database (SQLAlchemy and the ORM models).
WORKSPACE_IMPORTS = "import atelier.config.loader, atelier.backends.metadata"


#: CPU seconds (user + system) of each finished command, by its first word and subcommand.
CPU: dict[str, list[float]] = {}


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _first_line(command: list[str], cwd: Path, env: dict[str, str] | None = None) -> float:
    """Seconds until a line holding MARKER appears on the command's output."""
    cpu = _children_cpu()
    start = time.perf_counter()
    process = subprocess.Popen(
        command,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    assert process.stdout is not None
    elapsed = None
    for line in process.stdout:
        if MARKER in line and elapsed is None:
            elapsed = time.perf_counter() - start
    process.wait()
    process.stdout.close()
    CPU.setdefault(" ".join(Path(c).name for c in command[:2]), []).append(_children_cpu() - cpu)
    if elapsed is None:
        raise RuntimeError(f"{command[:3]}: no {MARKER!r} line (exit {process.returncode})")
    return elapsed


def _finished(command: list[str], cwd: Path) -> float:
    """Seconds a command takes to run to its end."""
    start = time.perf_counter()
    subprocess.run(command, cwd=cwd, check=True, capture_output=True)
    return time.perf_counter() - start


def _workspace(folder: Path, compute: str) -> Path:
    root = folder / "ws"
    subprocess.run([BIN / "atelier", "init", str(root)], check=True, capture_output=True)
    config = root / "atelier.toml"
    # A port nothing listens on: jobs run against the workspace, as without `atelier up`.
    text = config.read_text().replace("port = 8700", "port = 1")
    config.write_text(text.replace('backend = "local"\n', compute, 1))
    return root


@contextlib.contextmanager
def _server(root: Path, temp: Path) -> Iterator[str]:
    """``atelier up`` on the workspace ``root`` (ports in its atelier.toml, so that a command
    has the server's settings); its URL once it answers and MLflow has started."""
    port, apps_port = free_port(), free_port()
    config = root / "atelier.toml"
    text = config.read_text().replace("port = 1\n", f"port = {port}\napps_port = {apps_port}\n")
    config.write_text(text)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ATELIER_")}
    with (temp / "up.log").open("wb") as log:
        server = subprocess.Popen(
            [str(BIN / "atelier"), "up", "-w", str(root)],
            stdout=log,
            stderr=log,
            env=env,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            time.sleep(0.2)
        else:
            raise RuntimeError("atelier up did not answer in 180 s")
        yield url
    finally:
        stop_group(server, 20)


def _ray_head(temp: Path) -> tuple[subprocess.Popen[bytes], str]:
    dashboard = free_port()
    command = [
        str(BIN / "ray"), "start", "--head", "--block", "--temp-dir", str(temp),
        "--num-cpus", "1", "--include-dashboard=true", "--dashboard-port", str(dashboard),
        "--port", str(free_port()), "--ray-client-server-port", str(free_port()),
        "--dashboard-agent-listen-port", str(free_port()), "--disable-usage-stats",
    ]  # fmt: skip
    output = temp.with_name(temp.name + ".log")
    with output.open("wb") as log:
        head = subprocess.Popen(command, stdout=log, stderr=log, start_new_session=True)
    address = f"http://127.0.0.1:{dashboard}"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and head.poll() is None:
        with contextlib.suppress(httpx.HTTPError, KeyError, ValueError, TypeError):
            if httpx.get(f"{address}/api/v0/nodes", timeout=30).json()["data"]["result"]["result"]:
                return head, address
        time.sleep(0.5)
    stop_group(head, 20)
    tail = output.read_text(errors="replace")[-2000:]
    raise RuntimeError(f"the Ray head did not start (exit {head.returncode}):\n{tail}")


def _spread(values: list[float]) -> str:
    return f"{statistics.median(values):.3f} ({min(values):.3f}-{max(values):.3f})"


def run(ray_too: bool = True) -> str:
    loads = [os.getloadavg()[0]]
    with tempfile.TemporaryDirectory(prefix="rb", dir="/tmp") as folder:
        here = Path(folder)
        (here / "first.py").write_text(SCRIPT)
        local = _workspace(here / "local", 'backend = "local"\n')
        python, atelier, overheads, floor, imports = [], [], [], [], []
        for _ in range(RUNS):
            loads.append(os.getloadavg()[0])
            python.append(_first_line([sys.executable, "first.py"], here))
            atelier.append(
                _first_line([str(BIN / "atelier"), "run", "-w", str(local), "first.py"], here)
            )
            overheads.append(atelier[-1] - python[-1])
            floor.append(_finished([str(BIN / "atelier"), "jobs", "list", "-w", str(local)], here))
            imports.append(_finished([sys.executable, "-c", WORKSPACE_IMPORTS], here))
        overhead = statistics.median(overheads)
        cpu_python = statistics.median(CPU[f"{Path(sys.executable).name} first.py"])
        cpu_atelier = statistics.median(CPU["atelier run"])  # the cold runs only (so far)
        # With `atelier up` running: the command hands the job to the server (its first job
        # after the start, which waits for MLflow to start, is not counted).
        warm_root = _workspace(here / "warm", 'backend = "local"\n')
        env = {k: v for k, v in os.environ.items() if not k.startswith("ATELIER_")}
        warm_python, warm, warm_overheads = [], [], []
        with _server(warm_root, here / "warm"):
            command = [str(BIN / "atelier"), "run", "first.py"]
            (warm_root / "first.py").write_text(SCRIPT)
            _first_line(command, warm_root, env)
            for _ in range(RUNS):
                loads.append(os.getloadavg()[0])
                warm_python.append(_first_line([sys.executable, "first.py"], warm_root))
                warm.append(_first_line(command, warm_root, env))
                warm_overheads.append(warm[-1] - warm_python[-1])
        warm_overhead = statistics.median(warm_overheads)
        rows = [
            f"| local, `atelier up` running | `python first.py` | {_spread(warm_python)} | "
            f"`atelier run first.py` (handed to the server) | {_spread(warm)} | "
            f"+{warm_overhead:.3f} s | <= +0.300 s "
            f"({'met' if warm_overhead <= 0.3 else 'NOT met'}) |",
            f"| local, no server | `python first.py` | {_spread(python)} | `atelier run "
            f"first.py` (opens the workspace itself) | {_spread(atelier)} | "
            f"+{overhead:.3f} s | <= +0.300 s ({'met' if overhead <= 0.3 else 'NOT met'}) |",
        ]
        rows.append(
            f"| local, CPU seconds (user + system) | `python first.py` | {cpu_python:.3f} | "
            f"`atelier run first.py`, no server (the CLI to its end; the supervisor not "
            f"counted) | "
            f"{cpu_atelier:.3f} | +{cpu_atelier - cpu_python:.3f} s | (load-independent) |"
        )
        rows.append(
            f"| local, no job | `python first.py` | {_spread(python)} | `atelier jobs list` "
            f"(start, open the workspace, read the jobs) | {_spread(floor)} | "
            f"+{statistics.median(floor) - statistics.median(python):.3f} s | (the CLI's floor) |"
        )
        rows.append(
            f"| local, imports alone | `python first.py` | {_spread(python)} | "
            f"`python -c '{WORKSPACE_IMPORTS}'` (the settings, SQLAlchemy and the ORM models "
            f"that opening a workspace loads) | {_spread(imports)} | "
            f"+{statistics.median(imports) - statistics.median(python):.3f} s | "
            "(the floor of a CLI that starts cold) |"
        )
        before_floor = statistics.median(floor) - statistics.median(atelier)
        note = (
            f"Locally the job's first line comes {before_floor:.3f} s before `atelier jobs list` "
            "has opened the workspace and ended: what stands above plain Python is the CLI "
            "opening the workspace, not the job's start."
            if before_floor > 0
            else f"Locally the job's first line comes {-before_floor:.3f} s after "
            "`atelier jobs list` has opened the workspace and ended."
        )
        loads.append(os.getloadavg()[0])
        print("\n".join(rows), file=sys.stderr, flush=True)
        if not ray_too:
            return _section(rows, loads, note, ray_runs=0)
        try:
            head, address = _ray_head(here / "ray")
        except RuntimeError as failed:
            # Reported, not hidden: the local rows stand; the Ray comparison needs a head.
            print(failed, file=sys.stderr)
            load = os.getloadavg()[0]
            rows.append(
                "| Ray | `ray job submit -- python first.py` | - | `atelier run first.py` "
                f"(backend ray) | - | not measured: the one-CPU Ray head did not start (load "
                f"{load:.1f}) | <= 1.05x (not measured) |"
            )
            return _section(rows, loads, note, ray_runs=0)
        try:
            ray_ws = _workspace(here / "ray-ws", f'backend = "ray"\nray_address = "{address}"\n')
            raw_env = {**os.environ, "RAY_ADDRESS": address}
            raw, ray_ours = [], []
            for _ in range(RAY_RUNS):
                loads.append(os.getloadavg()[0])
                raw.append(
                    _first_line(
                        [str(BIN / "ray"), "job", "submit", "--address", address, "--",
                         sys.executable, str(here / "first.py")],
                        here,
                        raw_env,
                    )
                )  # fmt: skip
                ray_ours.append(
                    _first_line([str(BIN / "atelier"), "run", "-w", str(ray_ws), "first.py"], here)
                )
        finally:
            stop_group(head, 20)
        raw_median, ours_median = statistics.median(raw), statistics.median(ray_ours)
        ratio = ours_median / raw_median
        rows.append(
            f"| Ray | `ray job submit -- python first.py` | {_spread(raw)} | "
            f"`atelier run first.py` (backend ray) | {_spread(ray_ours)} | {ratio:.2f}x | "
            f"<= 1.05x ({'met' if ratio <= 1.05 else 'NOT met'}) |"
        )
    return _section(rows, loads, note, ray_runs=RAY_RUNS)


def _section(rows: list[str], loads: list[float], note: str, ray_runs: int) -> str:
    import ray

    runs = f"{RUNS} local and {ray_runs} Ray runs" if ray_runs else f"{RUNS} local runs"
    return (
        "## Jobs: time to the first line of output\n\n"
        f"Seconds from starting the command to the job's first output line: median (lowest-"
        f"highest) of {runs}, each a fresh process, the two "
        "commands interleaved; the local difference is the median of the per-pair differences. "
        "Ray: a one-CPU local head. The baseline is the floor (the interpreter alone, or Ray's "
        "own client).\n\n"
        "| backend | baseline | s | Atelier | s | difference | goal |\n"
        "|---|---|---|---|---|---|---|\n" + "\n".join(rows) + "\n\n" + note + "\n\n"
        f"Python {platform.python_version()}, Ray {ray.__version__}. Load average (1 min) "
        f"before each run: {', '.join(f'{x:.1f}' for x in loads)} (2 cores, shared)."
    )


if __name__ == "__main__":
    # --local: the local backend only (no Ray head is started).
    print(run(ray_too="--local" not in sys.argv[1:]))
