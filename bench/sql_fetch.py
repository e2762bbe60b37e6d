"""A 10-million-row query result fetched remotely (HTTP + Arrow IPC from a real `atelier up`)
versus embedded (`workbench.query.run(...).to_arrow()`); goal: remote <= 1.5x embedded.

Each side is measured in its own fresh Python process (so that peak memory is its own), after
one warm-up run; the time is the median of a few runs. The server's peak memory is read from
/proc once the remote runs are done.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench._process import free_port

SQL = "SELECT range AS id, range * 1.5 AS x, 'row' || range AS s FROM range(10000000)"
ROWS = 10_000_000
RUNS = 3
GOAL = 1.5


# -- the measured side, in a child process -------------------------------------------------


def _child(mode: str, target: str, token: str) -> None:
    """Fetch SQL RUNS times (after a warm-up) and print timings and peak memory as JSON."""
    if mode == "remote":
        from atelier.sdk.arrow import fetch_arrow

        http = httpx.Client(base_url=target, headers={"Authorization": f"Bearer {token}"})

        def fetch() -> int:
            return int(fetch_arrow(http, SQL).num_rows)
    else:
        from atelier.config import Workspace
        from atelier.services.workbench import Workbench

        wb = Workbench(Workspace.open(Path(target), environ={}), migrate=False)
        user = wb.owner().name

        def fetch() -> int:
            return int(wb.query.run(SQL, user=user).to_arrow().num_rows)

    assert fetch() == ROWS
    timings = []
    for _ in range(RUNS):
        start = time.perf_counter()
        rows = fetch()
        timings.append(time.perf_counter() - start)
        assert rows == ROWS
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": statistics.median(timings), "peak_mib": peak_mib}))


def _measure(mode: str, target: str, token: str = "") -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, "-m", "bench.sql_fetch", mode, target, token],
        check=True,
        capture_output=True,
        text=True,
        cwd=Path(__file__).parent.parent,
    )
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


# -- the server ----------------------------------------------------------------------------


def _start_server(root: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("ATELIER_URL", "ATELIER_TOKEN")}
    env["ATELIER_WORKSPACE"] = str(root)
    process = subprocess.Popen(
        [sys.executable, "-m", "atelier", "up", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"atelier up exited with {process.returncode}")
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return process, url
        except httpx.TransportError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError("atelier up did not become healthy in 60 s")


def _peak_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def run() -> str:
    from atelier.config import Workspace, init_workspace
    from atelier.services.workbench import Workbench

    with tempfile.TemporaryDirectory() as tmp:
        root, _ = init_workspace(Path(tmp) / "ws")
        wb = Workbench(Workspace.open(root, environ={}))
        _, token = wb.tokens.create(wb.owner().name, "bench", 1)
        wb.close()
        server, url = _start_server(root)
        try:
            remote = _measure("remote", url, token)
            server_peak = _peak_mib(server.pid)
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=30)
        embedded = _measure("embedded", str(root))
    ratio = remote["seconds"] / embedded["seconds"]
    verdict = "met" if ratio <= GOAL else "NOT met"
    return (
        "## SQL result fetch: remote (HTTP + Arrow IPC) vs embedded\n\n"
        f"`{SQL}` ({ROWS:,} rows, 3 columns); median of {RUNS} runs after a warm-up, "
        "each side in a fresh process.\n\n"
        "| path | seconds | peak memory (MiB) |\n|---|---|---|\n"
        f"| embedded `wb.query.run(...).to_arrow()` | {embedded['seconds']:.2f} "
        f"| {embedded['peak_mib']:.0f} |\n"
        f"| remote `fetch_arrow` over HTTP | {remote['seconds']:.2f} "
        f"| client {remote['peak_mib']:.0f}, server {server_peak:.0f} |\n\n"
        f"Remote / embedded: **{ratio:.2f}x** (goal <= {GOAL}x: {verdict})."
    )


if __name__ == "__main__":
    if len(sys.argv) > 1:
        _child(sys.argv[1], sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else "")
    else:
        print(run())
